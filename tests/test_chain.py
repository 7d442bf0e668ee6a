"""The measurement chain end to end: GPIO → simulated ADC → driver → frames → MBLL.

The simulator's optics (hwsim.optics) is its own forward model of the modified
Beer–Lambert law, written apart from device.mbll, so recovering what it was given
checks the device's inverse: units (ln vs log10, µM vs M), the ε columns, and
DPF and distance each applied once.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from device import chain as ch
from device.acquisition import Frame
from hwsim.board import build_board
from hwsim.optics import REST_HBO2_UM, REST_HHB_UM, Tissue, load_extinction_table
from hwsim.rig import wire

D_HBO2_UM = -10.0  # the injected change: HbO2 falls 10 µM ...
D_HHB_UM = 8.0  # ... while HHb rises 8 µM


def ramp(t: float, t0: float, t1: float, a: float, b: float) -> float:
    return a if t < t0 else b if t > t1 else a + (b - a) * (t - t0) / (t1 - t0)


def injected_tissue(t0: float = 25.0, t1: float = 35.0) -> Tissue:
    return Tissue(
        lambda t: ramp(t, t0, t1, REST_HBO2_UM, REST_HBO2_UM + D_HBO2_UM),
        lambda t: ramp(t, t0, t1, REST_HHB_UM, REST_HHB_UM + D_HHB_UM),
    )


def as_arrays(res: ch.ChainResult) -> SimpleNamespace:
    """A ChainResult (lists, as the device makes it) with every field as a numpy array."""
    return SimpleNamespace(
        **{f.name: np.asarray(getattr(res, f.name)) for f in dataclasses.fields(res)}
    )


def record(seconds: float, *, retries: int = 2, **board_kwargs):
    board = build_board(with_oled=False, **board_kwargs)
    mux = wire(board, retries=retries).multiplexer()
    mux.start()
    return board, mux, list(mux.run(seconds))


def test_injected_change_recovered_within_3_percent_without_noise():
    _, _, frames = record(45.0, tissue=injected_tissue(), noise_v_rms=0.0)
    res = as_arrays(ch.process_recording(frames))
    after = res.t_s > 36.0
    # ln ↔ log10 would scale both by 2.303, swapped ε columns would mix them up, DPF or
    # distance applied twice would divide them by 4 or 3: each fails these bounds.
    assert res.d_hbo2_um[after] == pytest.approx(D_HBO2_UM, rel=0.03)
    assert res.d_hhb_um[after] == pytest.approx(D_HHB_UM, rel=0.03)
    assert res.d_thb_um[after] == pytest.approx(D_HBO2_UM + D_HHB_UM, abs=0.03 * 10)
    assert res.oi_um[after] == pytest.approx(D_HBO2_UM - D_HHB_UM, rel=0.03)
    before = res.t_s < 24.0
    assert np.abs(res.d_hbo2_um[before]).max() < 0.01
    # During the ramp the samples follow the truth at their block's centre.
    truth_hbo2 = [ramp(t, 25, 35, 0, D_HBO2_UM) for t in res.t_s]
    assert res.d_hbo2_um == pytest.approx(truth_hbo2, abs=0.03 * abs(D_HBO2_UM))
    # SmO2 estimate with the simulator's true resting values as the assumed ones.
    smo2_end = 100 * 50 / (50 + 38)
    assert res.smo2_pct[after] == pytest.approx(smo2_end, abs=0.1)
    assert res.smo2_pct[0] == pytest.approx(100 * 60 / 90, abs=0.01)
    assert not res.flags.any()


def test_injected_change_with_realistic_noise_within_0_25_um():
    """ADC noise (60 µV rms), 100 Hz room-light flicker on 50 mV ambient, LED output
    sagging 0.2 % over the run. Measured here: largest per-sample error about 0.12 µM
    (1.5 % of the change), mostly from the flicker."""
    _, _, frames = record(
        45.0,
        tissue=injected_tissue(),
        ambient_v=lambda t: 0.05 + 0.02 * math.sin(2 * math.pi * 100.0 * t),
        led_drift=lambda t: 1.0 - 0.002 * t / 45.0,
        seed=3,
    )
    res = as_arrays(ch.process_recording(frames))
    after = res.t_s > 36.0
    assert np.abs(res.d_hbo2_um[after] - D_HBO2_UM).max() < 0.25
    assert np.abs(res.d_hhb_um[after] - D_HHB_UM).max() < 0.25
    assert res.residual_od.max() < 0.005  # the noise floor stays under the motion threshold
    assert not res.flags.any()


def test_a_step_in_ambient_light_leaves_haemoglobin_unmoved():
    _, _, frames = record(40.0, ambient_v=lambda t: 0.0 if t < 30.0 else 0.2)
    res = as_arrays(ch.process_recording(frames))
    assert res.dark_v[-1] == pytest.approx(0.2075, abs=1e-3)  # the step is really there
    assert np.abs(res.d_hbo2_um).max() < 0.02
    assert np.abs(res.d_hhb_um).max() < 0.02


def test_stream_and_batch_agree_on_the_same_recording():
    # Noise, flicker, 2 % bus faults without retries (so some conversions are lost),
    # and smoothing on: every path of the chain is exercised.
    _, mux, frames = record(
        30.0,
        retries=0,
        tissue=injected_tissue(10.0, 20.0),
        ambient_v=lambda t: 0.05 + 0.02 * math.sin(2 * math.pi * 100.0 * t),
        fault_rate=0.02,
        seed=5,
    )
    assert mux.stats.lost > 0
    config = ch.ChainConfig(baseline_s=5.0, smoothing_samples=5)
    batch = ch.process_recording(frames, config)
    stream = ch.MeasurementChain(config)
    samples = [s for f in frames for s in stream.push(f)] + stream.flush()
    live = ch.samples_to_result(samples, stream.baseline_v)
    assert len(live) == len(batch)
    for name in (
        "t_s",
        "dark_v",
        "intensity_v",
        "d_od",
        "d_hbo2_um",
        "d_hhb_um",
        "smo2_pct",
        "residual_od",
    ):
        np.testing.assert_allclose(
            getattr(live, name), getattr(batch, name), rtol=0, atol=1e-9, err_msg=name
        )
    np.testing.assert_array_equal(live.flags, batch.flags)
    np.testing.assert_array_equal(live.n_frames, batch.n_frames)
    # One implementation: the batch runs the stream's code, so they agree bit for bit.
    for f in dataclasses.fields(batch):
        a, b = np.asarray(getattr(live, f.name)), np.asarray(getattr(batch, f.name))
        assert np.array_equal(a, b, equal_nan=True), f.name
    assert live.baseline_v == batch.baseline_v


def test_stream_holds_only_the_baseline_period():
    _, _, frames = record(8.0)
    stream = ch.MeasurementChain(ch.ChainConfig(baseline_s=2.0))
    out = []
    for f in frames:
        out += stream.push(f)
        assert len(stream._pending) <= 21  # 2 s × 10 Hz + the sample that closes it
    assert not stream.calibrating
    assert 70 <= len(out) <= 80  # 10 Hz
    assert np.diff([s.t_s for s in out]) == pytest.approx(0.1)


def test_a_live_chain_spreads_the_baseline_samples_over_the_next_pushes():
    # The live app takes at most a few samples a push, so that the 50 samples ready when
    # a 5 s baseline closes are not computed in one piece of work; nothing is lost,
    # reordered or changed, and the wait drains (it does not grow with the session).
    _, _, frames = record(12.0, seed=3)
    config = ch.ChainConfig(baseline_s=5.0)
    everything = ch.MeasurementChain(config)
    at_once = [[*everything.push(f)] for f in frames]
    few = ch.MeasurementChain(config, max_samples_per_push=3)
    spread = [few.push(f) for f in frames]
    assert max(map(len, at_once)) >= 50 and max(map(len, spread)) == 3
    assert len(few._ready) == 0  # drained well before the end: 3 a frame against ~0.23 new
    flat = [s for out in at_once for s in out] + everything.flush()
    assert [s for out in spread for s in out] + few.flush() == flat
    # The push that closes the baseline does its work and hands over nothing; the next
    # returns the oldest ready samples.
    closing = next(i for i, out in enumerate(at_once) if out)
    assert spread[closing] == [] and not few.calibrating
    assert spread[closing + 1] == flat[:3]
    with pytest.raises(ValueError, match="max_samples_per_push must be an integer >= 1"):
        ch.MeasurementChain(config, max_samples_per_push=0)


def test_a_gap_in_the_data_is_flagged_not_closed_up():
    board, mux, frames = record(3.0)
    board.bus.set_responding(0x48, False)
    list(mux.run(0.5))
    board.bus.set_responding(0x48, True)
    frames += list(mux.run(1.5))
    res = as_arrays(ch.process_recording(frames, ch.ChainConfig(baseline_s=1.0)))
    no_data = (res.flags & ch.FLAG_NO_DATA).astype(bool)
    assert 4 <= no_data.sum() <= 5
    assert np.all(np.isnan(res.d_hbo2_um[no_data]))
    assert np.diff(res.t_s) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("board_kwargs", "flag"),
    [
        ({"ambient_v": lambda t: 0.0 if t < 3 else 0.5}, ch.FLAG_AMBIENT),
        ({"led_drift": lambda t: 1.0 if t < 3 else 1.95}, ch.FLAG_SATURATED),
        ({"led_drift": lambda t: 1.0 if t < 3 else 0.005}, ch.FLAG_LOW_LIGHT),
        # Motion: the sensor shifts and 25 % less light couples in at every wavelength,
        # a ΔOD offset of 0.29 that haemoglobin cannot explain (residual ≈ 0.034).
        ({"led_drift": lambda t: 1.0 if t < 3 else 0.75}, ch.FLAG_RESIDUAL),
    ],
)
def test_quality_flags(board_kwargs, flag):
    _, _, frames = record(5.0, **board_kwargs)
    res = as_arrays(ch.process_recording(frames, ch.ChainConfig(baseline_s=2.0)))
    before, after = res.t_s < 2.9, res.t_s > 3.2
    assert not (res.flags[before] & flag).any()
    assert (res.flags[after] & flag).all(), (flag, res.flags[after])


def test_unusable_baseline_is_a_clear_error():
    # LEDs dead: no light above dark. Every attempt fails (two periods of 1 s and the last
    # 0.9 s), and the batch names why.
    _, _, frames = record(3.0, led_drift=lambda t: 0.0)
    with pytest.raises(
        ch.ChainError,
        match=r"no usable resting baseline in the recording \(3 attempt\(s\) of up to 1 s\): "
        r"only 0 of 10 rest samples usable: low light at 750, 810, 870 nm "
        r"\(sensor on the skin\?\)",
    ):
        ch.process_recording(frames, ch.ChainConfig(baseline_s=1.0))


def test_band_weighted_extinction_is_an_option_that_changes_the_answer():
    _, _, frames = record(45.0, tissue=injected_tissue(), noise_v_rms=0.0)
    nominal = ch.process_recording(frames)
    banded = ch.process_recording(frames, ch.ChainConfig(led_fwhm_nm=30.0))
    # The simulated LEDs are monochromatic, so the band-weighted ε is the wrong model
    # here: a few per cent off, which is the size of the effect on real 30 nm LEDs.
    diff = abs(banded.d_hhb_um[-1] - nominal.d_hhb_um[-1]) / abs(nominal.d_hhb_um[-1])
    assert 0.01 < diff < 0.15


def test_config_errors_name_the_setting():
    with pytest.raises(ValueError, match="ChainConfig.baseline_s must be a positive number"):
        ch.ChainConfig(baseline_s=0)
    with pytest.raises(ValueError, match="smoothing_samples must be an integer >= 1"):
        ch.ChainConfig(smoothing_samples=0)
    with pytest.raises(ValueError, match="ChainConfig.light_min_v must be a positive number"):
        ch.ChainConfig(light_min_v=0.0)  # a baseline must have a logarithm


def test_results_are_plain_python_as_the_codec_expects():
    _, _, frames = record(4.0)
    stream = ch.MeasurementChain(ch.ChainConfig(baseline_s=1.0))
    samples = [s for f in frames for s in stream.push(f)] + stream.flush()
    assert isinstance(stream.baseline_v, tuple)
    for s in samples:
        assert isinstance(s, ch.ChainSample)
        assert type(s.n_frames) is int and type(s.flags) is int
        assert isinstance(s.intensity_v, tuple) and isinstance(s.d_od, tuple)
        floats = (s.t_s, s.dark_v, *s.intensity_v, *s.d_od, *s[5:11])
        assert all(type(v) is float for v in floats)
    res = ch.process_recording(frames, ch.ChainConfig(baseline_s=1.0))
    assert all(isinstance(getattr(res, f.name), list) for f in dataclasses.fields(res)[:-1])
    assert isinstance(res.baseline_v, tuple) and len(res) == len(samples)
    assert ch.samples_to_result([], ()).t_s == [] and len(ch.samples_to_result([], ())) == 0


def test_frames_must_not_go_backwards_or_lose_phases():
    _, _, frames = record(1.0)
    with pytest.raises(ValueError, match="frame timestamps must not go backwards"):
        ch.process_recording([frames[10], frames[0]])
    with pytest.raises(ValueError, match="needs at least one frame"):
        ch.process_recording([])
    short = dataclasses.replace(frames[0], volts=frames[0].volts[:3])
    with pytest.raises(ValueError, match=r"4 phases \(dark \+ 3 wavelengths\), got 3 volts"):
        ch.MeasurementChain().push(short)


# -- against the numpy chain it replaced ------------------------------------------------------
#
# The chain below is the numpy implementation the device ran before issue 13 (git: device/chain.py
# and device/mbll.py), condensed to the paths the chain uses and kept as the reference: the
# pure-Python chain must give the same numbers to 1e-9. Its ε comes from the simulator's own
# reader of the table and numpy.interp, its pseudo-inverse from numpy.linalg.pinv (SVD).


def numpy_solver(config: ch.ChainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(A⁺, I − A·A⁺) from the table, numpy only (nominal ε; no band weighting)."""
    assert config.led_fwhm_nm is None
    table = load_extinction_table()
    table_nm = np.array(sorted(table))
    eps = np.array([table[w] for w in table_nm])
    wl = np.asarray(config.wavelengths_nm, dtype=float)
    eps_nat = np.column_stack([np.interp(wl, table_nm, eps[:, k]) for k in range(2)])
    eps_nat = eps_nat * math.log(10.0) / 1e6  # cm^-1 µM^-1, natural log
    dpf = np.broadcast_to(np.asarray(config.dpf, dtype=float), wl.shape)
    design = eps_nat * (dpf * config.distance_cm)[:, None]
    pinv = np.linalg.pinv(design)
    return pinv, np.eye(len(wl)) - design @ pinv


