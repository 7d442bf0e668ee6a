"""A sequence of upper-body poses on one uniform time base, from any source of poses.

A video file, a camera and the simulated workers (``hwsim.workers``) all give a
:class:`PoseTrack`; everything downstream (kinematics, wavelets, voxels, files, plots) takes
one. Coordinates are pixels of the source frame (seed 000 eqs. 1–3): x to the right, y down,
z the depth MediaPipe predicts, scaled by :attr:`PoseTrack.depth_px` (smaller is nearer the
camera). A keypoint that is not known in a frame is NaN there, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host.video.keypoints import NAMES

__all__ = [
    "FRAME_FLAGS",
    "KEYPOINT_FLAGS",
    "PROVENANCES",
    "PoseTrack",
    "VideoError",
]

# Per keypoint and frame (PoseTrack.keypoint_flags, bits of a uint8).
#: Filled by interpolation across a short gap (host.video.gaps).
INTERPOLATED = 1
#: Below the visibility threshold: removed (NaN) unless INTERPOLATED.
NOT_VISIBLE = 2
#: Outside the frame: the estimator placed it where the camera does not see.
OUT_OF_FRAME = 4
#: Removed by a plausibility check (host.video.plausibility).
IMPLAUSIBLE = 8
#: Flag name -> bit, per keypoint (one place for the names written to files and plots).
KEYPOINT_FLAGS: dict[str, int] = {
    "interpolated": INTERPOLATED,
    "not_visible": NOT_VISIBLE,
    "out_of_frame": OUT_OF_FRAME,
    "implausible": IMPLAUSIBLE,
}

# Per frame (PoseTrack.frame_flags, bits of a uint8).
#: The estimator found no person.
NO_POSE = 1
#: More than one person in view: the keypoints may belong to either.
MULTIPLE_PEOPLE = 2
#: The skeleton's proportions or its jump from the previous frame are not one person's.
IMPLAUSIBLE_SKELETON = 4
#: The frame could not be decoded (a damaged or cut-short file).
UNREADABLE = 8
#: Flag name -> bit, per frame.
FRAME_FLAGS: dict[str, int] = {
    "no_pose": NO_POSE,
    "multiple_people": MULTIPLE_PEOPLE,
    "implausible_skeleton": IMPLAUSIBLE_SKELETON,
    "unreadable": UNREADABLE,
}

#: Where a track's poses came from.
PROVENANCES = ("video", "camera", "simulated")


class VideoError(Exception):
    """A video, camera or kinematics file that cannot be used as asked.

    Printed by ``python -m host`` as one line: ``<source>: <problem>``.

    Parameters
    ----------
    source : str or path-like
        The file, camera (``camera 0``) or key concerned.
    problem : str
        What is wrong and what is allowed.
    """

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


@dataclass
class PoseTrack:
    """Upper-body keypoints over time.

    Attributes
    ----------
    time_s : ndarray, shape (n_frames,), float64
        Time of each frame, s, uniform at ``fps`` (from the first frame, or on the
        device's clock when a session says so).
    xyz_px : ndarray, shape (n_frames, 11, 3), float64
        Keypoints in :data:`host.video.keypoints.NAMES` order, px (seed 000 eqs. 1–3);
        NaN where unknown.
    visibility : ndarray, shape (n_frames, 11), float64
        The estimator's visibility, 0–1; NaN in frames without a pose.
    keypoint_flags : ndarray, shape (n_frames, 11), uint8
        Bits of :data:`KEYPOINT_FLAGS`.
    frame_flags : ndarray, shape (n_frames,), uint8
        Bits of :data:`FRAME_FLAGS`.
    fps : float
        Frames per second of ``time_s``.
    width, height : int
        Frame size, px (W and H of seed eqs. 1–2).
    depth_px : float
        D of seed eq. 3: the pixels one unit of MediaPipe's normalised z spans.
    source : str
        The video file, ``camera N`` or the simulated session's name.
    provenance : str
        One of :data:`PROVENANCES`.
    notes : list of str
        What the pipeline found and did (gaps filled, frames refused, resampling).
    metadata : dict
        Anything else worth keeping (source fps, simulated worker's parameters, ...);
        values are str, int or float.
    borg_time_s, borg_rating : ndarray, shape (n_ratings,), optional
        Borg CR10 ratings and when they were given, s on ``time_s``'s clock (simulated
        workers, or a session with ratings); empty if none.
    """

    time_s: np.ndarray
    xyz_px: np.ndarray
    visibility: np.ndarray
    keypoint_flags: np.ndarray
    frame_flags: np.ndarray
    fps: float
    width: int
    height: int
    depth_px: float
    source: str
    provenance: str
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, str | int | float] = field(default_factory=dict)
    borg_time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    borg_rating: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        n = len(self.time_s)
        k = len(NAMES)
        shapes = {
            "xyz_px": (self.xyz_px, (n, k, 3)),
            "visibility": (self.visibility, (n, k)),
            "keypoint_flags": (self.keypoint_flags, (n, k)),
            "frame_flags": (self.frame_flags, (n,)),
            "borg_rating": (self.borg_rating, self.borg_time_s.shape),
        }
        for name, (array, shape) in shapes.items():
            if array.shape != shape:
                raise ValueError(f"PoseTrack.{name} has shape {array.shape}, expected {shape}")
        if self.provenance not in PROVENANCES:
            allowed = ", ".join(PROVENANCES)
            raise ValueError(f"PoseTrack.provenance {self.provenance!r} is not one of {allowed}")
        if not self.fps > 0:
            raise ValueError(f"PoseTrack.fps must be > 0, got {self.fps}")

    @classmethod
    def from_keypoints(
        cls,
        xyz_px: np.ndarray,
        *,
        fps: float,
        width: int,
        height: int,
        source: str,
        provenance: str,
        depth_px: float | None = None,
    ) -> PoseTrack:
        """A track of keypoints from elsewhere (another estimator, motion capture, a test).

        ``xyz_px``: shape (n_frames, 11, 3), px, NaN where a keypoint is unknown; frames at
        ``fps`` from 0 s. Known keypoints get visibility 1; unknown ones visibility NaN and
        the flag NOT_VISIBLE, and a frame with none known NO_POSE. ``depth_px`` defaults to
        ``width`` (D = W, as for MediaPipe: :mod:`host.video.pose`).
        """
        xyz = np.asarray(xyz_px, dtype=np.float64)
        n = len(xyz)
        known = np.isfinite(xyz).all(axis=-1)
        return cls(
            time_s=np.arange(n) / fps,
            xyz_px=xyz,
            visibility=np.where(known, 1.0, np.nan),
            keypoint_flags=np.where(known, 0, NOT_VISIBLE).astype(np.uint8),
            frame_flags=np.where(known.any(axis=1), 0, NO_POSE).astype(np.uint8),
            fps=fps,
            width=width,
            height=height,
            depth_px=float(width if depth_px is None else depth_px),
            source=source,
            provenance=provenance,
        )

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.time_s)

    @property
    def duration_s(self) -> float:
        """Time covered, s (n_frames / fps)."""
        return self.n_frames / self.fps

    def known(self) -> np.ndarray:
        """Shape (n_frames, 11) bool: keypoints with a position (measured or interpolated)."""
        return np.isfinite(self.xyz_px).all(axis=2)
