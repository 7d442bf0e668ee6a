"""The main job's simulated body (hwsim.body): the elbow hold a camera sees, from the truth.

Trials are the main job's own (hwsim.wearable.wear_board: subject, seed and keys), so the
body is the same virtual person as the muscle signals. Everything here is simulated.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from host.video.keypoints import INDEX, NAMES, REFERENCE_FPS
from host.video.task_failure import TARGET_FLEXION_DEG, TOLERANCE_DEG, elbow_flexion_deg
from host.video.track import OUT_OF_FRAME
from hwsim import body
from hwsim.physiology import derive_rng, simulate_session, typical_subject
from hwsim.protocols import PROTOCOLS
from hwsim.wearable import wear_board

SEED = 2025
#: 10 subjects × 2 sides of the main job: 12 of these 20 trials end in task failure.
TRIALS = [(subject, side) for subject in range(10) for side in ("left", "right")]


def _band_rms(x: np.ndarray, lo_hz: float = 8.0, hi_hz: float = 12.0) -> float:
    """RMS of ``x`` (NaN filled with its mean) in the tremor band, by FFT, same units."""
    x = np.where(np.isfinite(x), x, np.nanmean(x))
    x = x - x.mean()
    power = np.abs(np.fft.rfft(x)) ** 2
    f_hz = np.fft.rfftfreq(len(x), 1.0 / REFERENCE_FPS)
    return float(np.sqrt(2.0 * power[(f_hz >= lo_hz) & (f_hz <= hi_hz)].sum()) / len(x))


@pytest.fixture(scope="module")
def trials() -> list[tuple[object, body.BodySession]]:
    out = []
    for subject, side in TRIALS:
        truth, _board = wear_board(subject=subject, side=side, seed=SEED)
        out.append((truth, body.simulate_body(truth, seed=SEED)))
    return out


def _windows(truth, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Early and late 10 s of the hold (after taking the posture / before its end), its end."""
    (start, planned_end), *_ = body.hold_windows(truth)
    end = truth.task_failure_s if truth.task_failure_s is not None else planned_end
    settled = start + body.TAKE_POSTURE_S + 1.0
    early = (t_s > settled) & (t_s < settled + 10.0)
    late = (t_s > end - 11.0) & (t_s < end - 1.0)
    return early, late, end


def test_track_is_a_simulated_30_fps_side_view_of_the_whole_trial(trials) -> None:
    truth, session = trials[0]
    track = session.track
    assert track.provenance == "simulated" and track.fps == REFERENCE_FPS
    assert track.xyz_px.shape == (track.n_frames, len(NAMES), 3)
    assert track.n_frames == round(truth.duration_s * REFERENCE_FPS)
    assert np.array_equal(track.borg_rating, truth.borg.rating)
    assert track.metadata["task_failure_s"] == truth.task_failure_s
    assert track.metadata["view"] == f"side ({truth.side})"
    # The trial arm stays in frame; the far arm is hidden behind the trunk.
    near, far = truth.side + "_", ("right_" if truth.side == "left" else "left_")
    for part in ("shoulder", "elbow", "wrist"):
        assert not (track.keypoint_flags[:, INDEX[near + part]] & OUT_OF_FRAME).any()
    assert np.nanmedian(track.visibility[:, INDEX[near + "elbow"]]) > 0.9
    assert np.nanmedian(track.visibility[:, INDEX[far + "elbow"]]) < 0.75


def test_true_flexion_is_the_sessions_and_the_ground_truth_function_agrees(trials) -> None:
    for truth, session in trials[:4]:
        t_s, flexion = body.true_flexion_deg(truth, seed=SEED)
        assert np.array_equal(t_s, session.track.time_s)
        assert np.array_equal(flexion, session.flexion_deg)


def test_the_held_angle_cannot_leave_the_band_before_failure_by_construction() -> None:
    assert body.MAX_HOLD_DEVIATION_DEG < TOLERANCE_DEG


def test_baseline_hold_and_rest_angles_follow_the_seed(trials) -> None:
    for truth, session in trials:
        t, f = session.track.time_s, session.flexion_deg
        (start, planned_end), *_ = body.hold_windows(truth)
        end = truth.task_failure_s if truth.task_failure_s is not None else planned_end
        assert np.all(f[t < start] == body.BASELINE_FLEXION_DEG)  # forearm at 90°
        held = (t >= start + body.TAKE_POSTURE_S) & (t < end - 0.1)
        assert np.all(np.abs(f[held] - TARGET_FLEXION_DEG) < TOLERANCE_DEG)
        after = t > end + body.LOWERING_S + 0.5
        assert np.allclose(f[after], body.LOWERED_FLEXION_DEG)  # arm lowered in the rest