def numpy_rest_baseline(rest: np.ndarray, passed: np.ndarray) -> np.ndarray | None:
    """I0 from one period's light (n, n_wl), V, and which rows passed the flags; None when
    fewer than the required fraction are within the outlier bound of the passed rows' median."""
    good = rest[passed]
    if not len(good):
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        deviation = np.abs(np.log(good / np.median(good, axis=0)))
    clean = good[np.all(deviation <= ch.BASELINE_OUTLIER_OD, axis=1)]
    if not len(clean) or len(clean) < ch.BASELINE_MIN_CLEAN_FRACTION * len(rest):
        return None
    return clean.mean(axis=0)


def numpy_chain(frames, config: ch.ChainConfig) -> dict[str, np.ndarray]:
    """The old batch chain: decimate, smooth, baseline, ΔOD, MBLL, SmO2, flags, with issue
    14's baseline rule (only rest samples the flags pass and near their median; restarts)."""
    t = np.array([f.t_s for f in frames], dtype=float)
    volts = np.array([f.volts for f in frames], dtype=float)
    peak_v = np.array([f.peak_v for f in frames], dtype=float)
    rate = config.output_rate_hz
    # decimate
    block = np.floor(t * rate).astype(np.int64)
    first, last = int(block[0]), int(block[-1])
    n, idx = last - first + 1, block - first
    # Each phase averaged over the frames that have it (a NaN phase is a phase with no
    # kept conversion; light needs its frame's dark too); peaks ignore NaN (np.fmax).
    phases = np.concatenate([volts[:, :1], volts[:, 1:] - volts[:, :1]], axis=1)
    have = np.isfinite(phases)
    n_frames = np.bincount(idx, minlength=n)
    sums = np.zeros((n, volts.shape[1]))
    counts = np.zeros((n, volts.shape[1]))
    peaks = np.full((n, volts.shape[1] - 1), -np.inf)
    for i in range(len(idx)):
        sums[idx[i]] += np.where(have[i], phases[i], 0.0)
        counts[idx[i]] += have[i]
        np.fmax(peaks[idx[i]], peak_v[i, 1:], out=peaks[idx[i]])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
    peaks[np.isinf(peaks)] = np.nan
    t_s = (np.arange(first, last + 1) + 0.5) / rate
    dark, light = means[:, 0], means[:, 1:]
    # smooth
    k = config.smoothing_samples
    if k > 1:
        light = np.array(
            [light[max(0, i - k + 1) : i + 1].sum(axis=0) / min(i + 1, k) for i in range(n)]
        )
    # flags without the residual: what a rest sample must pass to count for the baseline
    with np.errstate(invalid="ignore"):
        peak = np.where(np.isnan(peaks), -np.inf, peaks).max(axis=1)
        flags = np.where(peak >= config.saturation_v, ch.FLAG_SATURATED, 0)
        flags |= np.where(dark > config.ambient_max_v, ch.FLAG_AMBIENT, 0)
        flags |= np.where(np.any(light < config.light_min_v, axis=1), ch.FLAG_LOW_LIGHT, 0)
    no_data = (n_frames == 0) | np.any(np.isnan(light), axis=1)  # a wavelength without light
    flags |= np.where(no_data, ch.FLAG_NO_DATA, 0)
    # baseline: periods of baseline_s from the first sample; a failed one is dropped and the
    # sample that closed it opens the next; a recording that ends in a period takes what is
    # left as its rest period
    start = 0
    while True:
        period = np.arange(start, n)[t_s[start:] < t_s[start] + config.baseline_s]
        closed = period[-1] + 1 < n
        base = numpy_rest_baseline(light[period], flags[period] == 0)
        if base is not None:
            break
        if not closed:
            raise ValueError("no usable resting baseline in the recording")
        start = period[-1] + 1
    keep = slice(start, n)
    t_s, n_frames, dark, light, flags = (
        t_s[keep],
        n_frames[keep],
        dark[keep],
        light[keep],
        flags[keep],
    )
    # ΔOD, MBLL
    with np.errstate(invalid="ignore", divide="ignore"):
        good = np.isfinite(light) & (light > 0)
        d_od = -np.log(np.where(good, light, np.nan) / base)
    pinv, projector = numpy_solver(config)
    conc = np.sum(d_od[:, None, :] * pinv[None, :, :], axis=2)
    resid = np.sum(d_od[:, None, :] * projector[None, :, :], axis=2)
    residual_od = np.sqrt(np.sum(resid * resid, axis=1))
    d_hbo2, d_hhb = conc[:, 0], conc[:, 1]
    # SmO2 estimate, impossible → NaN
    hbo2_abs = config.hbo2_rest_um + d_hbo2
    hhb_abs = config.hhb_rest_um + d_hhb
    with np.errstate(invalid="ignore", divide="ignore"):
        thb_abs = hbo2_abs + hhb_abs
        bad = (hbo2_abs < 0) | (hhb_abs < 0) | (thb_abs <= 0)
        smo2 = 100.0 * np.where(bad, np.nan, hbo2_abs) / np.where(bad, np.nan, thb_abs)
        flags |= np.where(residual_od > config.residual_max_od, ch.FLAG_RESIDUAL, 0)
    return {
        "t_s": t_s,
        "n_frames": n_frames,
        "dark_v": dark,
        "intensity_v": light,
        "d_od": d_od,
        "d_hbo2_um": d_hbo2,
        "d_hhb_um": d_hhb,
        "d_thb_um": d_hbo2 + d_hhb,
        "oi_um": d_hbo2 - d_hhb,
        "smo2_pct": smo2,
        "residual_od": residual_od,
        "flags": flags,
        "baseline_v": base,
    }


