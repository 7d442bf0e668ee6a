"""Simulated workers (hwsim.workers): Borg ratings, fatigue's effects, the estimator's noise.

Short sessions (3–6 min) with the time to exhaustion shortened to the session's length, so
the late minutes are as tired as a 30-minute session's end. Every comparison is early vs
late within one session of a fixed seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from host.video.keypoints import INDEX, NAMES
from host.video.track import NO_POSE
from hwsim import worker_dataset, workers
from hwsim.pose_estimator_view import JITTER_SD_SHW, estimator_view
from hwsim.worker_tasks import TASKS, shoulder_width_px

FPS = 30.0
WINDOW_S = 90.0  # early = first 90 s, late = last 90 s


@pytest.fixture(scope="module", params=TASKS)
def session(request: pytest.FixtureRequest) -> workers.WorkerSession:
    return workers.simulate_session(3, request.param, seed=2025, minutes=6, endurance_min=6)


def _windows(n: int) -> tuple[slice, slice]:
    w = int(WINDOW_S * FPS)
    return slice(0, w), slice(n - w, n)


def _period_s(x: np.ndarray) -> float:
    """Dominant period of a trajectory, s: first autocorrelation peak between 3 and 20 s."""
    x = np.interp(np.arange(len(x)), np.flatnonzero(np.isfinite(x)), x[np.isfinite(x)])
    x = x - x.mean()
    ac = np.correlate(x, x, "full")[len(x) - 1 :]
    lo, hi = int(3 * FPS), int(20 * FPS)
    return (lo + int(np.argmax(ac[lo:hi]))) / FPS


def _per_cycle(s: workers.WorkerSession, values: np.ndarray, fn) -> tuple[np.ndarray, np.ndarray]:
    """``fn`` of ``values`` within each complete cycle; early-window and late-window cycles."""
    t = s.track.time_s
    starts = s.cycle_start_s
    out = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        sel = (t >= a) & (t < b)
        out.append((a, fn(values[sel])))
    a = np.array(out)
    end = t[-1]
    return a[a[:, 0] < WINDOW_S, 1], a[a[:, 0] > end - WINDOW_S, 1]


def test_borg_ratings_rise_as_integers(session: workers.WorkerSession) -> None:
    r = session.track.borg_rating
    assert len(r) > 10
    assert np.array_equal(r, np.round(r)) and r.min() >= 0 and r.max() <= 10
    assert np.all(np.diff(r) >= 0)
    assert r[0] <= 3 and r[-1] >= 7  # both of the seed's classes (split at 7)
    assert np.all(np.diff(session.track.borg_time_s) > 0)


def test_latent_fatigue_rises_to_one(session: workers.WorkerSession) -> None:
    f = session.fatigue
    assert f[0] == pytest.approx(0.0, abs=1e-9) and f[-1] > 0.95
    assert np.all(np.diff(f) >= 0)


def test_late_cycles_are_slower(session: workers.WorkerSession) -> None:
    x = session.track.xyz_px[:, INDEX["right_wrist"], 0]
    early, late = _windows(len(x))
    expected = 1.0 + 0.5 * session.track.metadata["cycle_slowing"]  # half the full effect
    assert _period_s(x[late]) > expected * _period_s(x[early])


def test_late_peak_wrist_speed_is_lower(session: workers.WorkerSession) -> None:
    wrist = session.clean_px[:, INDEX["right_wrist"], :2]
    speed = np.r_[0.0, np.linalg.norm(np.diff(wrist, axis=0), axis=1) * FPS]
    early, late = _per_cycle(session, speed, np.max)
    assert np.median(late) < 0.92 * np.median(early)


def test_late_cycles_vary_more(session: workers.WorkerSession) -> None:
    # Where the right wrist turns furthest to its side (image left) in each cycle.
    wrist = session.clean_px[:, INDEX["right_wrist"], :2]

    def turn(w: np.ndarray) -> np.ndarray:
        return w[np.argmin(w[:, 0])]

    t = session.track.time_s
    pts = []
    for a, b in zip(session.cycle_start_s[:-1], session.cycle_start_s[1:], strict=True):
        sel = (t >= a) & (t < b)
        pts.append((a, *turn(wrist[sel])))
    p = np.array(pts)

    def spread(rows: np.ndarray) -> float:
        # Around a straight line per axis (fatigue's slow drifts are not variability).
        k = np.arange(len(rows))
        res = [r - np.polyval(np.polyfit(k, r, 1), k) for r in rows[:, 1:].T]
        return float(np.sqrt(np.mean(np.square(res))))

    early = spread(p[p[:, 0] < WINDOW_S])
    late = spread(p[p[:, 0] > t[-1] - WINDOW_S])
    assert late > 1.2 * early


def test_shoulders_rise_and_head_goes_forward(session: workers.WorkerSession) -> None:
    xyz = session.track.xyz_px
    early, late = _windows(len(xyz))
    shoulders = xyz[:, [INDEX["left_shoulder"], INDEX["right_shoulder"]]].mean(axis=1)
    shw = np.nanmean(shoulder_width_px(xyz[early]))
    nose = xyz[:, INDEX["nose"]]
    # Shoulders higher in the image (y down).
    assert np.nanmean(shoulders[late, 1]) < np.nanmean(shoulders[early, 1]) - 0.03 * shw
    # Nose nearer the shoulders' height (head down) and nearer the camera than them.
    above = shoulders[:, 1] - nose[:, 1]
    assert np.nanmean(above[late]) < np.nanmean(above[early]) - 0.03 * shw
    ahead = nose[:, 2] - shoulders[:, 2]
    assert np.nanmean(ahead[late]) < np.nanmean(ahead[early]) - 0.02 * shw


def test_elbow_range_is_smaller_late(session: workers.WorkerSession) -> None:
    p = session.points_m
    upper = p[:, INDEX["right_shoulder"]] - p[:, INDEX["right_elbow"]]
    fore = p[:, INDEX["right_wrist"]] - p[:, INDEX["right_elbow"]]
    cos = np.sum(upper * fore, -1) / np.linalg.norm(upper, axis=-1) / np.linalg.norm(fore, axis=-1)
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    # Excursion as the SD within each cycle (robust to the larger scatter of late cycles).
    early, late = _per_cycle(session, angle, np.std)
    assert np.median(late) < 0.95 * np.median(early)


def test_segment_lengths_are_the_persons(session: workers.WorkerSession) -> None:
    p = session.points_m
    arm = session.worker.body.arm
    for side in ("left_", "right_"):
        upper = np.linalg.norm(p[:, INDEX[side + "shoulder"]] - p[:, INDEX[side + "elbow"]], axis=1)
        fore = np.linalg.norm(p[:, INDEX[side + "elbow"]] - p[:, INDEX[side + "wrist"]], axis=1)
        np.testing.assert_allclose(upper, arm.upper_m, rtol=1e-9)
        np.testing.assert_allclose(fore, arm.forearm_m, rtol=1e-9)
    width = np.linalg.norm(p[:, INDEX["left_shoulder"]] - p[:, INDEX["right_shoulder"]], axis=1)
    np.testing.assert_allclose(width, session.worker.body.biacromial_m, rtol=1e-9)


def test_noise_level_is_mediapipes() -> None:
    s = workers.simulate_session(1, "air_pump", seed=5, minutes=0.2)
    still = np.repeat(s.clean_px[:1], 30000, axis=0)
    depth = np.repeat(s.points_m[:1, :, 2], 30000, axis=0)
    xyz, vis, no_pose = estimator_view(still, depth, np.random.default_rng(0))
    shw = shoulder_width_px(still)[0]
    sd = np.nanstd(xyz - still, axis=0) / shw
    np.testing.assert_allclose(sd, JITTER_SD_SHW, rtol=0.12)
    assert no_pose.any() and np.isnan(xyz[no_pose]).all() and np.isnan(vis[no_pose]).all()
    assert np.nanmin(vis) >= 0 and np.nanmax(vis) <= 1


def test_session_noise_matches_constants(session: workers.WorkerSession) -> None:
    shw = shoulder_width_px(session.clean_px)[:, None, None]
    sd = np.nanstd((session.track.xyz_px - session.clean_px) / shw, axis=0)
    np.testing.assert_allclose(sd, JITTER_SD_SHW, rtol=0.3)


def test_hidden_hand_is_less_visible(session: workers.WorkerSession) -> None:
    vis = session.track.visibility
    low = vis[:, INDEX["right_wrist"]] < 0.75
    assert low.any() or (vis[:, INDEX["left_wrist"]] < 0.75).any()
    ok = np.isfinite(vis[:, 0])
    assert np.all(vis[ok, INDEX["nose"]] > 0.95)


def test_missing_pose_frames_are_flagged(session: workers.WorkerSession) -> None:
    tr = session.track
    gone = (tr.frame_flags & NO_POSE) > 0
    assert gone.any()
    assert np.isnan(tr.xyz_px[gone]).all() and np.isfinite(tr.xyz_px[~gone]).all()


def test_track_is_labelled_simulated() -> None:
    tr = workers.simulate_worker(2, "medicine_bottle", seed=2025, minutes=0.5, camera="1280x720")
    assert tr.provenance == "simulated"
    assert tr.fps == 30.0 and (tr.width, tr.height) == (1280, 720) and tr.depth_px == 1280
    assert tr.source == "worker 2, medicine_bottle, seed 2025"
    assert tr.xyz_px.shape == (900, len(NAMES), 3)
    for key in (
        "stature_m",
        "upper_arm_m",
        "task",
        "seed",
        "cycle_slowing",
        "shoulder_elevation_deg",
        "head_flexion_deg",
        "elbow_rom_reduction",
    ):
        assert key in tr.metadata


def test_same_seed_same_track_and_workers_differ() -> None:
    a = workers.simulate_worker(4, "air_pump", seed=11, minutes=0.5)
    b = workers.simulate_worker(4, "air_pump", seed=11, minutes=0.5)
    np.testing.assert_array_equal(a.xyz_px, b.xyz_px)
    np.testing.assert_array_equal(a.borg_rating, b.borg_rating)
    c = workers.simulate_worker(5, "air_pump", seed=11, minutes=0.5)
    d = workers.simulate_worker(4, "air_pump", seed=12, minutes=0.5)
    assert c.metadata["stature_m"] != a.metadata["stature_m"]
    assert not np.allclose(np.nan_to_num(c.xyz_px), np.nan_to_num(a.xyz_px))
    assert not np.allclose(np.nan_to_num(d.xyz_px), np.nan_to_num(a.xyz_px))
    # The same person in both tasks.
    e = workers.simulate_worker(4, "medicine_bottle", seed=11, minutes=0.5)
    assert e.metadata["stature_m"] == a.metadata["stature_m"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="sawing"):
        workers.simulate_worker(0, "sawing", seed=1, minutes=1)
    with pytest.raises(ValueError, match="640x480"):
        workers.simulate_worker(0, "air_pump", seed=1, minutes=1, camera="640x480")


def test_dataset_command_refuses_a_folder_with_sessions(tmp_path, capsys) -> None:
    (tmp_path / "worker00_air_pump.kin.h5").write_text("x")
    (tmp_path / "worker00_air_pump_features.png").write_text("a figure")
    assert worker_dataset.main(["--out", str(tmp_path), "--minutes", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds 1 kinematics file(s)" in err
    assert len(list(tmp_path.iterdir())) == 2
    a_file = tmp_path / "worker00_air_pump.kin.h5"
    with pytest.raises(SystemExit) as stopped:
        worker_dataset.main(["--out", str(a_file), "--minutes", "0.1"])
    assert stopped.value.code == 2 and "is a file; give a folder" in capsys.readouterr().err


def test_dataset_command_writes_beside_figures(tmp_path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("a user's notes")
    args = ["--out", str(tmp_path), "--minutes", "0.2", "--workers", "1", "--tasks", "air_pump"]
    assert worker_dataset.main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "worker00_air_pump.kin.h5"]
    assert "1 file(s)" in capsys.readouterr().out


def test_dataset_command_help_shows_defaults() -> None:
    parser = worker_dataset.build_parser()
    for action in parser._actions:
        if action.dest in ("help", "out"):
            continue
        assert "(default: %(default)s)" in (action.help or ""), action.dest


def test_dataset_ctrl_c_leaves_only_reported_files(tmp_path) -> None:
    """Ctrl-C after the first session: one line, exit 130, and every file in the folder is
    one the command reported (the sessions being written finish; none is half there)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "hw-sim")])}
    out = tmp_path / "w"
    args = ["--out", str(out), "--workers", "3", "--minutes", "0.5", "--jobs", "1"]
    with subprocess.Popen(
        [sys.executable, "-m", "hwsim.worker_dataset", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        first = run.stdout.readline()
        assert first.startswith("[1/6]"), first
        run.send_signal(signal.SIGINT)
        rest, err = run.communicate(timeout=300)
    assert run.returncode == 130, err
    assert "Traceback" not in err and err.startswith("Ctrl-C: "), err
    reported = {line.split()[1].rstrip(":") for line in (first + rest).splitlines() if "] " in line}
    assert {p.name for p in out.iterdir()} == reported
    assert "stopped by Ctrl-C" in rest.splitlines()[-1]
