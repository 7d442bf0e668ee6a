"""Model inputs: one implementation for training and the wearable."""

from __future__ import annotations

import numpy as np
import pytest

from device import features as ft


def fake_channels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, len(ft.CHANNELS)))


def test_channel_matrix_derives_thb_and_oi():
    d_od = np.array([[0.1, 0.2, 0.3]])
    m = ft.channel_matrix(d_od=d_od, d_hbo2_um=[-2.0], d_hhb_um=[3.0])
    assert m[0] == pytest.approx([0.1, 0.2, 0.3, -2.0, 3.0, 1.0, 100 * 58 / 91, -5.0])
    # A strong responder beyond the assumed 60 µM resting HbO2: SmO2 clips at 0 %, finite.
    assert ft.channel_matrix(d_od=d_od, d_hbo2_um=[-70.0], d_hhb_um=[50.0])[0, 6] == 0.0
    with pytest.raises(ValueError, match=r"d_od must have shape \(n, 3\)"):
        ft.channel_matrix(d_od=np.zeros((1, 2)), d_hbo2_um=[0], d_hhb_um=[0])


def test_statistics_are_channel_major_and_exact():
    window = np.tile(np.arange(100.0)[:, None], (1, 8)) * np.arange(1, 9)
    stats = ft.statistics(window)
    assert stats.shape == (40,)
    assert ft.statistic_names()[:5] == [f"d_od_750_{s}" for s in ft.STATISTICS]
    assert stats[:5] == pytest.approx([49.5, np.arange(100.0).std(), 0.0, 99.0, 49.5])
    assert stats[35:] == pytest.approx([49.5 * 8, np.arange(100.0).std() * 8, 0, 99 * 8, 49.5 * 8])


def test_windows_every_second_labelled_at_their_end_and_skipping_bad_samples():
    n = 300
    ch = fake_channels(n)
    labels = np.arange(n) // 60
    t = np.arange(n) / 10
    w = ft.cut_windows(ch, labels, t, group="s01")
    assert len(w.labels) == 21  # ends at samples 99, 109, ..., 299
    assert w.t_end_s[0] == pytest.approx(9.9) and w.labels[-1] == labels[299]
    np.testing.assert_array_equal(w.sequences[1], ch[10:110])
    assert set(w.groups) == {"s01"}
    ch[150] = np.nan
    flags = np.zeros(n, dtype=int)
    flags[250] = 8
    w2 = ft.cut_windows(ch, labels, t, flags=flags)
    ends = np.round(w2.t_end_s * 10).astype(int)
    assert not any(e - 99 <= 150 <= e or e - 99 <= 250 <= e for e in ends)
    assert len(w2.labels) == 21 - 10 - 5  # windows ending 159..249 and 259..299 gone


def test_live_window_matches_the_batch_cut():
    ch = fake_channels(250, seed=3)
    batch = ft.cut_windows(ch, np.zeros(250), np.arange(250) / 10)
    live = ft.LiveWindow()
    got = []
    for i, row in enumerate(ch):
        live.push(row)
        if live.full and (i + 1 - ft.WINDOW_SAMPLES) % ft.STEP_SAMPLES == 0:
            got.append(live.window())
    assert len(got) == len(batch.labels)
    for (seq, stats), bseq, bstats in zip(got, batch.sequences, batch.stats):
        np.testing.assert_array_equal(seq, bseq)
        np.testing.assert_allclose(stats, bstats, rtol=0, atol=1e-12)
    live.push(ch[0], flags=4)
    assert not live.clean


def test_normaliser_round_trip_and_validation():
    w = ft.cut_windows(fake_channels(400), np.zeros(400), np.arange(400) / 10)
    norm = ft.Normaliser.fit(w.sequences, w.stats)
    seq, st = norm.apply(w.sequences, w.stats)
    assert seq.dtype == np.float32
    assert np.abs(seq.reshape(-1, 8).mean(axis=0)).max() < 1e-5
    again = ft.Normaliser.from_dict(norm.to_dict())
    np.testing.assert_array_equal(again.apply(w.sequences, w.stats)[1], st)
    bad = norm.to_dict()
    del bad["stats_std"]
    with pytest.raises(ValueError, match="lacks 'stats_std'"):
        ft.Normaliser.from_dict(bad)
    with pytest.raises(ValueError, match="zero windows"):
        ft.Normaliser.fit(w.sequences[:0], w.stats[:0])