def assert_chain_equals_numpy(res: ch.ChainResult, ref: dict[str, np.ndarray]) -> None:
    got = as_arrays(res)
    for name, expected in ref.items():
        actual = getattr(got, name)
        assert actual.shape == expected.shape, name
        if name in ("n_frames", "flags"):
            np.testing.assert_array_equal(actual, expected, err_msg=name)
        else:  # NaN where the reference has NaN, and nowhere else
            np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12, err_msg=name)


def session_with_everything(seconds: float = 40.0):
    """Injected change, flicker, ADC noise, 2 % lost conversions, a sensor shift, a bus outage."""
    board, mux, frames = record(
        seconds / 2,
        retries=0,
        tissue=injected_tissue(8.0, 18.0),
        ambient_v=lambda t: 0.05 + 0.02 * math.sin(2 * math.pi * 100.0 * t),
        led_drift=lambda t: 1.0 if t < 25.0 or t > 28.0 else 0.75,
        fault_rate=0.02,
        seed=9,
    )
    board.bus.set_responding(0x48, False)
    list(mux.run(0.6))  # a gap: blocks without frames
    board.bus.set_responding(0x48, True)
    frames += list(mux.run(seconds / 2))
    return frames


@pytest.fixture(scope="module")
def everything_frames():
    return session_with_everything()


