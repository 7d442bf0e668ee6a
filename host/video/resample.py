"""A pose track brought to the seed's 30 fps, or refused.

The seed chose 30 fps (§III-A, :data:`host.video.keypoints.REFERENCE_FPS`); its features,
smoothing window, wavelet levels and 450-frame windows assume it. A track at another rate
within :data:`ALLOWED_FPS_RANGE` is resampled by linear interpolation of each keypoint in
time, only within runs of known positions (never across a gap); outside it, a VideoError.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from host.video.keypoints import REFERENCE_FPS
from host.video.track import INTERPOLATED, NOT_VISIBLE, UNREADABLE, PoseTrack, VideoError

__all__ = ["ALLOWED_FPS_RANGE", "check_rate", "to_reference_rate"]

#: Source frame rates accepted for resampling, frames/s. Lower bound: at 20 fps the Nyquist
#: frequency is 10 Hz, above the band of voluntary human movement (nearly all power of
#: limb trajectories lies below 6 Hz: Winter, "Biomechanics and Motor Control of Human
#: Movement", 4th ed., §3.4.4, the 6 Hz cut-off used for walking markers), so linear
#: interpolation up to 30 fps adds no content the seed's features need; below it the
#: movement itself is undersampled. Upper bound 120 fps (phone slow-motion): above it,
#: decimating by interpolation without a low-pass filter would alias the estimator's
#: frame-to-frame jitter (assumption).
ALLOWED_FPS_RANGE = (20.0, 120.0)
#: Frame times within this share of a frame of the uniform grid count as already uniform.
UNIFORM_TOLERANCE_FRAMES = 0.01
#: Two source frames farther apart than this many frame intervals (1/fps) are a stall: a
#: camera that gave no frame for a while. Nothing is interpolated across one (assumption:
#: a camera's frame intervals vary by well under a frame; 2.5 leaves room for one dropped
#: frame and its neighbours' jitter).
MAX_STEP_FRAMES = 2.5


def check_rate(fps: float, source: str) -> None:
    """Raise a one-line VideoError naming ``source``, ``fps`` and the allowed range if
    ``fps`` (frames/s) is outside :data:`ALLOWED_FPS_RANGE`."""
    low, high = ALLOWED_FPS_RANGE
    if not low <= fps <= high:
        raise VideoError(
            source,
            f"{fps:g} frames/s is outside the {low:g}-{high:g} frames/s that can be "
            f"brought to the seed's {REFERENCE_FPS:g} frames/s; record at 30 frames/s",
        )


def to_reference_rate(track: PoseTrack) -> PoseTrack:
    """``track`` at :data:`REFERENCE_FPS`, on a uniform grid from its first frame's time.

    Each keypoint coordinate and its visibility are interpolated linearly in time between
    the two source frames around each new time, only where both are known; elsewhere NaN.
    Keypoint and frame flags come from the nearest source frame; a new keypoint that is NaN
    also gets the removal flags of the source frame that made it unknown (never
    INTERPOLATED). A track already uniform at 30 fps is returned unchanged.

    Raises
    ------
    VideoError
        ``track.fps`` outside :data:`ALLOWED_FPS_RANGE`, naming the rate and the range.
    """
    check_rate(track.fps, track.source)
    t = track.time_s
    n = len(t)
    grid = t[0] + np.arange(n) / REFERENCE_FPS if n else t
    if (
        abs(track.fps - REFERENCE_FPS) < 1e-9
        and n
        and np.max(np.abs(t - grid)) <= UNIFORM_TOLERANCE_FRAMES / REFERENCE_FPS
    ):
        return track
    if n == 0:
        return dataclasses.replace(track, fps=REFERENCE_FPS)
    n_new = int(np.floor((t[-1] - t[0]) * REFERENCE_FPS + 1e-6)) + 1
    new_t = t[0] + np.arange(n_new) / REFERENCE_FPS
    # Source frame at or before each new time (right) and the one after it (left + 1).
    left = np.clip(np.searchsorted(t, new_t, side="right") - 1, 0, n - 1)
    right = np.minimum(left + 1, n - 1)
    span = t[right] - t[left]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(span > 0, (new_t - t[left]) / span, 0.0)
    # A new time on a source frame (to rounding) takes that frame alone.
    on_right = w >= 1 - 1e-9
    left = np.where(on_right, right, left)
    w = np.where(on_right, 0.0, w)
    right = np.where(w <= 1e-9, left, right)
    nearest = np.where(w <= 0.5, left, right)
    xyz = track.xyz_px
    new_xyz = (1 - w)[:, None, None] * xyz[left] + w[:, None, None] * xyz[right]
    vis = track.visibility
    new_vis = (1 - w)[:, None] * vis[left] + w[:, None] * vis[right]
    known = track.known()
    # A stall (a camera giving no frame for a while) is a gap, never a straight line.
    stalled = span > MAX_STEP_FRAMES / track.fps
    new_known = known[left] & known[right] & ~stalled[:, None]
    new_xyz[~new_known] = np.nan
    kflags = track.keypoint_flags[nearest].copy()
    why = (track.keypoint_flags[left] | track.keypoint_flags[right]) & ~np.uint8(INTERPOLATED)
    why[stalled] |= NOT_VISIBLE
    kflags[~new_known] = why[~new_known]
    fflags = track.frame_flags[nearest].copy()
    fflags[stalled] |= UNREADABLE
    out = dataclasses.replace(
        track,
        time_s=new_t,
        xyz_px=new_xyz,
        visibility=new_vis,
        keypoint_flags=kflags,
        frame_flags=fflags,
        fps=REFERENCE_FPS,
        notes=[*track.notes],
        metadata={**track.metadata, "resampled_from_fps": float(track.fps)},
    )
    out.notes.append(
        f"resampled from {track.fps:g} to {REFERENCE_FPS:g} frames/s by linear interpolation "
        f"within known runs ({n} → {n_new} frames)"
        + (
            f"; {int(stalled.sum())} frames inside stalls of the source (no frame for more "
            f"than {MAX_STEP_FRAMES:g} frame intervals) left empty, flagged unreadable"
            if stalled.any()
            else ""
        )
    )
    return out
