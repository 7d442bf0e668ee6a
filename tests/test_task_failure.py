"""Task failure marked from the elbow angle (host.video.task_failure).

On the main job's simulated trials (hwsim.wearable.wear_board's truth, hwsim.body's video)
the detected failure is compared with the simulated one; on hand-made angle traces each
rule of the detector is checked on its own. Everything simulated; nothing is timed.
"""

from __future__ import annotations

import numpy as np
import pytest

from host.video.keypoints import INDEX, NAMES, REFERENCE_FPS
from host.video.task_failure import (
    CONFIRM_DEPTH_DEG,
    END_GRACE_S,
    TOLERANCE_DEG,
    TaskFailure,
    detect_task_failure,
    elbow_flexion_deg,
)
from host.video.track import PoseTrack
from hwsim.body import hold_windows, simulate_body
from hwsim.wearable import wear_board

SEED = 2025
FRAME_S = 1.0 / REFERENCE_FPS
#: Stated error of the detected failure time on the simulated trials, s. Over 100 subjects ×
#: 2 sides (``python benchmarks/task_failure_error.py --subjects 100``) the largest was
#: 1.90 s, where a person held within a few degrees of the band's edge and the video's slow
#: jitter took the measured angle out before the true one; the median 0.10 s. On these 20
#: subjects (after issue 19): 26 failures, one missed in the detector's end grace, the
#: others max 1.42 s, median 0.12 s.
MAX_ERROR_S = 2.0
MEDIAN_ERROR_S = 0.2


@pytest.fixture(scope="module")
def outcomes() -> list[tuple[float | None, TaskFailure | None, float]]:
    """(simulated failure, detected failure, planned end of the hold) for 20 subjects × 2
    sides of the main job."""
    out = []
    for subject in range(20):
        for side in ("left", "right"):
            truth, _board = wear_board(subject=subject, side=side, seed=SEED)
            track = simulate_body(truth, seed=SEED).track
            (start, planned_end), *_ = hold_windows(truth)
            flexion = elbow_flexion_deg(track, side)
            out.append(
                (
                    truth.task_failure_s,
                    detect_task_failure(track.time_s, flexion, start, planned_end),
                    planned_end,
                )
            )
    return out


def test_failures_of_simulated_subjects_are_found_within_the_stated_error(outcomes) -> None:
    failed = [(sim, found, end) for sim, found, end in outcomes if sim is not None]
    assert len(failed) >= 15  # both outcomes occur in the sample
    errors = []
    for simulated, found, end in failed:
        if found is None and simulated > end - END_GRACE_S:
            continue  # the detector's stated grace: a hold sinking at its planned end
        assert found is not None, f"missed the failure at {simulated:.2f} s"
        assert "sank below" in found.why
        errors.append(abs(found.t_s - simulated))
    assert max(errors) <= MAX_ERROR_S
    assert np.median(errors) <= MEDIAN_ERROR_S


def test_holds_that_lasted_give_none(outcomes) -> None:
    lasted = [found for sim, found, _ in outcomes if sim is None]
    assert len(lasted) >= 10
    assert all(found is None for found in lasted)


# ---- hand-made traces ------------------------------------------------------------------------


def _trace(duration_s: float = 140.0) -> tuple[np.ndarray, np.ndarray]:
    """90° baseline to 20 s, the hold at 45° from 21 s, times at 30 fps."""
    t = np.arange(int(duration_s * REFERENCE_FPS)) / REFERENCE_FPS
    return t, np.where(t < 20.5, 90.0, 45.0)


def _fall(t: np.ndarray, a: np.ndarray, at_s: float, to_deg: float = 10.0) -> np.ndarray:
    """From ``at_s`` the angle falls linearly at 30°/s to ``to_deg``."""
    return np.where(t >= at_s, np.maximum(a - 30.0 * (t - at_s), to_deg), a)


def test_the_moment_it_left_is_reported_not_the_end_of_the_confirmation() -> None:
    t, a = _trace()
    a = _fall(t, a, 60.0)  # reaches 35° (the edge) at 60 + 10/30 s
    found = detect_task_failure(t, a, 20.0, 110.0)
    assert found is not None
    assert found.t_s == pytest.approx(60.0 + TOLERANCE_DEG / 30.0, abs=FRAME_S)
    assert found.angle_deg < 45.0 - TOLERANCE_DEG


def test_jitter_tremor_and_gaps_do_not_move_it_by_more_than_a_few_frames() -> None:
    rng = np.random.default_rng(5)
    t, a = _trace()
    a = _fall(t, a, 60.0) + 3.0 * np.sin(2 * np.pi * 10.0 * t) + rng.normal(0.0, 2.0, len(t))
    for start in range(int(25 * REFERENCE_FPS), len(t), int(7 * REFERENCE_FPS)):
        a[start : start + 8] = np.nan  # a gap of 8 frames every 7 s
    found = detect_task_failure(t, a, 20.0, 110.0)
    assert found is not None
    assert abs(found.t_s - (60.0 + TOLERANCE_DEG / 30.0)) < 5 * FRAME_S