@pytest.mark.parametrize(
    "config",
    [
        ch.ChainConfig(baseline_s=5.0),
        ch.ChainConfig(baseline_s=5.0, smoothing_samples=5),
        ch.ChainConfig(baseline_s=3.0, dpf=(4.5, 4.0, 3.6), distance_cm=2.5, smoothing_samples=3),
        ch.ChainConfig(wavelengths_nm=(750.0, 810.0, 870.0), hbo2_rest_um=5.0, hhb_rest_um=3.0),
    ],
    ids=["default", "smoothed", "per-wavelength-dpf", "impossible-smo2"],
)
def test_batch_and_stream_equal_the_old_numpy_chain(everything_frames, config):
    frames = everything_frames
    ref = numpy_chain(frames, config)
    # The session really exercises every path: gaps, lost conversions, flags, NaN SmO2.
    assert (ref["flags"] & ch.FLAG_NO_DATA).any() and (ref["flags"] & ch.FLAG_RESIDUAL).any()
    assert np.isnan(ref["d_od"]).any() and np.isfinite(ref["d_hbo2_um"]).mean() > 0.9
    if config.hbo2_rest_um == 5.0:
        assert np.isnan(ref["smo2_pct"][np.isfinite(ref["d_hbo2_um"])]).any()
    batch = ch.process_recording(frames, config)
    assert_chain_equals_numpy(batch, ref)
    stream = ch.MeasurementChain(config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the live chain warns about nothing: flags say it
        samples = [s for f in frames for s in stream.push(f)] + stream.flush()
    assert_chain_equals_numpy(ch.samples_to_result(samples, stream.baseline_v), ref)


def test_a_recording_shorter_than_the_baseline_equals_the_old_numpy_chain():
    # The batch takes the whole recording as the rest period, as the numpy batch did; the
    # live chain is still calibrating and has nothing to show.
    _, _, frames = record(3.0, seed=2)
    config = ch.ChainConfig()  # 20 s baseline
    assert_chain_equals_numpy(ch.process_recording(frames, config), numpy_chain(frames, config))
    stream = ch.MeasurementChain(config)
    assert [s for f in frames for s in stream.push(f)] + stream.flush() == []
    assert stream.calibrating


def test_synthetic_frames_with_nan_phases_and_saturation_equal_the_old_numpy_chain():
    # Hand-made frames at 43 Hz: a phase with no kept conversion (NaN volts and peak) in the
    # same block as a saturated one, a saturated stretch, a bright dark phase, very low light.
    rng = np.random.default_rng(4)
    frames = []
    for i in range(43 * 6):
        t = i / 43
        volts = [0.01, 1.2 + 0.01 * rng.normal(), 1.1 + 0.01 * rng.normal(), 0.9]
        peak = [v + 0.02 for v in volts]
        if i % 37 == 5:
            volts[1] = peak[1] = math.nan  # same LED as the saturated peak below
        if i % 37 == 6 or 150 <= i < 160:
            peak[1] = 3.65  # above saturation_v
        if 200 <= i < 210:
            volts[0] = 0.5  # ambient light in the dark phase
        if 220 <= i < 250:
            volts[3] = volts[0] + 0.001  # almost no light at 870 nm
        frames.append(Frame(t, tuple(volts), (3, 3, 3, 3), tuple(peak)))
    for config in (
        ch.ChainConfig(baseline_s=2.0),
        ch.ChainConfig(baseline_s=2.0, smoothing_samples=4),
    ):
        ref = numpy_chain(frames, config)
        for flag in (ch.FLAG_SATURATED, ch.FLAG_AMBIENT, ch.FLAG_LOW_LIGHT):
            assert (ref["flags"] & flag).any(), flag
        assert_chain_equals_numpy(ch.process_recording(frames, config), ref)


def test_one_dropped_phase_costs_its_frame_not_the_sample():
    # Issue 14, point 6: a single NaN conversion at 750 nm among the four frames of a
    # 100 ms block made the whole sample NaN, flagged 0. Now the block averages the frames
    # that have the phase, and a wavelength no frame has is NaN and flagged "no data".

    def frame(t_s, light_750):
        volts = (0.05, light_750, 1.0, 1.2)
        return Frame(t_s, volts, (4, 4, 4, 4), volts)

    config = ch.ChainConfig(baseline_s=5.0)
    chain = ch.MeasurementChain(config)
    frames = [frame(0.0233 * i, 0.8 + 0.001 * (i % 4)) for i in range(300)]  # 7 s at rest
    block = [i for i, f in enumerate(frames) if math.floor(f.t_s * 10) == 60]
    one_lost = block[1]
    frames[one_lost] = frame(frames[one_lost].t_s, math.nan)
    none = [i for i, f in enumerate(frames) if math.floor(f.t_s * 10) == 62]
    for i in none:
        frames[i] = frame(frames[i].t_s, math.nan)
    samples = {round(s.t_s, 2): s for f in frames for s in chain.push(f)}
    good = [frames[i].volts[1] - 0.05 for i in block if i != one_lost]
    s60, s62 = samples[6.05], samples[6.25]
    assert s60.intensity_v[0] == pytest.approx(sum(good) / len(good), rel=1e-12)
    assert s60.flags == 0 and s60.n_frames == len(block)
    assert math.isnan(s62.intensity_v[0]) and s62.flags & ch.FLAG_NO_DATA
    assert ch.FLAG_NAMES[ch.FLAG_NO_DATA] == "no data"


# -- the resting baseline: only clean samples, or a restart (issue 14, point 5) ---------------

#: The ADS1114's full-scale code 0x7FFF at ±4.096 V, V (datasheet table 3).
FULL_SCALE_CODE_V = 0x7FFF * 4.096 / 0x8000
#: Light of a sensor lifted off the skin: the LEDs' light scaled to 7–10 µV, under the ADC's
#: 60 µV rms noise and far below light_min_v (20 mV).
LIFTED = 5e-6


def flicker(t: float) -> float:
    return 0.05 + 0.02 * math.sin(2 * math.pi * 100.0 * t)


def live(frames, config: ch.ChainConfig, per_push: int | None = 8):
    """The frames through a live chain as the app runs it (8 samples a push at most)."""
    chain = ch.MeasurementChain(config, max_samples_per_push=per_push)
    samples = [s for f in frames for s in chain.push(f)] + chain.flush()
    return chain, as_arrays(ch.samples_to_result(samples, chain.baseline_v or ()))


@pytest.mark.parametrize("seconds", [1.0, 2.0])
@pytest.mark.parametrize("kind", ["at the rail", "full-scale codes"])
def test_bad_samples_at_the_start_of_calibration_stay_out_of_the_baseline(kind, seconds):
    # Issue 14, point 5: one second of saturated light at the start of a 20 s calibration
    # shifted every later sample by +3.3 µM ΔHbO2 and flagged it motion; a second of full-scale
    # codes on every phase (dark too: no light left) shifted them by -1.25 µM ΔHbO2 and
    # -0.97 µM ΔHHb with no flag; two seconds doubled both. At rest the answer is 0.
    _, _, clean = record(30.0, ambient_v=flicker, seed=3)
    if kind == "at the rail":  # LEDs over-driven: the OPT101 output clips at 3.7 V
        _, _, frames = record(
            30.0, ambient_v=flicker, led_drift=lambda t: 5.0 if t < seconds else 1.0, seed=3
        )
    else:
        full = (FULL_SCALE_CODE_V,) * 4
        frames = [Frame(f.t_s, full, f.kept, full) if f.t_s < seconds else f for f in clean]
    chain, res = live(frames, ch.ChainConfig())
    after = res.t_s > seconds + 0.1
    # The flicker and ADC noise alone reach 0.07 µM in the clean recording; the old code's
    # smallest error here was 0.97 µM.
    assert np.abs(res.d_hbo2_um[after]).max() < 0.15
    assert np.abs(res.d_hhb_um[after]).max() < 0.15
    assert not res.flags[after].any()  # no session-long motion flag
    assert (res.flags[res.t_s < seconds] & ch.FLAG_SATURATED).all()  # the bad ones are shown
    assert chain.calibration_restarts == 0 and chain.restart_reason == ""
    assert np.abs(as_arrays(ch.process_recording(clean)).d_hbo2_um).max() < 0.1  # the floor


def test_a_sensor_lifted_through_the_first_baseline_restarts_calibration():
    # Issue 14, point 5: a sensor lifted at the start of calibration ended in a ChainError
    # traceback, or with other noise in a baseline of microvolts that made every later sample
    # hundreds of µM off. Now that period restarts, with a reason for the screen, and the
    # next one, with the sensor back on, calibrates.
    config = ch.ChainConfig(baseline_s=5.0)
    _, _, frames = record(14.0, led_drift=lambda t: LIFTED if t < 5.0 else 1.0, seed=3)
    chain, res = live(frames, config)  # never raises
    rest = res.t_s > 5.0
    assert rest.sum() >= 85
    assert np.abs(res.d_hbo2_um[rest]).max() < 0.1  # ADC noise only: 0.002 µM here
    assert np.abs(res.d_hhb_um[rest]).max() < 0.1
    assert not res.flags.any()
    # The lifted period's samples are dropped; the row that closed it opened the next one.
    assert res.t_s[0] == pytest.approx(5.05)
    assert chain.calibration_restarts == 1
    assert chain.restart_reason == (
        "only 0 of 50 rest samples usable: low light at 750, 810, 870 nm " "(sensor on the skin?)"
    )
    assert chain.restart_hint == "sensor on the skin?"  # the OLED's line: 21 characters at most
    assert chain.calibration_start_s == pytest.approx(5.0)
    assert min(chain.baseline_v) > 1.0


def test_a_baseline_of_microvolts_is_not_accepted():
    # Light of a few microvolts with the ADC's noise: the old chain took its mean as I0.
    config = ch.ChainConfig(baseline_s=5.0)
    _, _, frames = record(12.0, led_drift=lambda t: LIFTED, seed=1)
    with pytest.raises(
        ch.ChainError,
        match=r"\(3 attempt\(s\) of up to 5 s\): only 0 of 20 rest samples usable: "
        r"low light at 750, 810, 870 nm",
    ):
        ch.process_recording(frames, config)
    chain, res = live(frames, config)  # the live chain keeps calibrating, with a reason
    assert chain.calibrating and len(res.t_s) == 0
    assert chain.calibration_restarts == 2 and "low light at 750, 810, 870 nm" in (
        chain.restart_reason
    )
    assert chain.calibration_start_s == pytest.approx(10.0)


def test_a_strap_slipping_through_the_baseline_restarts_it_as_moved():
    # The coupling falls steadily to half over the first 5 s period (the strap slips), then
    # holds: no flag fires before a baseline, but the period has no steady level (its
    # samples spread over 0.69 in ln units, under a third within 0.1 of their median).
    config = ch.ChainConfig(baseline_s=5.0)
    _, _, frames = record(14.0, led_drift=lambda t: 0.5 ** min(t / 5.0, 1.0), seed=3)
    chain, res = live(frames, config)
    assert np.abs(res.d_hbo2_um).max() < 0.1 and not res.flags.any()
    assert res.t_s[0] == pytest.approx(5.05)
    assert chain.calibration_restarts == 1
    assert chain.restart_reason.startswith("only ") and chain.restart_reason.endswith(
        "of 50 rest samples usable: moved (keep still)"
    )


@pytest.mark.parametrize(("n_bad", "restarts"), [(10, 0), (11, 1)])
def test_half_of_the_period_clean_is_enough(n_bad, restarts):
    # A 2 s period of 20 samples whose first ones have room light in the dark phase (and a
    # little more in the lit ones): 10 clean ones calibrate, on themselves only; 9 do not.
    def frame(t_s):
        bad = math.floor(t_s * 10) < n_bad
        dark = 0.5 if bad else 0.01  # over ambient_max_v
        light = (1.2, 1.3, 1.1) if bad else (1.0, 1.1, 0.9 + 0.001 * (round(t_s * 43) % 3))
        volts = (dark, *(dark + v for v in light))
        return Frame(t_s, volts, (4, 4, 4, 4), volts)

    frames = [frame((i + 0.5) / 43) for i in range(43 * 5)]
    chain, res = live(frames, ch.ChainConfig(baseline_s=2.0))
    if restarts:
        assert res.t_s[0] == pytest.approx(2.05)  # the first period's samples dropped
        assert chain.restart_reason == (
            "only 9 of 20 rest samples usable: ambient light (shade from room light)"
        )
    else:
        assert res.t_s[0] == pytest.approx(0.05)
        assert chain.baseline_v == pytest.approx((1.0, 1.1, 0.901), abs=1e-3)
    assert chain.calibration_restarts == restarts


def session_with_a_restart(seconds: float = 25.0):
    """Lifted for the first 5 s period; in the next, 1 s at the rail and a motion spike;
    then an injected change, with flicker, ADC noise and 2 % lost conversions throughout."""

    def drift(t):
        return LIFTED if t < 5.0 else 5.0 if t < 6.0 else 0.8 if 8.0 <= t < 8.3 else 1.0

    _, _, frames = record(
        seconds,
        retries=0,
        tissue=injected_tissue(14.0, 20.0),
        ambient_v=flicker,
        led_drift=drift,
        fault_rate=0.02,
        seed=9,
    )
    return frames


@pytest.mark.parametrize("smoothing", [1, 3])
def test_stream_and_batch_agree_across_a_restart(smoothing):
    frames = session_with_a_restart()
    config = ch.ChainConfig(baseline_s=5.0, smoothing_samples=smoothing)
    ref = numpy_chain(frames, config)
    assert ref["t_s"][0] == pytest.approx(5.05)  # the first period failed
    batch = ch.process_recording(frames, config)
    assert_chain_equals_numpy(batch, ref)
    stream = ch.MeasurementChain(config, max_samples_per_push=8)
    samples = [s for f in frames for s in stream.push(f)] + stream.flush()
    got = ch.samples_to_result(samples, stream.baseline_v)
    for f in dataclasses.fields(batch):  # the same code: bit for bit
        a, b = np.asarray(getattr(got, f.name)), np.asarray(getattr(batch, f.name))
        assert np.array_equal(a, b, equal_nan=True), f.name
    assert stream.calibration_restarts == 1 and "low light" in stream.restart_reason
    # The rail second and the spike were left out: rest before the change stays at 0.
    res = as_arrays(batch)
    rest = (res.t_s > 8.5) & (res.t_s < 14.0)
    assert np.abs(res.d_hbo2_um[rest]).max() < 0.2 and not res.flags[rest].any()
