"""Per-window summaries of a long track, for :func:`host.video.plots.plot_features`.

A 30-minute session at 30 frames/s is 54000 frames: drawn frame by frame its joint angles
and wrist speed are a solid block of colour. :func:`window_summary` cuts the track into
windows of :data:`WINDOW_S` and gives, per window, the numbers in which fatigue shows
(the simulated workers' effects, hw-sim/hwsim/workers.py): each joint angle's median and
5th–95th percentiles (range of motion, posture), the head tilts' medians, how far the
shoulder line rose, the wrists' peak speed, the cycle's period and how alike successive
cycles are, the share of frames flagged, and the Borg ratings given in the window.

All statistics ignore NaN (numpy's nan-functions); a window with fewer than
:data:`MIN_VALID_SHARE` of its frames valid for a quantity gives NaN for it, so a window
mostly without a pose shows as a gap, not as a number from a few frames.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from host.video.keypoints import INDEX
from host.video.plots_common import FLAG_SHADES, angle_columns, tilt_columns
from host.video.track import INTERPOLATED

if TYPE_CHECKING:
    from host.video.pipeline import VideoFeatures

__all__ = [
    "CYCLE_LAG_S",
    "LONG_TRACK_S",
    "MIN_VALID_SHARE",
    "PERCENTILES",
    "WINDOW_S",
    "WindowTable",
    "window_summary",
]

#: A track longer than this, s, is drawn as per-window summaries; a shorter one frame by
#: frame (assumption: 2 min at 30 frames/s is 3600 points across ~1000 px of axis, where
#: single movements can no longer be told apart).
LONG_TRACK_S = 120.0
#: Window length, s: the seed's sliding window (seed 000 §IV: "a window length of 450
#: frames (30 seconds) and a stride of 100 frames"; here windows do not overlap).
WINDOW_S = 30.0
#: Lower and upper percentile of a window's band, % (assumption: the 5th and 95th ignore a
#: few stray frames yet follow the extremes of each movement; their difference is the
#: range of motion the panel shows).
PERCENTILES = (5.0, 95.0)
#: A window's last part shorter than this share of :data:`WINDOW_S` is dropped; a window
#: (or a quantity in it) with fewer valid frames than this share gives NaN (assumption).
MIN_VALID_SHARE = 0.5
#: Lags searched for the cycle period, s (assumption: assembly cycles of a few seconds,
#: the simulated tasks' 6–10 s, hw-sim/hwsim/worker_tasks.py; at most half a window so the
#: autocorrelation at the longest lag still averages over half the window).
CYCLE_LAG_S = (2.0, 15.0)


@dataclass
class WindowTable:
    """Per-window numbers of one track, all arrays of shape (n_windows,) unless stated.

    Attributes
    ----------
    start_s, mid_s : ndarray
        Start and middle of each window, s on the track's clock.
    window_s : float
        Window length, s (:data:`WINDOW_S`).
    angle_median_deg, angle_low_deg, angle_high_deg : dict of str to ndarray
        Per joint-angle feature (its name): median and :data:`PERCENTILES`, ° (or rad as
        the name says).
    tilt_median_deg : dict of str to ndarray
        Per head-tilt feature: its median.
    shoulder_rise_pct : ndarray
        Height of the shoulders' midpoint in the image above its median in the first window
        with one, as % of the window's median shoulder width (image y points down, so a
        rise is a fall of y). Assumes a still camera: the person moving towards the camera
        or the camera moving changes it as well.
    wrist_peak_speed_px_s : dict of str to ndarray
        ``"left"``/``"right"``: the :data:`PERCENTILES` upper percentile of the wrist's
        image-plane speed, px/s, from the smoothed velocity features
        (``*_wrist_vx_px_per_s``, ``*_vy_*``; host.video.kinematics).
    cycle_period_s : ndarray
        Lag of the highest (biased) autocorrelation within :data:`CYCLE_LAG_S` of the
        wrists' image x (mean removed; NaN frames skipped; the two wrists'
        autocorrelations averaged), s.
    cycle_repeatability : ndarray
        The unbiased autocorrelation at that lag (dimensionless, ≤ 1 up to noise): 1 when
        every cycle repeats the last exactly, lower when cycles vary in timing or path.
    flagged_pct : dict of str to ndarray
        Per frame flag (its legend text, plots_common.FLAG_SHADES): share of the window's
        frames with it, %.
    interpolated_pct, unknown_pct : ndarray
        Share of the window's keypoint positions interpolated / unknown, %.
    borg_median : ndarray
        Median of the Borg CR10 ratings given in the window (NaN if none).
    """

    start_s: np.ndarray
    mid_s: np.ndarray
    window_s: float
    angle_median_deg: dict[str, np.ndarray] = field(default_factory=dict)
    angle_low_deg: dict[str, np.ndarray] = field(default_factory=dict)
    angle_high_deg: dict[str, np.ndarray] = field(default_factory=dict)
    tilt_median_deg: dict[str, np.ndarray] = field(default_factory=dict)
    shoulder_rise_pct: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wrist_peak_speed_px_s: dict[str, np.ndarray] = field(default_factory=dict)
    cycle_period_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cycle_repeatability: np.ndarray = field(default_factory=lambda: np.zeros(0))
    flagged_pct: dict[str, np.ndarray] = field(default_factory=dict)
    interpolated_pct: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unknown_pct: np.ndarray = field(default_factory=lambda: np.zeros(0))
    borg_median: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return len(self.start_s)


def _windows(n_frames: int, fps: float, window_s: float) -> list[slice]:
    """Frame slices of consecutive windows; a last part under MIN_VALID_SHARE is dropped."""
    w = max(int(round(window_s * fps)), 1)
    out = [slice(a, min(a + w, n_frames)) for a in range(0, n_frames, w)]
    return [s for s in out if s.stop - s.start >= MIN_VALID_SHARE * w]


def _stat(values: np.ndarray, windows: list[slice], fn, w: int) -> np.ndarray:
    """``fn`` of ``values`` (n_frames,) in each window; NaN where fewer than
    MIN_VALID_SHARE × w values are finite."""
    out = np.full(len(windows), np.nan)
    for k, s in enumerate(windows):
        v = values[s]
        v = v[np.isfinite(v)]
        if v.size >= MIN_VALID_SHARE * w:
            out[k] = fn(v)
    return out


def _autocorr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation of ``x`` (1-D, NaN skipped) at lags 0..len-1, divided by lag 0's:
    unbiased (each lag's sum over the pairs where both values are known, divided by their
    number) and biased (divided by lag 0's number of values, so it falls off with the lag
    and its highest peak is the first full period, not a multiple of it, where the
    unbiased one of a steady cycle is as high at two or three periods). NaN where there is
    no pair."""
    known = np.isfinite(x)
    n = len(x)
    if known.sum() < 2:
        return np.full(n, np.nan), np.full(n, np.nan)
    z = np.where(known, x - np.nanmean(x), 0.0)
    m = known.astype(float)
    num = np.correlate(z, z, "full")[n - 1 :]
    pairs = np.correlate(m, m, "full")[n - 1 :]
    if not num[0] > 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        unbiased = np.where(pairs > 0, num / pairs, np.nan) / (num[0] / pairs[0])
    return unbiased, num / num[0]


