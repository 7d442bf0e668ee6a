"""MediaPipe's pose landmarker on a video's frames: the seed's 11 keypoints in pixels.

Seed 000 §III-A: frames read with OpenCV, keypoints from MediaPipe Pose (BlazePose,
Bazarevsky et al. 2020), normalised coordinates scaled to pixels (eqs. 1–3):
``x_px = x·W``, ``y_px = y·H``, ``z_px = z·D``. MediaPipe documents z as "the landmark depth
with the depth at the midpoint of hips being the origin ... The magnitude of z uses roughly
the same scale as x" (google/mediapipe docs/solutions/pose.md, "POSE_LANDMARKS"; the same
words in the Pose Landmarker guide), so D = W here.

After the estimator, in order: the skeleton checked (:mod:`host.video.plausibility`), short
gaps filled (:mod:`host.video.gaps`), the rate brought to 30 fps
(:mod:`host.video.resample`); each adds a note to the track.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from host.video.gaps import fill_short_gaps
from host.video.keypoints import MEDIAPIPE_INDEX, NAMES
from host.video.plausibility import FACE_EVERY_N_FRAMES, FaceCounter, check_plausibility
from host.video.resample import check_rate, to_reference_rate
from host.video.track import NO_POSE, NOT_VISIBLE, OUT_OF_FRAME, PoseTrack, VideoError

if TYPE_CHECKING:
    from host.video.video_io import VideoSource

__all__ = [
    "MODEL_COMPLEXITY",
    "VISIBILITY_THRESHOLD",
    "clean_track",
    "estimate_poses",
    "landmarks_to_track",
]

#: Keypoints whose MediaPipe visibility is below this are removed (NaN, NOT_VISIBLE).
#: 0.5 is MediaPipe's own cut-off for drawing a landmark
#: (``mediapipe.python.solutions.drawing_utils._VISIBILITY_THRESHOLD = 0.5``): a landmark
#: MediaPipe itself would not draw is not used either.
VISIBILITY_THRESHOLD = 0.5
#: The full pose model, the only one inside the mediapipe 0.10.14 wheel (0 and 2 download).
MODEL_COMPLEXITY = 1


def landmarks_to_track(
    norm_xyz: np.ndarray,
    visibility: np.ndarray,
    *,
    fps: float,
    width: int,
    height: int,
    source: str,
    provenance: str,
    time_s: np.ndarray | None = None,
) -> PoseTrack:
    """Normalised landmarks → a PoseTrack in pixels, unseen or out-of-frame keypoints removed.

    Parameters
    ----------
    norm_xyz : ndarray, shape (n_frames, 11, 3)
        MediaPipe's normalised x, y (0–1 across the frame) and z; NaN in frames without a pose.
    visibility : ndarray, shape (n_frames, 11)
        MediaPipe's visibility 0–1; NaN in frames without a pose.
    fps, width, height, source, provenance
        As in :class:`PoseTrack`.
    time_s : ndarray, shape (n_frames,), optional
        Frame times, s; index / fps if not given.

    Returns
    -------
    PoseTrack
        ``xyz_px`` by seed eqs. 1–3 with D = W; keypoints with visibility below
        :data:`VISIBILITY_THRESHOLD` flagged NOT_VISIBLE, with normalised x or y outside
        [0, 1] flagged OUT_OF_FRAME, both NaN. Frames without a pose are NO_POSE and their
        keypoints NOT_VISIBLE (so every NaN keypoint carries its reason).
    """
    n = len(norm_xyz)
    scale = np.array([width, height, width], dtype=float)
    xyz_px = norm_xyz * scale
    kflags = np.zeros((n, len(NAMES)), np.uint8)
    no_pose = ~np.isfinite(norm_xyz).all(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        unseen = ~(visibility >= VISIBILITY_THRESHOLD)
        xy = norm_xyz[:, :, :2]
        outside = ((xy < 0) | (xy > 1)).any(axis=2)
    kflags[unseen] |= NOT_VISIBLE
    kflags[outside] |= OUT_OF_FRAME
    xyz_px[unseen | outside] = np.nan
    fflags = np.where(no_pose, NO_POSE, 0).astype(np.uint8)
    times = np.arange(n) / fps if time_s is None else np.asarray(time_s, float)
    track = PoseTrack(
        time_s=times,
        xyz_px=xyz_px,
        visibility=visibility.astype(float),
        keypoint_flags=kflags,
        frame_flags=fflags,
        fps=fps,
        width=width,
        height=height,
        depth_px=float(width),
        source=source,
        provenance=provenance,
    )
    n_pose = int((~no_pose).sum())
    track.notes.append(
        f"pose found in {n_pose} of {n} frames; {int(unseen[~no_pose].sum())} keypoint-frames "
        f"below visibility {VISIBILITY_THRESHOLD} and {int(outside.sum())} outside the frame "
        "removed"
    )
    return track


def estimate_poses(
    source: VideoSource,
    *,
    max_frames: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    view: str = "front",
) -> PoseTrack:
    """The seed's 11 keypoints of every frame of ``source``, checked and at 30 fps.

    ``view`` is where the camera stands (:func:`clean_track`): ``"front"`` for the seed's
    workers, ``"side"`` for seed 003's elbow hold.

    Parameters
    ----------
    source : VideoSource
        From :func:`host.video.video_io.open_video` or ``open_camera``.
    max_frames : int, optional
        Stop after this many frames (a camera runs until stopped otherwise).
    progress : callable, optional
        ``progress(frames_done, frames_expected_or_None)`` after every frame.

    Returns
    -------
    PoseTrack
        Pixels (seed eqs. 1–3), short gaps filled, implausible skeletons removed, 30 fps;
        ``notes`` say what each step did.

    Raises
    ------
    VideoError
        From the source (nothing decodes, frame size changes), or a frame rate outside
        :data:`host.video.resample.ALLOWED_FPS_RANGE` (a file's before any frame is read).
    """
    # OpenCV only here: a simulated track (hwsim) is cleaned without it.
    from host.video.video_io import MIN_FRAMES, capture_fps, native_stderr_silenced

    if source.provenance == "video":
        check_rate(source.fps, source.name)  # before MediaPipe spends time on the frames
    import mediapipe as mp  # slow import (TensorFlow Lite, absl): only when poses are wanted

    expected = source.frame_count
    if max_frames is not None:
        expected = max_frames if expected is None else min(expected, max_frames)
    k = len(NAMES)
    coords: list[np.ndarray] = []
    vis: list[np.ndarray] = []
    times: list[float] = []
    faces: list[int] = []
    counter = FaceCounter()
    with native_stderr_silenced():  # TensorFlow Lite's and absl's start-up lines
        pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=MODEL_COMPLEXITY)
    first = True
    with pose:
        for index, time_s, rgb in source.frames():
            if max_frames is not None and index >= max_frames:
                break
            if rgb.shape[:2] != (source.height, source.width):
                raise VideoError(
                    source.name,
                    f"frame {index} is {rgb.shape[1]}x{rgb.shape[0]} px, the first was "
                    f"{source.width}x{source.height}; a video must keep one frame size",
                )
            if first:  # its first frame logs an absl warning from C++
                with native_stderr_silenced():
                    result = pose.process(rgb)
                first = False
            else:
                result = pose.process(rgb)
            row = np.full((k, 3), np.nan)
            row_vis = np.full(k, np.nan)
            if result.pose_landmarks is not None:
                marks = result.pose_landmarks.landmark
                for i, mp_index in enumerate(MEDIAPIPE_INDEX):
                    mark = marks[mp_index]
                    row[i] = (mark.x, mark.y, mark.z)
                    row_vis[i] = mark.visibility
            coords.append(row)
            vis.append(row_vis)
            times.append(time_s)
            faces.append(counter(rgb) if index % FACE_EVERY_N_FRAMES == 0 else -1)
            if progress is not None:
                progress(index + 1, expected)
    n = len(times)
    if n < MIN_FRAMES:  # e.g. --max-frames 1
        raise VideoError(source.name, f"gave {n} frame(s); velocities need at least {MIN_FRAMES}")
    time_s = np.asarray(times, float)
    fps = source.fps
    if source.provenance == "camera":  # the capture clock's rate, not the reported one
        fps = capture_fps(time_s, source.fps)
    track = landmarks_to_track(
        np.asarray(coords, float).reshape(n, k, 3),
        np.asarray(vis, float).reshape(n, k),
        fps=fps,
        width=source.width,
        height=source.height,
        source=source.name,
        provenance=source.provenance,
        time_s=time_s,
    )
    track.notes[:0] = list(source.notes)
    track.metadata["source_fps"] = float(source.fps)
    return clean_track(track, face_counts=np.asarray(faces, int), view=view)


#: Where the camera may stand: facing the person (seed 000's workers) or beside them, its
#: axis across the body (seed 003's elbow hold, host collect --video and hwsim.body).
VIEWS = ("front", "side")


def clean_track(
    track: PoseTrack, *, face_counts: np.ndarray | None = None, view: str = "front"
) -> PoseTrack:
    """What every estimated track goes through before its features, in order.

    The skeleton checked (:func:`host.video.plausibility.check_plausibility`; faces counted
    per frame in ``face_counts``, -1 where not counted, when the frames were seen), short
    gaps filled (:func:`host.video.gaps.fill_short_gaps`), the rate brought to 30 frames/s
    (:func:`host.video.resample.to_reference_rate`). :func:`estimate_poses` calls it on a
    video's track; the simulated workers' dataset on theirs, so that training data is
    cleaned as a video's is. ``view="side"`` (a camera beside the person) skips the
    skeleton checks, which need the shoulders' width in the image.

    Raises ValueError for a ``view`` not in :data:`VIEWS`.
    """
    if view not in VIEWS:
        raise ValueError(f"clean_track: view {view!r} is not one of {', '.join(VIEWS)}")
    if view == "front":
        # Checks before gap filling: interpolating between invented or left/right-swapped
        # skeletons would make plausible-looking ones (seen on a forearm-only view).
        track = check_plausibility(track, face_counts=face_counts)
    else:
        # The checks measure everything in shoulder widths, which a side view hides (the
        # shoulders overlap): every frame would fail them. Not checked, and said.
        note = "plausibility: side view, the skeleton checks (made for a front view) not run"
        track = dataclasses.replace(track, notes=[*track.notes, note])
    track = fill_short_gaps(track)
    return to_reference_rate(track)
