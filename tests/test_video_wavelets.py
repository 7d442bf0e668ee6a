"""The seed's db4 wavelet matrices (issue 15, point 3): host.video.wavelets.

The expected band of each level comes from db4 theory, independently of PyWavelets'
wavedec/waverec: rebuilding from the level-j approximation alone passes a sine of
frequency f with the amplitude gain prod_{k<j} |H0(2^k·ω)|² / 2, ω = 2πf/fs, where H0 is
the db4 low-pass filter (its 8 coefficients, normalised so H0(0) = √2). Its half-power
point of level j is the nominal band edge fs/2^(j+1).
"""

from __future__ import annotations

import numpy as np
import pytest
import pywt

from host.video.wavelets import LEVELS, WAVELET, wavelet_matrices

FPS = 30.0


def sine_amplitude(y: np.ndarray, freq_hz: float, frames: slice) -> float:
    """Least-squares amplitude of a sine at ``freq_hz`` in ``y[frames]`` (offset fitted too)."""
    t = np.arange(len(y))[frames] / FPS
    basis = np.column_stack(
        [np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t), np.ones_like(t)]
    )
    coef, *_ = np.linalg.lstsq(basis, y[frames], rcond=None)
    return float(np.hypot(coef[0], coef[1]))


def db4_gain(freq_hz: float, level: int) -> float:
    """Amplitude gain of the level-``level`` approximation, from the db4 filter alone."""
    lo = np.asarray(pywt.Wavelet("db4").dec_lo)
    gain = 1.0
    for k in range(level):
        omega = 2 * np.pi * freq_hz / FPS * 2**k
        gain *= abs(np.sum(lo * np.exp(-1j * omega * np.arange(len(lo))))) ** 2 / 2
    return gain


def test_db4_is_the_seeds_length_8_wavelet() -> None:
    assert WAVELET == "db4"
    assert pywt.Wavelet(WAVELET).dec_len == 8
    # LEVELS resolvable on the seed's 450-frame (15 s) window.
    assert pywt.dwt_max_level(450, 8) >= LEVELS


def test_slow_and_fast_sines_separate_by_level_as_db4_predicts() -> None:
    n = 900  # 30 s at 30 fps
    t = np.arange(n) / FPS
    slow_hz, fast_hz = 0.2, 6.0
    x = np.sin(2 * np.pi * slow_hz * t) + np.sin(2 * np.pi * fast_hz * t)
    m = wavelet_matrices(np.column_stack([x, 2 * x]), levels=6)
    assert m.shape == (n, 2, 6)
    middle = slice(150, 750)  # 5 s clear of either end: edges are checked elsewhere
    for level in range(1, 7):
        slow = sine_amplitude(m[:, 0, level - 1], slow_hz, middle)
        fast = sine_amplitude(m[:, 0, level - 1], fast_hz, middle)
        assert slow == pytest.approx(db4_gain(slow_hz, level), abs=0.03), level
        assert fast == pytest.approx(db4_gain(fast_hz, level), abs=0.03), level
    # In words: level 1 (0–7.5 Hz) keeps most of the 6 Hz sine; levels 2 and up
    # (0–3.75 Hz and below) have lost it; levels 1–5 (down to 0–0.47 Hz) keep 0.2 Hz whole.
    assert sine_amplitude(m[:, 0, 0], fast_hz, middle) > 0.75
    for level in range(2, 7):
        assert sine_amplitude(m[:, 0, level - 1], fast_hz, middle) < 0.01
    for level in range(1, 6):
        assert sine_amplitude(m[:, 0, level - 1], slow_hz, middle) > 0.99
    # The transform is linear: the second feature is twice the first.
    np.testing.assert_allclose(m[:, 1], 2 * m[:, 0], atol=1e-9)


def test_constant_stays_constant_at_every_level_to_the_edges() -> None:
    m = wavelet_matrices(np.full((450, 1), 37.5))
    assert m.shape == (450, 1, LEVELS)
    np.testing.assert_allclose(m, 37.5, atol=1e-9)


def test_each_level_equals_the_inverse_of_a_level_j_decomposition_without_details() -> None:
    x = np.random.default_rng(3).normal(size=517).cumsum()
    m = wavelet_matrices(x[:, None], levels=6)[:, 0]
    for level in range(1, 7):
        coeffs = pywt.wavedec(x, "db4", mode="symmetric", level=level)
        rebuilt = pywt.waverec(
            [coeffs[0]] + [np.zeros_like(c) for c in coeffs[1:]], "db4", mode="symmetric"
        )[: len(x)]
        np.testing.assert_allclose(m[:, level - 1], rebuilt, atol=1e-9)


def test_gap_is_never_bridged_and_short_runs_give_nan_for_levels_they_cannot_hold() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=600).cumsum()
    x[300:310] = np.nan  # a gap
    x[500:] = np.nan
    x[520:540] = rng.normal(size=20)  # a 20-frame run: dwt_max_level(20, 8) == 1
    m = wavelet_matrices(x[:, None], levels=6)[:, 0]
    assert np.isnan(m[300:310]).all() and np.isnan(m[500:520]).all()
    assert np.isnan(m[540:]).all()
    # 300 frames resolve 5 levels (7·2^5 = 224 ≤ 300 < 448), 190 frames 4, 20 frames 1.
    assert np.isfinite(m[:300, :5]).all() and np.isnan(m[:300, 5]).all()
    assert np.isfinite(m[310:500, :4]).all() and np.isnan(m[310:500, 4:]).all()
    assert np.isfinite(m[520:540, 0]).all() and np.isnan(m[520:540, 1:]).all()
    # Each run is its own signal: changing one run leaves the others untouched.
    y = x.copy()
    y[310:500] += 100.0 * np.sin(np.arange(190))
    m2 = wavelet_matrices(y[:, None], levels=6)[:, 0]
    np.testing.assert_array_equal(m2[:300, :5], m[:300, :5])
    np.testing.assert_array_equal(m2[520:540, 0], m[520:540, 0])
    # ...and equals that run decomposed on its own.
    np.testing.assert_allclose(m[:300], wavelet_matrices(x[:300, None], levels=6)[:, 0])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="levels must be"):
        wavelet_matrices(np.zeros((100, 2)), levels=0)
    with pytest.raises(ValueError, match="expected 2-D"):
        wavelet_matrices(np.zeros(100))