def test_a_held_trace_and_short_or_shallow_excursions_give_none() -> None:
    t, a = _trace()
    assert detect_task_failure(t, a, 20.0, 110.0) is None
    brief = np.where((t > 50.0) & (t < 51.0), 20.0, a)  # 1 s far out, then back
    assert detect_task_failure(t, brief, 20.0, 110.0) is None
    shallow = np.where((t > 60.0) & (t < 70.0), 45.0 - TOLERANCE_DEG - 3.0, a)  # 10 s, 3° out
    assert detect_task_failure(t, shallow, 20.0, 110.0) is None
    deep = np.where((t > 60.0) & (t < 70.0), 45.0 - TOLERANCE_DEG - CONFIRM_DEPTH_DEG - 1, a)
    assert detect_task_failure(t, deep, 20.0, 110.0) is not None


def test_lowering_the_arm_at_the_planned_end_is_not_a_failure() -> None:
    t, a = _trace()
    assert detect_task_failure(t, _fall(t, a, 110.0), 20.0, 110.0) is None
    late = _fall(t, a, 110.0 - END_GRACE_S)  # within the grace before the planned end
    assert detect_task_failure(t, late, 20.0, 110.0) is None
    found = detect_task_failure(t, _fall(t, a, 105.0), 20.0, 110.0)
    assert found is not None


def test_the_hold_may_run_past_the_end_of_the_data() -> None:
    t, a = _trace(duration_s=80.0)  # a trial that failed at 60 s stops early
    found = detect_task_failure(t, _fall(t, a, 60.0), 20.0, 110.0)
    assert found is not None and found.t_s == pytest.approx(60.0 + 1 / 3, abs=FRAME_S)


def test_never_reaching_the_band_is_a_failure_at_the_hold_start_that_says_why() -> None:
    t, a = _trace()
    other_reading = np.where(t < 20.5, 90.0, 135.0)  # 135° flexion: the other reading of 45°
    found = detect_task_failure(t, other_reading, 20.0, 110.0)
    assert found is not None and found.t_s == 20.0
    assert "never came within 45 ± 10°" in found.why and "median 135.0°" in found.why
    # Told the other convention, it watches 135° and finds the forearm sinking (rising θ).
    sinking = np.where(t >= 60.0, np.minimum(135.0 + 30.0 * (t - 60.0), 170.0), other_reading)
    found = detect_task_failure(t, sinking, 20.0, 110.0, target_deg=135.0)
    assert found is not None and "rose above" in found.why
    assert found.t_s == pytest.approx(60.0 + 1 / 3, abs=FRAME_S)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.arange(10.0), np.zeros(9), 1.0, 5.0), "must be 1-D of one length"),
        ((np.arange(10.0), np.zeros(10), 12.0, 15.0), "lies outside the data 0.00–9.00 s"),
        ((np.arange(10.0), np.zeros(10), -1.0, 5.0), "lies outside the data"),
        ((np.arange(10.0), np.zeros(10), 5.0, 4.0), "must be after hold_start_s"),
        ((np.arange(10.0)[::-1], np.zeros(10), 1.0, 5.0), "increasing times"),
        ((np.arange(100.0), np.full(100, np.nan), 10.0, 90.0), "only 0 of the 81 frames"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message) -> None:
    with pytest.raises(ValueError, match=message) as info:
        detect_task_failure(*args)
    assert "\n" not in str(info.value) and str(info.value).startswith("detect_task_failure:")


def test_bad_options_give_one_clear_line() -> None:
    t, a = _trace()
    with pytest.raises(ValueError, match="tolerance_deg must be > 0, got 0"):
        detect_task_failure(t, a, 20.0, 110.0, tolerance_deg=0)


# ---- the angle from the keypoints ------------------------------------------------------------


def _arm_track(flexion_deg: float, *, z_noise_px: float = 0.0) -> PoseTrack:
    """Two frames: a left arm seen from the side, upper arm hanging, forearm at ``flexion``."""
    xyz = np.full((2, len(NAMES), 3), 50.0)
    shoulder, elbow = np.array([300.0, 100.0, 0.0]), np.array([300.0, 250.0, 0.0])
    rad = np.deg2rad(flexion_deg)
    wrist = elbow + 120.0 * np.array([-np.sin(rad), np.cos(rad), 0.0])
    for name, point in (("shoulder", shoulder), ("elbow", elbow), ("wrist", wrist)):
        xyz[:, INDEX["left_" + name]] = point
    xyz[:, INDEX["left_wrist"], 2] += z_noise_px
    xyz[1, INDEX["left_elbow"]] = np.nan
    return PoseTrack.from_keypoints(
        xyz, fps=REFERENCE_FPS, width=640, height=480, source="test", provenance="simulated"
    )


def test_elbow_flexion_is_180_minus_the_interior_angle_in_the_image_plane() -> None:
    for flexion in (0.0, 45.0, 90.0, 135.0):
        out = elbow_flexion_deg(_arm_track(flexion), "left")
        assert out[0] == pytest.approx(flexion, abs=1e-9)
        assert np.isnan(out[1])  # elbow unknown
    # Depth is ignored in the image plane and not in 3-D.
    deep = _arm_track(45.0, z_noise_px=100.0)
    assert elbow_flexion_deg(deep, "left")[0] == pytest.approx(45.0, abs=1e-9)
    assert abs(elbow_flexion_deg(deep, "left", planar=False)[0] - 45.0) > 5.0
    with pytest.raises(ValueError, match="side 'top' is not one of left, right"):
        elbow_flexion_deg(deep, "top")
