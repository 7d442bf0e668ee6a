"""Model inputs: one implementation for training and the wearable.

The device's functions are pure Python (the board has no numpy); every numerical
result here is checked against an independent numpy computation written in the test.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from device import features as ft
from device.errors import ConfigError
from device.mbll import DEFAULT_HBO2_REST_UM, DEFAULT_HHB_REST_UM
from host import windows as hw

ROOT = Path(__file__).resolve().parents[1]
TIGHT = {"rtol": 1e-12, "atol": 1e-12, "equal_nan": True}


W = len(ft.CHANNELS)  # 12: the sample's 8 and the 4 context channels
N_STATS = ft.N_STATISTICS  # 60


def fake_channels(n: int, seed: int = 0, width: int = W) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, width))


def numpy_context(sample_channels: np.ndarray) -> np.ndarray:
    """The 4 context channels by pandas' exponentially weighted mean (adjust=False: the
    recursive form, started at the first value; ignore_na: a NaN holds the mean)."""
    import pandas as pd

    alpha = 1.0 - math.exp(-1.0 / (ft.MODEL_RATE_HZ * ft.CONTEXT_TAU_S))
    cols = [ft.SAMPLE_CHANNELS.index(c) for c in ft.CONTEXT_SOURCES]
    frame = pd.DataFrame(sample_channels[:, cols]).replace([np.inf, -np.inf], np.nan)
    return frame.ewm(alpha=alpha, adjust=False, ignore_na=True).mean().to_numpy()


def numpy_statistics(window: np.ndarray) -> np.ndarray:
    """The statistics as the numpy implementation before issue 13 computed them."""
    with np.errstate(invalid="ignore"):
        stats = np.stack(
            [
                window.mean(axis=-2),
                window.std(axis=-2),
                window.min(axis=-2),
                window.max(axis=-2),
                np.median(window, axis=-2),
            ],
            axis=-1,
        )
    return stats.reshape(*window.shape[:-2], ft.N_STATISTICS)


def numpy_channels(d_od: np.ndarray, hbo2: np.ndarray, hhb: np.ndarray) -> np.ndarray:
    """The eight channels, written out independently of device.mbll."""
    hbo2_abs = np.maximum(DEFAULT_HBO2_REST_UM + hbo2, 0.0)
    hhb_abs = np.maximum(DEFAULT_HHB_REST_UM + hhb, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        smo2 = 100.0 * hbo2_abs / (hbo2_abs + hhb_abs)
    return np.column_stack([d_od, hbo2, hhb, hbo2 + hhb, smo2, hbo2 - hhb])


@pytest.fixture(scope="module")
def session(tiny_dataset):
    """The raw arrays of one simulated session, and its channels."""
    from host.dataset import load_dataset

    rec = load_dataset(tiny_dataset).records[0]
    ch = hw.channel_array(d_od=rec.d_od, d_hbo2_um=rec.d_hbo2_um, d_hhb_um=rec.d_hhb_um)
    return rec, ch


# -- channels ----------------------------------------------------------------------------------


def test_channel_matrix_derives_thb_and_oi():
    d_od = np.array([[0.1, 0.2, 0.3]])
    m = ft.channel_matrix(d_od=d_od, d_hbo2_um=[-2.0], d_hhb_um=[3.0])
    assert isinstance(m, list) and isinstance(m[0], tuple)
    assert all(type(v) is float for v in m[0])
    assert m[0] == pytest.approx([0.1, 0.2, 0.3, -2.0, 3.0, 1.0, 100 * 58 / 91, -5.0])
    # A strong responder beyond the assumed 60 µM resting HbO2: SmO2 clips at 0 %, finite.
    assert ft.channel_matrix(d_od=d_od, d_hbo2_um=[-70.0], d_hhb_um=[50.0])[0][6] == 0.0
    with pytest.raises(ValueError, match=r"d_od must have shape \(n, 3\)"):
        ft.channel_matrix(d_od=np.zeros((1, 2)), d_hbo2_um=[0], d_hhb_um=[0])
    with pytest.raises(ValueError, match=r"d_od must have shape \(n, 3\) matching 2 samples"):
        ft.channel_matrix(d_od=[(0, 0, 0)], d_hbo2_um=[0, 1], d_hhb_um=[0, 1])
    with pytest.raises(ValueError, match=r"d_od must have shape \(n, 3\)"):
        ft.channel_matrix(d_od=[0.1, 0.2, 0.3], d_hbo2_um=[0], d_hhb_um=[0])
    with pytest.raises(ValueError, match="same length"):
        ft.channel_matrix(d_od=d_od, d_hbo2_um=[0.0], d_hhb_um=[0.0, 1.0])
    # Lists, tuples and arrays alike; one sample at a time gives the same row.
    assert ft.channel_matrix(d_od=[(0.1, 0.2, 0.3)], d_hbo2_um=(-2,), d_hhb_um=[3]) == m
    assert ft.channel_row(np.array([0.1, 0.2, 0.3]), -2.0, np.float64(3.0)) == m[0]
    with pytest.raises(ValueError, match="d_od must hold 3 values"):
        ft.channel_row([0.1, 0.2], 0.0, 0.0)


def test_channel_matrix_equals_numpy_on_random_and_edge_samples():
    rng = np.random.default_rng(11)
    n = 500
    d_od = rng.normal(scale=0.05, size=(n, 3))
    hbo2 = rng.normal(scale=30.0, size=n)
    hhb = rng.normal(scale=20.0, size=n)
    hbo2[:3], hhb[:3] = [-70.0, 10.0, -60.0], [5.0, -40.0, -30.0]  # clipped both ways, 0/0
    hbo2[3], d_od[4, 1] = np.nan, np.inf
    got = np.asarray(ft.channel_matrix(d_od=d_od, d_hbo2_um=hbo2, d_hhb_um=hhb))
    np.testing.assert_allclose(got, numpy_channels(d_od, hbo2, hhb), **TIGHT)
    assert got[0, 6] == 0.0 and got[1, 6] == 100.0 and np.isnan(got[2, 6])
    rows = [ft.channel_row(d_od[i], hbo2[i], hhb[i]) for i in range(n)]
    np.testing.assert_array_equal(np.asarray(rows), got)


def test_channel_matrix_equals_numpy_on_a_simulated_session(session):
    rec, ch = session
    assert ch.shape == (len(rec.t_s), 12)
    eight = numpy_channels(rec.d_od, rec.d_hbo2_um, rec.d_hhb_um)
    np.testing.assert_allclose(ch[:, :8], eight, **TIGHT)
    np.testing.assert_allclose(ch[:, 8:], numpy_context(eight), rtol=1e-9, atol=1e-9)


def test_context_channels_are_60_s_moving_averages_that_hold_over_gaps():
    assert ft.CHANNELS[8:] == (
        "d_hbo2_um_ema60s",
        "d_hhb_um_ema60s",
        "d_thb_um_ema60s",
        "smo2_pct_ema60s",
    )
    slow = ft.SlowMeans()
    step = [0.0] * 8
    step[3], step[6] = 10.0, 66.0  # ΔHbO2 10 µM, SmO2 66 % from the first sample
    assert slow.update(step)[0] == 10.0  # the first finite value starts the mean
    step[3] = 0.0
    for _ in range(600):  # one time constant (60 s at 10 Hz) after a step to 0
        got = slow.update(step)
    assert got[0] == pytest.approx(10.0 * math.exp(-1.0), rel=1e-3)
    assert got[3] == pytest.approx(66.0)
    gap = list(step)
    gap[3] = math.nan
    assert slow.update(gap)[0] == got[0]  # a gap holds the mean
    fresh = ft.SlowMeans()
    nan_first = [math.nan] * 8
    assert all(math.isnan(v) for v in fresh.update(nan_first))  # NaN only before a value
    rows = fake_channels(300, seed=8, width=8)
    rows[40, 4] = np.nan
    rows[41, 5] = np.inf
    got = np.asarray(ft.with_context(rows))
    np.testing.assert_array_equal(got[:, :8], rows)
    np.testing.assert_allclose(got[:, 8:], numpy_context(rows), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="must hold 8 channel values"):
        ft.with_context(fake_channels(3))  # rows that already have their context


def test_od_order_finds_each_named_channels_wavelength_in_a_chains_order():
    assert ft.OD_WAVELENGTHS_NM == (750.0, 810.0, 870.0)  # from d_od_750, d_od_810, d_od_870
    assert ft.od_order([750, 810, 870]) == ft.IN_ORDER == (0, 1, 2)
    assert ft.od_order((870.0, 810.0, 750.0)) == (2, 1, 0)
    assert ft.od_order(np.array([810.0, 870.0, 750.0])) == (2, 0, 1)


@pytest.mark.parametrize(
    ("wavelengths", "lacking"),
    [((760.0, 810.0, 870.0), "750"), ((760.0, 850.0), "750, 810, 870")],
)
def test_od_order_refuses_a_chain_without_a_model_wavelength_naming_them(wavelengths, lacking):
    with pytest.raises(ConfigError) as info:
        ft.od_order(wavelengths)
    found = ", ".join(f"{w:g}" for w in wavelengths)
    assert str(info.value) == (
        f"wavelengths {found} nm lack {lacking} nm: the model's ΔOD inputs need "
        "750, 810, 870 nm (in any order)"
    )
    assert isinstance(info.value, ValueError)


def test_channel_row_gives_each_wavelengths_d_od_to_the_channel_named_after_it():
    # Issue 14, point 2: a chain lit 870, 810, 750 nm reports ΔOD in that order; the
    # model's d_od_750 input once got the 870 nm value.
    by_nm = {750.0: 0.011, 810.0: 0.022, 870.0: 0.033}
    for wavelengths in [(870.0, 810.0, 750.0), (810.0, 870.0, 750.0), (750.0, 810.0, 870.0)]:
        d_od = [by_nm[w] for w in wavelengths]  # as the chain reports it
        row = ft.channel_row(d_od, -2.0, 3.0, order=ft.od_order(wavelengths))
        assert row[:3] == (by_nm[750.0], by_nm[810.0], by_nm[870.0])
        assert row == ft.channel_row([0.011, 0.022, 0.033], -2.0, 3.0)


# -- statistics ----------------------------------------------------------------------------------


def test_statistics_are_channel_major_and_exact():
    window = np.tile(np.arange(100.0)[:, None], (1, W)) * np.arange(1, W + 1)
    stats = ft.statistics(window)
    assert isinstance(stats, list) and len(stats) == N_STATS
    assert all(type(v) is float for v in stats)
    assert ft.statistic_names()[:5] == [f"d_od_750_{s}" for s in ft.STATISTICS]
    assert stats[:5] == pytest.approx([49.5, np.arange(100.0).std(), 0.0, 99.0, 49.5])
    assert stats[-5:] == pytest.approx([49.5 * W, np.arange(100.0).std() * W, 0, 99 * W, 49.5 * W])
    assert ft.statistics([tuple(r) for r in window.tolist()]) == stats  # rows of any kind
    with pytest.raises(ValueError, match="12 channel values"):
        ft.statistics(window[:, :8])
    with pytest.raises(ValueError, match="at least one sample"):
        ft.statistics([])


@pytest.mark.parametrize("seed", range(5))
def test_statistics_equal_numpy_on_random_windows(seed):
    rng = np.random.default_rng(seed)
    window = rng.normal(
        loc=rng.normal(size=W) * 50, scale=rng.uniform(1e-6, 30, size=W), size=(100, W)
    )
    np.testing.assert_allclose(ft.statistics(window), numpy_statistics(window), **TIGHT)
    odd = window[:99]  # the median's middle value instead of a mean of two
    np.testing.assert_allclose(ft.statistics(odd), numpy_statistics(odd), **TIGHT)


def test_statistics_equal_numpy_with_ties_nan_and_infinity():
    rng = np.random.default_rng(7)
    window = rng.integers(-3, 4, size=(100, W)).astype(float)  # many ties
    window[:, 1] = 2.5  # a constant channel: std 0, all five equal
    window[::2, 2] = -0.0  # signed zeros among the ties
    window[17, 3] = np.nan  # NaN anywhere: all five of that channel NaN, as numpy
    window[5, 4] = np.inf
    window[6, 5], window[7, 5] = np.inf, -np.inf  # mean NaN but min, max finite order
    window[:, 6] = np.nan
    got = ft.statistics(window)
    want = numpy_statistics(window)
    np.testing.assert_allclose(got, want, **TIGHT)
    assert all(math.isnan(v) for v in got[15:20]) and all(math.isnan(v) for v in got[30:35])
    assert got[25:30][2:4] == [-np.inf, np.inf]
    assert got[5:10] == [2.5, 0.0, 2.5, 2.5, 2.5]
    assert all(math.isfinite(v) for v in got[:15] + got[35:])


def test_statistics_equal_numpy_on_simulated_session_windows(session):
    rec, ch = session
    w = hw.cut_windows(ch, rec.level, rec.t_s, flags=rec.flags)
    assert len(w.labels) > 50
    np.testing.assert_allclose(w.stats, numpy_statistics(w.sequences), **TIGHT)
    # Windows the batch cut skips (NaN or flagged samples) are computed as numpy does too.
    starts = range(0, len(ch) - ft.WINDOW_SAMPLES, 37)
    raw = np.stack([ch[s : s + ft.WINDOW_SAMPLES] for s in starts])
    np.testing.assert_allclose(hw.window_statistics(raw), numpy_statistics(raw), **TIGHT)


# -- windows (host side) ---------------------------------------------------------------------


def test_windows_every_second_labelled_at_their_end_and_skipping_bad_samples():
    n = 300
    ch = fake_channels(n)
    labels = np.arange(n) // 60
    t = np.arange(n) / 10
    w = hw.cut_windows(ch, labels, t, group="s01")
    assert len(w.labels) == 21  # ends at samples 99, 109, ..., 299
    assert w.t_end_s[0] == pytest.approx(9.9) and w.labels[-1] == labels[299]
    np.testing.assert_array_equal(w.sequences[1], ch[10:110])
    assert set(w.groups) == {"s01"}
    ch[150] = np.nan
    flags = np.zeros(n, dtype=int)
    flags[250] = 8
    w2 = hw.cut_windows(ch, labels, t, flags=flags)
    ends = np.round(w2.t_end_s * 10).astype(int)
    assert not any(e - 99 <= 150 <= e or e - 99 <= 250 <= e for e in ends)
    assert len(w2.labels) == 21 - 10 - 5  # windows ending 159..249 and 259..299 gone
    none = hw.cut_windows(ch[:50], labels[:50], t[:50])
    assert none.sequences.shape == (0, 100, W) and none.stats.shape == (0, N_STATS)
    both = hw.concat_windows([w, w2])
    assert len(both.labels) == len(both.stats) == 21 + 6


def test_live_window_matches_the_batch_cut():
    ch = fake_channels(250, seed=3, width=8)  # what the wearable pushes: a sample's 8
    batch = hw.cut_windows(np.asarray(ft.with_context(ch)), np.zeros(250), np.arange(250) / 10)
    live = ft.LiveWindow()
    got = []
    for i, row in enumerate(ch):
        live.push(row)
        if live.full and (i + 1 - ft.WINDOW_SAMPLES) % ft.STEP_SAMPLES == 0:
            got.append(live.window())
            steps = live.window_in_steps(channels_per_step=5)
            pieces = 0
            try:
                while True:
                    next(steps)
                    pieces += 1
            except StopIteration as done:
                assert done.value == got[-1]  # the same window, in pieces
            assert pieces == 3  # 12 channels, 5 at a time
    assert len(got) == len(batch.labels)
    for (seq, stats), bseq, bstats in zip(got, batch.sequences, batch.stats):
        assert isinstance(seq, list) and isinstance(stats, list) and len(seq) == 100
        assert len(seq[0]) == W and len(stats) == N_STATS
        np.testing.assert_array_equal(np.asarray(seq), bseq)
        np.testing.assert_array_equal(stats, bstats)
    assert live.clean
    live.push(ch[0], flags=4)
    assert not live.clean
    for row in ch[:99]:
        live.push(row)
    assert not live.clean  # the flagged sample is still in the last 100
    live.push(ch[0])
    assert live.clean  # ... and now it has left
    live.push([np.nan] * 8)
    assert not live.clean
    with pytest.raises(ValueError, match="8 channel values"):
        live.push([0.0] * 7)
    with pytest.raises(ValueError, match="8 channel values"):
        live.push([0.0] * W)  # the context is the window's own


def test_live_window_before_it_is_full():
    live = ft.LiveWindow()
    assert not live.full and not live.clean
    for row in fake_channels(30, seed=5, width=8):
        live.push(row)
    seq, stats = live.window()
    assert len(seq) == 100 and all(math.isnan(v) for v in seq[69])
    np.testing.assert_array_equal(
        np.asarray(seq[70:]), ft.with_context(fake_channels(30, seed=5, width=8))
    )
    assert all(math.isnan(v) for v in stats) and not live.clean and live.count == 30


# -- normaliser ----------------------------------------------------------------------------------


def test_normaliser_round_trip_and_validation():
    w = hw.cut_windows(fake_channels(400), np.zeros(400), np.arange(400) / 10)
    norm = hw.fit_normaliser(w.sequences, w.stats)
    seq, st = hw.normalise(norm, w.sequences, w.stats)
    assert seq.dtype == st.dtype == np.float32
    assert np.abs(seq.reshape(-1, W).mean(axis=0)).max() < 1e-5
    again = ft.Normaliser.from_dict(norm.to_dict())
    assert again == norm
    np.testing.assert_array_equal(hw.normalise(again, w.sequences, w.stats)[1], st)
    bad = norm.to_dict()
    del bad["stats_std"]
    with pytest.raises(ValueError, match="lacks 'stats_std'"):
        ft.Normaliser.from_dict(bad)
    for value in ([1.0] * 59, [1.0] * 59 + [math.inf], [1.0] * 59 + ["x"], 3.0, None):
        with pytest.raises(ValueError, match="'stats_std' must be 60 finite numbers"):
            ft.Normaliser.from_dict({**norm.to_dict(), "stats_std": value})
    with pytest.raises(ValueError, match="must be > 0"):
        ft.Normaliser.from_dict({**norm.to_dict(), "seq_std": [1.0] * 11 + [0.0]})
    with pytest.raises(ValueError, match="zero windows"):
        hw.fit_normaliser(w.sequences[:0], w.stats[:0])
    with pytest.raises(ValueError, match="12 channel values"):
        norm.apply(w.sequences[0][:, :8], w.stats[0])
    with pytest.raises(ValueError, match="statistics must hold 60 values"):
        norm.apply(w.sequences[0], w.stats[0][:40])


def test_fit_normaliser_equals_numpy_and_keeps_the_min_std_rule():
    w = hw.cut_windows(fake_channels(400, seed=2), np.zeros(400), np.arange(400) / 10)
    w.sequences[:, :, 2] = 1.5  # a constant channel: its spread is raised to MIN_STD
    w.stats[:, 7] = -4.0
    norm = hw.fit_normaliser(w.sequences, w.stats)
    assert all(type(v) is float for v in norm.seq_mean + norm.seq_std)
    flat = w.sequences.reshape(-1, W)
    np.testing.assert_allclose(norm.seq_mean, flat.mean(axis=0), **TIGHT)
    np.testing.assert_allclose(norm.seq_std, np.maximum(flat.std(axis=0), ft.MIN_STD), **TIGHT)
    np.testing.assert_allclose(norm.stats_mean, w.stats.mean(axis=0), **TIGHT)
    np.testing.assert_allclose(norm.stats_std, np.maximum(w.stats.std(axis=0), ft.MIN_STD), **TIGHT)
    assert norm.seq_std[2] == norm.stats_std[7] == ft.MIN_STD
    seq, st = norm.apply(w.sequences[0], w.stats[0])
    assert [r[2] for r in seq] == [0.0] * 100 and st[7] == 0.0


def check_apply_against_numpy(norm: ft.Normaliser, sequences: np.ndarray, stats: np.ndarray):
    mean, std = np.asarray(norm.seq_mean), np.asarray(norm.seq_std)
    smean, sstd = np.asarray(norm.stats_mean), np.asarray(norm.stats_std)
    host_seq, host_st = hw.normalise(norm, sequences, stats)
    for i, (window, values) in enumerate(zip(sequences, stats)):
        seq, st = norm.apply(window, values)
        assert isinstance(seq, list) and isinstance(seq[0], tuple) and isinstance(st, list)
        np.testing.assert_allclose(seq, (window - mean) / std, **TIGHT)
        np.testing.assert_allclose(st, (values - smean) / sstd, **TIGHT)
        # The host's vectorised copy is the same arithmetic, then float32.
        np.testing.assert_array_equal(np.asarray(seq, dtype=np.float32), host_seq[i])
        np.testing.assert_array_equal(np.asarray(st, dtype=np.float32), host_st[i])


def test_normaliser_apply_equals_numpy_on_random_windows():
    rng = np.random.default_rng(9)
    sequences = rng.normal(loc=3.0, scale=20.0, size=(20, 100, W))
    stats = hw.window_statistics(sequences)
    norm = hw.fit_normaliser(sequences[:10], stats[:10])
    check_apply_against_numpy(norm, sequences, stats)
    # float32 inputs (what the device's model interface took before) give the same values
    seq32 = sequences[0].astype(np.float32)
    got, _ = norm.apply(seq32, stats[0])
    want = (seq32 - np.asarray(norm.seq_mean)) / np.asarray(norm.seq_std)
    np.testing.assert_array_equal(np.asarray(got), want)


def test_normaliser_apply_equals_numpy_on_a_simulated_session(session):
    rec, ch = session
    w = hw.cut_windows(ch, rec.level, rec.t_s, flags=rec.flags)
    norm = hw.fit_normaliser(w.sequences, w.stats)
    check_apply_against_numpy(norm, w.sequences, w.stats)


# -- the board has no numpy -----------------------------------------------------------------------

MINE = ("device.features", "device.labels", "device.fatigue", "device.app")


@pytest.mark.parametrize("module", MINE)
def test_module_source_does_not_import_numpy(module):
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
    assert "import numpy" not in source and "from numpy" not in source


IMPORT_WITHOUT_NUMPY = textwrap.dedent(
    """
    import sys, traceback
    sys.modules["numpy"] = None  # any `import numpy` now raises ImportError
    try:
        import {module}
    except ImportError:
        frames = traceback.extract_tb(sys.exc_info()[2])
        importer = [f.filename for f in frames if "/device/" in f.filename][-1]
        print("NUMPY-FROM", importer.rsplit("/device/", 1)[1])
        sys.exit(3)
    {smoke}
    print("OK")
    """
)

SMOKE = {
    "device.features": """