def _cycle(wrist_x: np.ndarray, windows: list[slice], fps: float) -> tuple[np.ndarray, ...]:
    """Per window: the cycle period, s, and the autocorrelation there (see WindowTable)."""
    lo, hi = (int(round(s * fps)) for s in CYCLE_LAG_S)
    period, repeat = np.full(len(windows), np.nan), np.full(len(windows), np.nan)
    for k, s in enumerate(windows):
        n = s.stop - s.start
        if n <= lo + 1 or np.isfinite(wrist_x[s]).all(axis=1).mean() < MIN_VALID_SHARE:
            continue
        pairs = [_autocorr(wrist_x[s, c]) for c in range(wrist_x.shape[1])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a wrist never known: all NaN
            unbiased = np.nanmean([u for u, _ in pairs], axis=0)
            biased = np.nanmean([b for _, b in pairs], axis=0)
        top = min(hi, n // 2) + 1
        if np.isfinite(biased[lo:top]).any():
            lag = lo + int(np.nanargmax(biased[lo:top]))
            period[k], repeat[k] = lag / fps, unbiased[lag]
    return period, repeat


def window_summary(vf: VideoFeatures, *, window_s: float = WINDOW_S) -> WindowTable:
    """Per-window numbers of ``vf`` (see :class:`WindowTable`; windows of ``window_s``, s).

    Raises
    ------
    ValueError
        ``window_s`` is not > 0.
    """
    if not window_s > 0:
        raise ValueError(f"window_summary: window_s must be > 0 s, got {window_s!r}")
    track = vf.track
    fps = track.fps
    w = max(int(round(window_s * fps)), 1)
    windows = _windows(track.n_frames, fps, window_s)
    t = track.time_s
    start = np.array([t[s.start] for s in windows])
    table = WindowTable(start_s=start, mid_s=start + 0.5 * window_s, window_s=window_s)
    names = vf.feature_names
    features = np.asarray(vf.features, dtype=np.float64)
    lo_q, hi_q = PERCENTILES
    for j, _joint, _side in angle_columns(names):
        v = features[:, j]
        table.angle_median_deg[names[j]] = _stat(v, windows, np.median, w)
        table.angle_low_deg[names[j]] = _stat(v, windows, lambda x: np.percentile(x, lo_q), w)
        table.angle_high_deg[names[j]] = _stat(v, windows, lambda x: np.percentile(x, hi_q), w)
    for j in tilt_columns(names):
        table.tilt_median_deg[names[j]] = _stat(features[:, j], windows, np.median, w)

    xy = track.xyz_px[:, :, :2]
    left, right = xy[:, INDEX["left_shoulder"]], xy[:, INDEX["right_shoulder"]]
    mid_y = _stat(0.5 * (left[:, 1] + right[:, 1]), windows, np.median, w)
    width = _stat(np.hypot(*(left - right).T), windows, np.median, w)
    first = np.flatnonzero(np.isfinite(mid_y) & (width > 0))
    ref = mid_y[first[0]] if first.size else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        table.shoulder_rise_pct = (ref - mid_y) / width * 100.0

    index = {name: j for j, name in enumerate(names)}
    for side in ("left", "right"):
        cols = [index.get(f"{side}_wrist_v{a}_px_per_s") for a in ("x", "y")]
        if None in cols:
            table.wrist_peak_speed_px_s[side] = np.full(len(windows), np.nan)
            continue
        speed = np.hypot(features[:, cols[0]], features[:, cols[1]])
        table.wrist_peak_speed_px_s[side] = _stat(
            speed, windows, lambda x: np.percentile(x, hi_q), w
        )
    wrist_x = xy[:, [INDEX["left_wrist"], INDEX["right_wrist"]], 0]
    table.cycle_period_s, table.cycle_repeatability = _cycle(wrist_x, windows, fps)

    for bit, text, _colour in FLAG_SHADES:
        flagged = (track.frame_flags & bit).astype(bool)
        table.flagged_pct[text] = np.array([flagged[s].mean() * 100.0 for s in windows])
    interp = (track.keypoint_flags & INTERPOLATED).astype(bool)
    unknown = ~track.known()
    table.interpolated_pct = np.array([interp[s].mean() * 100.0 for s in windows])
    table.unknown_pct = np.array([unknown[s].mean() * 100.0 for s in windows])
    borg = np.full(len(windows), np.nan)
    for k, s in enumerate(windows):
        given = (track.borg_time_s >= t[s.start]) & (track.borg_time_s < t[s.start] + window_s)
        if given.any():
            borg[k] = np.median(track.borg_rating[given])
    table.borg_median = borg
    return table
