"""Seed 000 §III-A and §III-B in order: a pose track → features → wavelet matrices → voxels.

One call, :func:`extract_features`, used alike by ``python -m host video extract`` (a video
or a camera) and by the simulated workers' dataset command (``hwsim.workers``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from host.video.kinematics import NyquistReport, compute_features, nyquist_check
from host.video.track import PoseTrack
from host.video.voxels import SparseVoxels, voxelize
from host.video.wavelets import LEVELS, wavelet_matrices

__all__ = ["VideoFeatures", "extract_features"]


@dataclass
class VideoFeatures:
    """Everything the video model takes, frame by frame, with the track it came from.

    Attributes
    ----------
    track : PoseTrack
        The keypoints (px), their visibility and flags, the frame rate and provenance.
    feature_names : tuple of str
        One per column of ``features``, each with its unit in its name
        (:data:`host.video.kinematics.FEATURE_NAMES`).
    features : ndarray, shape (n_frames, n_features), float32
        Smoothed kinematic features; NaN where a keypoint they need is unknown.
    nyquist : list of NyquistReport
        Per feature, of the original (unsmoothed) signal: the share of its power near the
        Nyquist frequency, and whether it passes (seed 000 eq. 4, Fig. 3).
    wavelets : ndarray, shape (n_frames, n_features, n_levels), float32
        Per frame, the seed's n × l matrix: each feature reconstructed from its db4
        approximation coefficients at levels 1..l (seed eqs. 5–6); NaN in gaps.
    voxels : SparseVoxels
        The 20 × 20 × 20 posture grid of each frame, stored sparse (seed eq. 7).
    """

    track: PoseTrack
    feature_names: tuple[str, ...]
    features: np.ndarray
    nyquist: list[NyquistReport]
    wavelets: np.ndarray
    voxels: SparseVoxels

    @property
    def n_levels(self) -> int:
        """Number of wavelet levels, l."""
        return self.wavelets.shape[2]


def extract_features(
    track: PoseTrack,
    *,
    levels: int = LEVELS,
    progress: Callable[[str], None] | None = None,
) -> VideoFeatures:
    """Features, their Nyquist check, wavelet matrices and voxels of ``track``.

    ``progress`` is called with a short text before each step (the command prints it).
    """
    say = progress or (lambda _text: None)
    say("kinematic features")
    features, names = compute_features(track)
    # The seed checks the original signals against eq. 4 (Fig. 3), before smoothing.
    original, _ = compute_features(track, smooth_features=False)
    nyquist = nyquist_check(original, track.fps, names)
    say(f"db4 wavelet matrices, {levels} levels")
    # From the float32 values the kinematics file keeps, so that a file read back (which
    # makes the matrices again, host.video.features_file) holds the same matrices.
    features = features.astype(np.float32)
    wavelets = wavelet_matrices(features.astype(np.float64), levels=levels)
    say("3D posture voxels")
    voxels = voxelize(track)
    return VideoFeatures(
        track=track,
        feature_names=tuple(names),
        features=features,
        nyquist=nyquist,
        wavelets=wavelets.astype(np.float32),
        voxels=voxels,
    )
