"""Kinematic features (issue 15, point 2): host.video.kinematics on hand-built pose tracks."""

from __future__ import annotations

import numpy as np
import pytest

from host.video.keypoints import INDEX, NAMES
from host.video.kinematics import (
    FEATURE_NAMES,
    SMOOTHING_WINDOW_FRAMES,
    compute_features,
    head_tilts,
    joint_angles,
    nyquist_check,
    smooth,
)
from host.video.track import INTERPOLATED, PoseTrack

FPS = 30.0


def make_track(xyz: np.ndarray, flags: np.ndarray | None = None) -> PoseTrack:
    track = PoseTrack.from_keypoints(
        xyz, fps=FPS, width=854, height=480, source="hand-built", provenance="simulated"
    )
    if flags is not None:
        track.keypoint_flags = flags
    return track


def upright_pose() -> np.ndarray:
    """One (11, 3) pose facing the camera: arms hanging with bent elbows, px."""
    pose = {
        "nose": (427, 150, -60),
        "left_shoulder": (527, 250, 0),
        "right_shoulder": (327, 250, 0),
        "left_elbow": (547, 350, -10),
        "right_elbow": (307, 350, -10),
        "left_wrist": (517, 430, -70),
        "right_wrist": (337, 430, -70),
        "left_pinky": (507, 455, -80),
        "right_pinky": (347, 455, -80),
        "left_index": (517, 460, -90),
        "right_index": (337, 460, -90),
    }
    return np.array([pose[name] for name in NAMES], dtype=np.float64)


def column(name: str) -> int:
    return FEATURE_NAMES.index(name)


def test_feature_names_carry_units_and_are_unique() -> None:
    units = ("_px_per_s", "_px_per_s2", "_deg", "_deg_per_s", "_deg_per_s2")
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == 11 * 6 + 6 * 3 + 3
    assert all(name.endswith(units) for name in FEATURE_NAMES)
    examples = (
        "left_wrist_vx_px_per_s",
        "left_wrist_ax_px_per_s2",
        "left_elbow_angle_deg",
        "left_elbow_angular_velocity_deg_per_s",
        "left_elbow_angular_acceleration_deg_per_s2",
        "forward_head_tilt_deg",
        "lateral_head_tilt_left_deg",
    )
    assert set(examples) <= set(FEATURE_NAMES)


def test_constant_velocity_gives_that_velocity_and_zero_acceleration_to_the_run_ends() -> None:
    n = 120
    t = np.arange(n) / FPS
    xyz = np.repeat(upright_pose()[None], n, axis=0)
    velocity = np.array([45.0, -12.0, 6.0])  # px/s
    xyz[:, INDEX["left_wrist"]] += t[:, None] * velocity
    xyz[40:50, INDEX["left_wrist"]] = np.nan  # a gap: two runs, each with two ends
    features, names = compute_features(make_track(xyz))
    assert features.shape == (n, len(FEATURE_NAMES)) and names == list(FEATURE_NAMES)
    known = np.r_[0:40, 50:n]
    for axis, v in zip("xyz", velocity):
        vel = features[:, column(f"left_wrist_v{axis}_px_per_s")]
        acc = features[:, column(f"left_wrist_a{axis}_px_per_s2")]
        np.testing.assert_allclose(vel[known], v, rtol=1e-9)
        np.testing.assert_allclose(acc[known], 0.0, atol=1e-8)
        assert np.isnan(vel[40:50]).all() and np.isnan(acc[40:50]).all()
        # A still keypoint: zero, not NaN.
        np.testing.assert_allclose(features[:, column(f"nose_v{axis}_px_per_s")], 0.0, atol=1e-9)


def test_interpolated_keypoints_are_known_values() -> None:
    xyz = np.repeat(upright_pose()[None], 30, axis=0)
    flags = np.zeros((30, 11), np.uint8)
    flags[10:15, INDEX["left_elbow"]] = INTERPOLATED
    features, _ = compute_features(make_track(xyz, flags))
    assert np.isfinite(features).all()