def test_the_angle_leaves_the_band_for_good_at_the_sessions_failure_time(trials) -> None:
    failed = [(truth, s) for truth, s in trials if truth.task_failure_s is not None]
    assert len(failed) >= 8
    frame_s = 1.0 / REFERENCE_FPS
    for truth, session in failed:
        t, f = session.track.time_s, session.flexion_deg
        start = body.hold_windows(truth)[0][0] + body.TAKE_POSTURE_S
        inside = np.abs(f - TARGET_FLEXION_DEG) <= TOLERANCE_DEG
        last_in = t[(t > start) & inside].max()
        first_out = t[(t > start) & ~inside].min()
        assert abs(last_in - truth.task_failure_s) < 2 * frame_s
        assert abs(first_out - truth.task_failure_s) < 2 * frame_s


def test_measured_flexion_follows_the_true_angle_better_in_the_image_plane(trials) -> None:
    for truth, session in trials:
        planar = elbow_flexion_deg(session.track, truth.side)
        spatial = elbow_flexion_deg(session.track, truth.side, planar=False)
        error = np.nanmedian(np.abs(planar - session.flexion_deg))
        assert error < 4.5  # deg, per frame, through MediaPipe-like jitter
        assert error < np.nanmedian(np.abs(spatial - session.flexion_deg))
        t = session.track.time_s
        (start, _), *_ = body.hold_windows(truth)
        _, _, end = _windows(truth, t)
        held = (t > start + body.TAKE_POSTURE_S) & (t < end - 0.5)
        assert abs(np.nanmean(planar[t < start - 1.0]) - body.BASELINE_FLEXION_DEG) < 5.0
        assert abs(np.nanmean(planar[held]) - np.mean(session.flexion_deg[held])) < 3.0


def test_forearm_sinks_and_tremor_grows_with_fatigue(trials) -> None:
    measured_sink = []
    for truth, session in trials:
        t, f = session.track.time_s, session.flexion_deg
        early, late, _ = _windows(truth, t)
        assert session.fatigue[late].mean() > session.fatigue[early].mean()
        # The true tremor (8–12 Hz) grows with fatigue, and the camera sees it grow.
        assert _band_rms(f[late]) > 2.0 * _band_rms(f[early])
        measured = elbow_flexion_deg(session.track, truth.side)
        assert _band_rms(measured[late]) > _band_rms(measured[early])
        if truth.task_failure_s is not None:
            assert f[early].mean() - f[late].mean() > 1.0  # deg: the forearm sank
            measured_sink.append(np.nanmean(measured[early]) - np.nanmean(measured[late]))
    assert np.mean(measured_sink) > 1.5


def test_same_person_both_sides_and_the_same_arguments_give_the_same_track(trials) -> None:
    (left, s_left), (_right, s_right) = trials[0], trials[1]
    assert s_left.track.metadata["stature_m"] == s_right.track.metadata["stature_m"]
    again = body.body_track(left, seed=SEED)
    assert np.array_equal(again.xyz_px, s_left.track.xyz_px, equal_nan=True)
    other_seed = body.body_track(left, seed=SEED + 1)
    assert not np.array_equal(other_seed.xyz_px, s_left.track.xyz_px, equal_nan=True)


def test_a_hold_without_failure_is_lowered_after_its_planned_end() -> None:
    subject = typical_subject()
    strong = dataclasses.replace(
        subject, upper=dataclasses.replace(subject.upper, endurance_50_s=300.0)
    )
    truth = simulate_session(strong, PROTOCOLS["upper_limb"], "right", derive_rng(SEED, "held"))
    assert truth.task_failure_s is None
    t, f = body.true_flexion_deg(truth, seed=SEED)
    (_, planned_end), *_ = body.hold_windows(truth)
    assert np.all(np.abs(f[(t > 25.0) & (t <= planned_end)] - TARGET_FLEXION_DEG) < TOLERANCE_DEG)
    assert f[-1] == body.LOWERED_FLEXION_DEG


def test_only_the_upper_limb_and_known_cameras() -> None:
    truth, _board = wear_board(protocol="lower_limb", subject=1, seed=SEED)
    with pytest.raises(ValueError, match="only the upper limb") as info:
        body.body_track(truth, seed=SEED)
    assert "\n" not in str(info.value)
    truth, _board = wear_board(subject=1, seed=SEED)
    with pytest.raises(ValueError, match="camera '4k' is not one of 854x480, 1280x720"):
        body.body_track(truth, seed=SEED, camera="4k")
