"""The video model's windows: which frames, which label, and the arrays the network takes.

Seed 000 §III-C/§IV: windows of :data:`~host.video.fatigue_net.WINDOW_FRAMES` frames (30 s)
every :data:`~host.video.fatigue_net.STRIDE_FRAMES` frames; a session is cut where the Borg
rating first reaches :data:`~host.video.fatigue_net.FATIGUE_BORG` into a non-fatigued and a
fatigued part, and windows are made within each part (label 0 and 1). The model runs at
:data:`~host.video.fatigue_net.MODEL_FPS`: every ``frame_step``-th frame of the kinematics
file (30 fps → every second frame).

Wavelet matrices are standardised per kinematic feature with the training set's mean and
standard deviation (:class:`Standardiser`, kept in the model's metadata); unknown values
(NaN: gaps) become 0, the training mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from host.video.model_spec import FATIGUE_BORG, MODEL_FPS, STRIDE_FRAMES, WINDOW_FRAMES
from host.video.pipeline import VideoFeatures
from host.video.track import VideoError

__all__ = [
    "Standardiser",
    "fatigue_onset_s",
    "frame_step",
    "labelled_windows",
    "window_arrays",
    "window_starts",
]

#: How far a file's frame rate may be from a whole multiple of the model's, relative (1 %:
#: the resampled kinematics files are exact; a camera's measured rate is within this).
FPS_TOLERANCE = 0.01


def frame_step(fps: float, source: str = "kinematics") -> int:
    """Frames of a file at ``fps`` per model frame (30 fps → 2).

    Raises
    ------
    VideoError
        ``fps`` is not a whole multiple of :data:`MODEL_FPS` (within 1 %).
    """
    step = round(fps / MODEL_FPS)
    if step < 1 or abs(fps - step * MODEL_FPS) > FPS_TOLERANCE * fps:
        raise VideoError(
            source,
            f"frame rate {fps:g} frames/s; the video model needs a whole multiple of "
            f"{MODEL_FPS:g} frames/s (extract the video again: host video extract resamples "
            "to 30 frames/s)",
        )
    return step


def window_starts(n_model_frames: int, *, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """First model frame of each window that fits in ``lo``..``hi`` (exclusive), every stride.

    Returns ndarray (n_windows,) int64, empty when the span is shorter than one window.
    """
    hi = n_model_frames if hi is None else hi
    if hi - lo < WINDOW_FRAMES:
        return np.zeros(0, dtype=np.int64)
    return np.arange(lo, hi - WINDOW_FRAMES + 1, STRIDE_FRAMES, dtype=np.int64)


def fatigue_onset_s(vf: VideoFeatures) -> float:
    """Time (s, on the track's clock) the Borg rating first reaches 7; inf if it never does.

    Raises VideoError if the file holds no Borg ratings (nothing to label with).
    """
    track = vf.track
    if len(track.borg_rating) == 0:
        raise VideoError(track.source, "no Borg ratings: windows cannot be labelled")
    reached = np.flatnonzero(np.asarray(track.borg_rating) >= FATIGUE_BORG)
    return float(track.borg_time_s[reached[0]]) if len(reached) else math.inf


def labelled_windows(vf: VideoFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a session with ratings, made within its two parts (seed 000 §IV).

    Returns
    -------
    starts : ndarray (n,), int64
        First model frame of each window.
    labels : ndarray (n,), int64
        1 if the window lies in the fatigued part (Borg ≥ 7), else 0.
    """
    step = frame_step(vf.track.fps, vf.track.source)
    time_s = vf.track.time_s[::step]
    onset = np.searchsorted(time_s, fatigue_onset_s(vf))
    before = window_starts(len(time_s), hi=int(onset))
    after = window_starts(len(time_s), lo=int(onset))
    starts = np.concatenate([before, after])
    labels = np.concatenate([np.zeros(len(before)), np.ones(len(after))]).astype(np.int64)
    return starts, labels


@dataclass(frozen=True)
class Standardiser:
    """Per kinematic feature mean and SD of the wavelet matrices, shapes (n_features,)."""

    mean: np.ndarray
    sd: np.ndarray

    @classmethod
    def fit(cls, sessions: list[VideoFeatures]) -> Standardiser:
        """From every known value of every level of the sessions' wavelet matrices."""
        n = sessions[0].wavelets.shape[1]
        total, total_sq, count = np.zeros(n), np.zeros(n), np.zeros(n)
        for vf in sessions:
            w = vf.wavelets.astype(np.float64)
            known = np.isfinite(w)
            total += np.where(known, w, 0.0).sum(axis=(0, 2))
            total_sq += np.where(known, w * w, 0.0).sum(axis=(0, 2))
            count += known.sum(axis=(0, 2))
        count = np.maximum(count, 1)
        mean = total / count
        sd = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        return cls(mean, np.where(sd > 1e-9, sd, 1.0))

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "sd": self.sd.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Standardiser:
        return cls(np.asarray(data["mean"], float), np.asarray(data["sd"], float))

    def apply(self, wavelets: np.ndarray) -> np.ndarray:
        """(n, n_features, n_levels) → standardised float32, 0 where unknown."""
        out = (wavelets - self.mean[None, :, None]) / self.sd[None, :, None]
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def window_arrays(
    vf: VideoFeatures, starts: np.ndarray, standardiser: Standardiser
) -> tuple[np.ndarray, np.ndarray]:
    """The network's two inputs for the windows starting at model frames ``starts``.

    Returns
    -------
    voxels : ndarray (n, WINDOW_FRAMES, 20, 20, 20, 1) float32, 0/1
    wavelets : ndarray (n, WINDOW_FRAMES, n_features, n_levels, 1) float32, standardised
    """
    step = frame_step(vf.track.fps, vf.track.source)
    # First to last frame taken, inclusive: a window ending on a file's last frame (odd
    # frame count) must not ask for the frame after it.
    span = (WINDOW_FRAMES - 1) * step + 1
    voxels, wavelets = [], []
    for start in np.asarray(starts, dtype=np.int64):
        first = int(start) * step
        voxels.append(vf.voxels.dense(first, first + span)[::step])
        wavelets.append(standardiser.apply(vf.wavelets[first : first + span : step]))
    return (
        np.stack(voxels).astype(np.float32)[..., None],
        np.stack(wavelets)[..., None],
    )
