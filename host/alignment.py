"""Time alignment of two recordings of one quantity: both resampled to a common rate,
then the lag found by cross-correlation (step 2-3 of :mod:`host.validate`).

Sign convention: a positive lag means the device is late, device(t) ≈ reference(t − lag),
on the reference's time base after the clock offset the files' start times give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from host.recording import Channel, Recording

__all__ = ["Alignment", "ValidationError", "align", "cross_correlate", "resample"]

#: Two samples further apart than this many median sample intervals mark a dropout: no
#: value is made up between them (a single lost sample, 2 intervals, is bridged).
GAP_FACTOR = 3.0
#: Fewest paired samples a lag needs (and :func:`host.validate.validate` fewest units).
MIN_PAIRS = 5


class ValidationError(ValueError):
    """The pair cannot be compared as asked; one line naming the files and the problem.

    Raised by every step of :func:`host.validate.validate` (which re-exports it).
    """


@dataclass(frozen=True)
class Alignment:
    """Where the device's signal best matches the reference's.

    ``clock_offset_s``: device start − reference start from the files' wall-clock start
    times (0 when either is unknown, ``clock_known`` False). ``lag_s``: the further shift
    found by cross-correlation; positive means the device lags (is late):
    device(t) ≈ reference(t − lag_s) on the reference's time base after the clock offset.
    Resolution 1/rate. ``lags_s``/``r``: the correlation curve (NaN where too few pairs).
    """

    clock_offset_s: float
    clock_known: bool
    lag_s: float
    peak_r: float
    max_lag_s: float
    at_bound: bool
    lags_s: np.ndarray
    r: np.ndarray
    overlap_start_s: float
    overlap_end_s: float


def resample(
    t_s: np.ndarray, values: np.ndarray, rate_hz: float, offset_s: float = 0.0
) -> tuple[int, np.ndarray]:
    """Values at the grid times k / rate_hz covered by ``t_s + offset_s``.

    Linear interpolation between the two neighbouring samples; NaN where either is NaN,
    or where they are more than :data:`GAP_FACTOR` median sample intervals apart (a
    dropout), so no value is made up across a gap.

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Sample times, s, strictly increasing.
    values : ndarray, shape (n,)
        NaN where no value.
    rate_hz : float
        Grid rate, Hz.
    offset_s : float
        Added to ``t_s`` first (puts a recording on another's time base).

    Returns
    -------
    k0 : int
        Grid index of the first value (its time is k0 / rate_hz).
    grid_values : ndarray, shape (m,)
    """
    t = np.asarray(t_s, dtype=float) + offset_s
    v = np.asarray(values, dtype=float)
    k0 = math.ceil(t[0] * rate_hz - 1e-6)
    k1 = math.floor(t[-1] * rate_hz + 1e-6)
    if k1 < k0:
        return k0, np.empty(0)
    grid = np.arange(k0, k1 + 1) / rate_hz
    if t.size == 1:
        return k0, np.full(grid.size, v[0])
    j = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, t.size - 2)
    step = t[j + 1] - t[j]
    w = np.clip((grid - t[j]) / step, 0.0, 1.0)
    with np.errstate(invalid="ignore"):
        out = v[j] * (1.0 - w) + v[j + 1] * w
    out[step > GAP_FACTOR * float(np.median(np.diff(t)))] = np.nan
    out = np.where(w < 1e-6, v[j], np.where(w > 1.0 - 1e-6, v[j + 1], out))
    return k0, out


def cross_correlate(
    reference: np.ndarray, device: np.ndarray, max_lag: int, min_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of reference[k] with device[k + m] for m in −max_lag…max_lag.

    Both on one grid, same length, NaN where no value; only pairs where both are finite
    count, and a lag with fewer than ``min_pairs`` of them (or a constant side) gets NaN.

    Returns
    -------
    lags : ndarray of int, shape (2·L + 1,), L = min(max_lag, len(reference) − 1)
        In grid samples; the device lags (is late) by m samples at a positive m.
    r : ndarray, shape (2·L + 1,)
    """
    n = reference.size
    max_lag = min(max_lag, max(n - 1, 0))  # beyond it no sample pairs
    lags = np.arange(-max_lag, max_lag + 1)
    r = np.full(lags.size, np.nan)
    for i, m in enumerate(lags):
        a = reference[max(0, -m) : n - max(0, m)]
        b = device[max(0, m) : n - max(0, -m)]
        ok = np.isfinite(a) & np.isfinite(b)
        if np.count_nonzero(ok) < min_pairs:
            continue
        a = a[ok] - a[ok].mean()
        b = b[ok] - b[ok].mean()
        den = math.sqrt(float(a @ a) * float(b @ b))
        if den > 0:
            r[i] = float(a @ b) / den
    return lags, r


def align(
    device: Recording,
    dev_ch: Channel,
    reference: Recording,
    ref_ch: Channel,
    *,
    rate_hz: float,
    max_lag_s: float,
) -> tuple[Alignment, np.ndarray, np.ndarray, np.ndarray]:
    """Put ``dev_ch`` on the reference's time base (steps 2-3 of the module's description).

    The files' start times, when both give one, place the device first (clock offset);
    the lag searched within ±max_lag_s is then the best Pearson correlation between the
    two resampled signals, each lag needing half the shorter signal's valid samples.

    Returns
    -------
    alignment : Alignment
    t_s : ndarray, shape (m,)
        Grid times of the aligned overlap (first to last paired sample), reference time
        base, s.
    device_values, reference_values : ndarray, shape (m,)
        NaN where a side has no value.

    Raises
    ------
    ValidationError
        A signal with no valid value or constant; no lag gives enough paired samples.
    """
    clock_known = device.start_utc is not None and reference.start_utc is not None
    offset = (device.start_utc - reference.start_utc).total_seconds() if clock_known else 0.0
    kr, ref = resample(reference.t_s, ref_ch.values, rate_hz)
    kd, dev = resample(device.t_s, dev_ch.values, rate_hz, offset)
    for rec, ch, grid in ((device, dev_ch, dev), (reference, ref_ch, ref)):
        _check_signal(rec, ch, grid)
    k0 = min(kr, kd)
    size = max(kr + ref.size, kd + dev.size) - k0
    ref_all = _placed(ref, kr - k0, size)
    dev_all = _placed(dev, kd - k0, size)
    # A lag longer than the placed signals pairs nothing: the search stops there (a
    # --max-lag-s of hours would otherwise allocate a correlation per grid step).
    wanted = round(max_lag_s * rate_hz)
    max_lag = int(min(wanted, size - 1))
    valid = min(np.count_nonzero(np.isfinite(ref)), np.count_nonzero(np.isfinite(dev)))
    min_pairs = max(MIN_PAIRS, math.ceil(valid / 2))
    lags, r = cross_correlate(ref_all, dev_all, max_lag, min_pairs)
    if not np.any(np.isfinite(r)):
        raise ValidationError(
            f"no overlap after alignment: {device.source.name} covers "
            f"{device.t_s[0] + offset:.1f}–{device.t_s[-1] + offset:.1f} s and "
            f"{reference.source.name} {reference.t_s[0]:.1f}–{reference.t_s[-1]:.1f} s on the "
            f"reference's time base ({_clock_text(clock_known, offset)}); no lag within "
            f"±{max_lag_s:g} s pairs {min_pairs} valid samples (half the shorter signal)"
        )
    best = int(np.nanargmax(r))
    m = int(lags[best])
    dev_al = _placed(dev_all[max(0, m) :], max(0, -m), size)  # dev_al[k] = dev_all[k + m]
    idx = np.flatnonzero(np.isfinite(ref_all) & np.isfinite(dev_al))
    span = slice(int(idx[0]), int(idx[-1]) + 1)
    t_s = ((k0 + np.arange(size)) / rate_hz)[span]
    alignment = Alignment(
        clock_offset_s=offset,
        clock_known=clock_known,
        lag_s=m / rate_hz,
        peak_r=float(r[best]),
        max_lag_s=float(max_lag_s),
        at_bound=bool(max_lag > 0 and abs(m) == max_lag and max_lag == wanted),
        lags_s=lags / rate_hz,
        r=r,
        overlap_start_s=float(t_s[0]),
        overlap_end_s=float(t_s[-1]),
    )
    return alignment, t_s, dev_al[span], ref_all[span]


def _check_signal(rec: Recording, ch: Channel, grid: np.ndarray) -> None:
    finite = grid[np.isfinite(grid)]
    where = f"{rec.source.name} sensor {rec.sensor}: {ch.name}"
    if finite.size == 0:
        raise ValidationError(f"{where} has no valid value")
    if np.ptp(finite) == 0:
        raise ValidationError(
            f"{where} is constant ({finite[0]:g} {ch.unit}) over the whole recording: "
            "nothing to align or compare"
        )


def _placed(values: np.ndarray, at: int, size: int) -> np.ndarray:
    out = np.full(size, np.nan)
    n = max(0, min(values.size, size - at))
    out[at : at + n] = values[:n]
    return out


def _clock_text(known: bool, offset: float) -> str:
    if known:
        return f"clock offset {offset:+.1f} s from the files' start times"
    return "start times not both known: both taken to start together"
