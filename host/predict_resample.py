"""The device's regular time base for another device's samples (:mod:`host.predict`):
linear interpolation between valid samples, never across a gap longer than a stated
bound, and block means from a faster source, as the device's chain averages a block."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["BLOCK_MEAN_ABOVE", "DEFAULT_MAX_GAP_S", "resample"]

#: Longest gap between two valid source samples bridged by interpolation, s (ten device
#: samples). A choice: a 10 Hz OxySoft export has steps of 0.1 s, but the Train.Red app
#: delivers its samples in bursts up to 0.9 s apart (docs/importers.md), which the
#: importer does not count as dropouts either; a longer gap is a dropout, and the
#: windows that contain it are not run.
DEFAULT_MAX_GAP_S = 1.0
#: A source faster than this multiple of the device's rate is averaged per block.
BLOCK_MEAN_ABOVE = 1.5


def resample(
    t_s: np.ndarray,
    columns: Sequence[np.ndarray],
    *,
    rate_hz: float,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Columns on a regular time base from ``t_s[0]`` at ``rate_hz``.

    Each column alone: from a source at most :data:`BLOCK_MEAN_ABOVE` times faster than
    ``rate_hz`` (median step), linear interpolation between its two valid samples around
    each new time when they are at most ``max_gap_s`` apart; from a faster source, first
    the mean of its valid samples in each block ``[t - 0.5/rate, t + 0.5/rate)`` (as the
    device averages the conversions of a block), then the same interpolation over empty
    blocks. NaN elsewhere (gaps, before the first or after the last valid sample).

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Source times, s, strictly increasing.
    columns : sequence of ndarray, each shape (n,)
        Values (NaN: no value).
    rate_hz, max_gap_s : float
        Target rate, Hz; longest gap bridged, s.

    Returns
    -------
    t_s : ndarray, shape (k,)
        ``t_s[0] + i / rate_hz`` up to ``t_s[-1]``.
    columns : list of ndarray, each shape (k,)
    """
    t = np.asarray(t_s, dtype=float)
    n = int(math.floor((t[-1] - t[0]) * rate_hz + 1e-9)) + 1
    grid = t[0] + np.arange(n) / rate_hz
    fast = t.size > 1 and np.median(np.diff(t)) * rate_hz * BLOCK_MEAN_ABOVE < 1.0
    out = []
    for column in columns:
        v = np.asarray(column, dtype=float)
        src_t, src_v = (grid, _block_means(t, v, grid, rate_hz)) if fast else (t, v)
        out.append(_interpolate(src_t, src_v, grid, max_gap_s))
    return grid, out


def _block_means(t: np.ndarray, v: np.ndarray, grid: np.ndarray, rate_hz: float) -> np.ndarray:
    """Mean of the valid ``v`` with ``t`` in each block around ``grid`` (NaN if none)."""
    ok = np.isfinite(v)
    edges = np.append(grid - 0.5 / rate_hz, grid[-1] + 0.5 / rate_hz)
    idx = np.searchsorted(edges, t[ok], side="right") - 1
    keep = (idx >= 0) & (idx < grid.size)
    sums = np.bincount(idx[keep], weights=v[ok][keep], minlength=grid.size)
    counts = np.bincount(idx[keep], minlength=grid.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _interpolate(t: np.ndarray, v: np.ndarray, grid: np.ndarray, max_gap_s: float) -> np.ndarray:
    ok = np.isfinite(v)
    tv, vv = t[ok], v[ok]
    out = np.full(grid.size, np.nan)
    if tv.size == 0:
        return out
    right = np.searchsorted(tv, grid, side="left")  # first valid sample at or after
    exact = (right < tv.size) & (tv[np.minimum(right, tv.size - 1)] == grid)
    inner = (right > 0) & (right < tv.size)
    r = np.minimum(right, tv.size - 1)
    bridged = inner & (tv[r] - tv[np.maximum(right - 1, 0)] <= max_gap_s)
    use = exact | bridged
    out[use] = np.interp(grid[use], tv, vv)
    return out