def arm_with_elbow_angle(angle_deg: float, plane_normal: np.ndarray) -> np.ndarray:
    """A pose whose left elbow angle is ``angle_deg``, the arm in the plane ⊥ ``plane_normal``."""
    pose = upright_pose()
    elbow = pose[INDEX["left_elbow"]]
    u = np.cross(plane_normal, [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(plane_normal, u)
    w /= np.linalg.norm(w)
    a = np.radians(angle_deg)
    pose[INDEX["left_shoulder"]] = elbow + 110 * u
    pose[INDEX["left_wrist"]] = elbow + 95 * (np.cos(a) * u + np.sin(a) * w)
    return pose


@pytest.mark.parametrize("angle_deg", [90.0, 120.0, 155.0])
@pytest.mark.parametrize("normal", [(0.0, 0.0, 1.0), (0.3, -0.5, 0.8)])
def test_known_elbow_angle_is_recovered(angle_deg: float, normal: tuple) -> None:
    pose = arm_with_elbow_angle(angle_deg, np.asarray(normal))
    angles = joint_angles(pose[None])
    assert angles["left_elbow_angle_deg"][0] == pytest.approx(angle_deg, abs=1e-9)
    # ...and through compute_features, smoothed over a still track: unchanged.
    features, _ = compute_features(make_track(np.repeat(pose[None], 20, axis=0)))
    np.testing.assert_allclose(features[:, column("left_elbow_angle_deg")], angle_deg, atol=1e-9)
    np.testing.assert_allclose(
        features[:, column("left_elbow_angular_velocity_deg_per_s")], 0.0, atol=1e-9
    )


def test_shoulder_and_wrist_angles_of_a_constructed_pose() -> None:
    pose = upright_pose()
    x, y, z = np.eye(3)
    pose[INDEX["left_elbow"]] = pose[INDEX["left_shoulder"]] + 100 * y  # arm hanging
    pose[INDEX["left_wrist"]] = pose[INDEX["left_elbow"]] - 80 * z  # forearm to the camera
    hand = pose[INDEX["left_wrist"]] + 60 * y  # hand bent down
    pose[INDEX["left_index"]] = hand + 5 * x
    pose[INDEX["left_pinky"]] = hand - 5 * x
    angles = joint_angles(pose[None])
    assert angles["left_shoulder_angle_deg"][0] == pytest.approx(90.0, abs=1e-9)
    assert angles["left_elbow_angle_deg"][0] == pytest.approx(90.0, abs=1e-9)
    assert angles["left_wrist_angle_deg"][0] == pytest.approx(90.0, abs=1e-9)
    pose[INDEX["left_elbow"]] = pose[INDEX["left_shoulder"]] + 100 * x  # arm out sideways
    assert joint_angles(pose[None])["left_shoulder_angle_deg"][0] == pytest.approx(180.0)


def test_rotating_the_skeleton_in_the_image_plane_keeps_joint_angles_and_forward_tilt() -> None:
    pose = upright_pose() + np.random.default_rng(5).normal(0, 8, (11, 3))
    centre = np.array([427.0, 240.0, 0.0])
    poses = []
    for angle in np.radians([0, 15, 40, -70, 180]):
        c, s = np.cos(angle), np.sin(angle)
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        poses.append((pose - centre) @ rot.T + centre + (30, -20, 0))
    poses = np.array(poses)
    for name, values in joint_angles(poses).items():
        np.testing.assert_allclose(values, values[0], atol=1e-9, err_msg=name)
    forward = head_tilts(poses)["forward_head_tilt_deg"]
    np.testing.assert_allclose(forward, forward[0], atol=1e-9)


def test_forward_and_lateral_head_tilt_of_a_constructed_geometry() -> None:
    def head(nose: tuple) -> dict[str, float]:
        pose = upright_pose()
        pose[INDEX["left_shoulder"]] = (527, 300, 0)
        pose[INDEX["right_shoulder"]] = (327, 300, 0)
        pose[INDEX["nose"]] = nose
        return {k: float(v[0]) for k, v in head_tilts(pose[None]).items()}

    # The plane holds the shoulder line (along x) and (0, −100, z): tilt atan(|z| / 100).
    assert head((427, 200, 0))["forward_head_tilt_deg"] == pytest.approx(0.0, abs=1e-9)
    assert head((427, 200, -100))["forward_head_tilt_deg"] == pytest.approx(45.0)
    behind = head((427, 200, 100 * np.tan(np.radians(30))))
    assert behind["forward_head_tilt_deg"] == pytest.approx(-30.0)
    # Upright: both lines 45° below the horizontal.
    upright = head((427, 200, 0))
    assert upright["lateral_head_tilt_left_deg"] == pytest.approx(45.0)
    assert upright["lateral_head_tilt_right_deg"] == pytest.approx(45.0)
    # Head bent 30° towards the left shoulder about the shoulder midpoint (427, 300):
    # nose at (427 + 100·sin30°, 300 − 100·cos30°); left line 60°, right line 30°.
    bent = head((477, 300 - 100 * np.cos(np.radians(30)), 0))
    assert bent["lateral_head_tilt_left_deg"] == pytest.approx(60.0)
    assert bent["lateral_head_tilt_right_deg"] == pytest.approx(30.0)


def test_smoothing_keeps_constants_and_ramps_to_the_ends_and_never_bridges_a_gap() -> None:
    assert SMOOTHING_WINDOW_FRAMES == 5
    np.testing.assert_allclose(smooth(np.full(50, 3.25)), 3.25, atol=1e-12)
    ramp = 2.0 + 0.7 * np.arange(50)
    np.testing.assert_allclose(smooth(ramp), ramp, atol=1e-12)  # odd reflection: ends too
    # It does average: a 5-frame mean of k² is k² + (5² − 1)/12 = k² + 2 inside the run.
    square = np.arange(50.0) ** 2
    np.testing.assert_allclose(smooth(square)[2:-2], square[2:-2] + 2.0, atol=1e-9)
    # A gap splits the signal into runs smoothed on their own.
    rng = np.random.default_rng(6)
    x = rng.normal(size=60)
    x[20:23] = np.nan
    out = smooth(x)
    assert np.isnan(out[20:23]).all() and np.isfinite(out[:20]).all()
    np.testing.assert_allclose(out[:20], smooth(x[:20]))
    np.testing.assert_allclose(out[23:], smooth(x[23:]))
    # Runs too short for the window: 3 or 4 frames take a 3-frame mean; 1 or 2 stay as they are.
    np.testing.assert_array_equal(smooth(np.array([1.0, 5.0])), [1.0, 5.0])
    assert smooth(np.array([0.0, 3.0, 9.0]))[1] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="odd number"):
        smooth(x, window=4)


def test_derivatives_need_three_known_frames() -> None:
    xyz = np.repeat(upright_pose()[None], 12, axis=0)
    xyz[:, INDEX["nose"], 0] += np.arange(12) * 2.0
    xyz[[2, 5], INDEX["nose"]] = np.nan  # runs of 2, 2 and 6 frames
    features, _ = compute_features(make_track(xyz))
    vx = features[:, column("nose_vx_px_per_s")]
    assert np.isnan(vx[:6]).all()
    np.testing.assert_allclose(vx[6:], 60.0)


def test_nyquist_check_passes_a_slow_signal_and_fails_white_noise() -> None:
    n = 900
    t = np.arange(n) / FPS
    rng = np.random.default_rng(7)
    short = np.full(n, np.nan)
    short[:40] = 1.0
    features = np.column_stack(
        [10 * np.sin(2 * np.pi * 0.5 * t) + 3 * t, rng.normal(size=n), short, np.ones(n)]
    )
    slow, noise, too_short, constant = nyquist_check(features, FPS, ["a", "b", "c", "d"])
    assert slow.ok and slow.high_band_power_fraction < 1e-4 and slow.n_frames_used == n
    # White noise: a flat spectrum puts ≈ 20 % of its power above 0.8 · fs/2.
    assert not noise.ok and noise.high_band_power_fraction == pytest.approx(0.2, abs=0.04)
    assert not too_short.ok and np.isnan(too_short.high_band_power_fraction)
    assert "40 known frames" in too_short.reason
    assert constant.ok and constant.high_band_power_fraction == 0.0
    with pytest.raises(ValueError, match="expected"):
        nyquist_check(features, FPS, ["a"])