from device.features import LiveWindow, Normaliser, channel_row, statistics
w = LiveWindow()
for i in range(100):
    w.push(channel_row((0.01 * i, 0.02, 0.03), 1.0 * i, -0.5 * i))
seq, st = w.window()
assert w.clean and len(seq) == 100 and len(seq[0]) == 12 and len(st) == 60
n = Normaliser.from_dict({"seq_mean": [0.0] * 12, "seq_std": [1.0] * 12,
                          "stats_mean": [0.0] * 60, "stats_std": [2.0] * 60})
assert n.apply(seq, st)[1] == [v / 2 for v in st]
""",
    "device.labels": """
from device.labels import DEFAULT_MAPPING
assert DEFAULT_MAPPING.level(5.5) == 3 and DEFAULT_MAPPING.level([0, 10]) == [0, 4]
""",
    "device.fatigue": """
from device.fatigue import LevelSmoother, argmax
assert argmax([0.1, 0.4, 0.4]) == 1 and LevelSmoother(2).push([0.2, 0.8]) == 1
""",
    "device.app": "",
}


def import_without_numpy(module: str, smoke: str) -> str:
    code = IMPORT_WITHOUT_NUMPY.format(module=module, smoke=smoke.strip())
    env_path = f"{ROOT}:{ROOT / 'hw-sim'}"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": env_path},
        cwd=ROOT,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("module", MINE)
def test_module_imports_and_runs_where_numpy_cannot_be_imported(module):
    out = import_without_numpy(module, SMOKE[module])
    assert "NUMPY-FROM" not in out and out.strip().endswith("OK"), out
