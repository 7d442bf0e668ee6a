"""``python -m host video session``: a session's NIRS and its camera on one timeline (issue 16
point 4).

- The simulator's main job (run once for the module, ~6 s): its record and the simulated
  body's kinematics file beside it; the view's task failure from the elbow angle against
  the simulated subject's, the video model's windows (an untrained network of the seed's
  architecture, written with its metadata: the bundled ``models/video`` is not needed),
  the figure's rows.
- A tiny session as collect writes it (phase keys, Borg ratings, the task-failure key, a
  video and its frame table on a device clock that starts at 500 s and drifts): pose run
  for real by MediaPipe on a photograph (skimage's camera man), once, its kinematics file
  on the device clock and read back the next time; and, with ``session_pose_track``
  monkeypatched to give an elbow that sinks at a known moment (MediaPipe cannot be made
  to see a known elbow angle on a synthetic video), the task failure on the device clock.
- Each error one line and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_damaged_records import chain_sample

from device.codec import FORMAT_VERSION, HEADER_EVENT, Prediction, Record
from device.labels import DEFAULT_MAPPING
from device.recorder import SessionRecorder
from host import collect_records as hc
from host.collect_video import FRAMES_SUFFIX, VIDEO_SUFFIX
from host.video import session_view
from host.video.features_file import SUFFIX as KIN_SUFFIX
from host.video.features_file import read_features, write_features
from host.video.keypoints import INDEX, NAMES
from host.video.pipeline import extract_features
from host.video.plots_session import ROWS, VIDEO_ROWS, session_figure
from host.video.session_camera import session_identity
from host.video.session_view import add_session_parser, main
from host.video.sync import FrameTable, write_frame_table
from host.video.track import PoseTrack

#: How close the view's task failure must be to the simulated subject's, s (the brief's 2 s;
#: the main job's own detector was measured at -0.33 s on its default subject).
FAILURE_TOL_S = 2.0
#: The tiny session's device clock: first sample, phase keys, the key 'f', s.
T0_S = 500.3
HOLD_S = (521.0, 555.0)
KEY_S = 546.0
#: Its video: first frame on the device clock, s; the device clock's drift against the
#: host's (assumption: 50 ppm, a crystal's); the host clock's offset, s.
VIDEO_T0_S = 510.0
DRIFT = 50e-6
HOST_OFFSET_S = 7000.0
FPS = 30.0
#: The fake elbow: held at 45° from this video time, sinking from 45° to 10° over 1 s from
#: this one (s from the first frame).
HELD_FROM_S = 11.5
SINKS_AT_S = 35.0
#: When the sinking elbow leaves the 45 ± 10° band, s from the first frame: a third of
#: the way from 45 to 10 lies at 35° (linear sink over 1 s: (45 - 35) / 35 s after it starts).
LEAVES_BAND_S = SINKS_AT_S + 10.0 / 35.0


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


# -- the main job --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def main_job(tmp_path_factory) -> Path:
    """The main job's session record, its kinematics file beside it."""
    from hwsim import wearable

    out = tmp_path_factory.mktemp("main_job")
    with contextlib.redirect_stdout(io.StringIO()):
        assert wearable.main(["--out", str(out)]) == 0
    (record,) = out.glob("session-*.nrec")
    assert record.with_name(record.name.removesuffix(".nrec") + KIN_SUFFIX).exists()
    return record


@pytest.fixture(scope="module")
def video_model(tmp_path_factory, main_job) -> Path:
    """An untrained network of the seed's architecture with its metadata (the view needs a
    model that loads, not a good one)."""
    from host.video.fatigue_net import build_video_model
    from host.video.model_file import input_metadata, write_video_model
    from host.video.model_inputs import Standardiser

    vf = read_features(main_job.with_name(main_job.name.removesuffix(".nrec") + KIN_SUFFIX))
    folder = tmp_path_factory.mktemp("video_model")
    network = build_video_model(len(vf.feature_names), vf.n_levels)
    meta = {
        "architecture": network.name,
        "provenance": "simulated",
        "inputs": input_metadata(list(vf.feature_names), vf.n_levels, Standardiser.fit([vf])),
        "metrics": {},
    }
    write_video_model(folder, network, meta)
    return folder


@pytest.fixture(scope="module")
def main_view(main_job, video_model, tmp_path_factory):
    """The command on the main job's record with the simulated hold, and the view it drew."""
    from hwsim.body import hold_windows
    from hwsim.wearable import wear_board

    truth, _ = wear_board()  # the main job's defaults: the same simulated subject
    (hold,) = hold_windows(truth)
    png = tmp_path_factory.mktemp("view") / "main.png"
    views = []
    build = session_view.build_view

    def keep(*args, **kwargs):  # the view the command drew, for the figure's test
        views.append(build(*args, **kwargs))
        return views[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(session_view, "build_view", keep)
        argv = [str(main_job), "--model", str(video_model), "--out", str(png)]
        status, out, err = _run([*argv, "--hold", str(hold[0]), str(hold[1])])
    return truth, png, status, out, err, views[0]


def test_the_main_jobs_view_finds_the_simulated_task_failure(main_view):
    truth, png, status, out, err, _ = main_view
    assert status == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    seen = re.search(r"task failure from the video: ([0-9.]+) s", out)
    assert seen, out
    assert abs(float(seen[1]) - truth.task_failure_s) < FAILURE_TOL_S
    assert f"simulated (the subject's physiology): {truth.task_failure_s:.2f} s" in out
    assert out.startswith("SIMULATED ")
    windows = re.search(r"video model: (\d+) of (\d+) assessed windows fatigued", out)
    assert windows and int(windows[2]) == 16  # 132 s at 15 fps: (1980 - 450) // 100 + 1
    assert f"wrote {png}" in out


def test_a_simulated_subject_who_held_to_the_end_is_said_so(main_view, tmp_path):
    """The simulated subject's failure time is NaN when they held: not 'nan s'."""
    from dataclasses import replace

    from host.video.plots_session import save_session_png, summary

    view = replace(main_view[-1], simulated_failure_s=float("nan"), written=[])
    line = summary(view)[0]
    assert "simulated (the subject's physiology): none, held to the end" in line, line
    assert "nan" not in line
    save_session_png(view, tmp_path / "held.png")  # no NaN line, no legend entry


def test_windows_with_too_little_pose_are_not_counted(main_view, tmp_path):
    from dataclasses import replace

    from host.video.plots_session import save_session_png, summary

    view = main_view[-1]
    assert view.assessed is not None and view.assessed.all()  # the simulated body: all seen
    none = np.zeros(view.windows.p_fatigued.size, bool)
    blind = replace(view, assessed=none, written=[])
    line = summary(blind)[1]
    assert line.startswith("video model: 0 of 0 assessed windows fatigued (p ≥ 0.5); 16 of 16")
    assert "not assessed" in line
    save_session_png(blind, tmp_path / "blind.png")


def test_the_figure_has_its_rows_on_the_device_clock(main_view):
    truth, _, _, _, _, view = main_view
    fig, rows = session_figure(view)
    assert list(rows) == list(ROWS)
    assert rows["haemoglobin"].get_ylabel() == "Δ haemoglobin (µM)"
    assert [t.get_text() for t in rows["haemoglobin"].get_legend().get_texts()] == [
        "ΔHbO2", "ΔHHb", "ΔtHb",
    ]  # fmt: skip
    assert rows["smo2"].get_ylabel() == "SmO2 estimate (%)"
    assert [t.get_text() for t in rows["nirs_level"].get_yticklabels()] == list(
        DEFAULT_MAPPING.names
    )
    assert "p(high or exhausted), right axis" in [
        t.get_text() for t in rows["nirs_level"].get_legend().get_texts()
    ]
    assert rows["video_p"].get_ylabel() == "video model\np(fatigued)"
    assert rows["elbow"].get_ylabel() == "left elbow\nflexion (°)"
    assert rows["borg"].get_ylabel() == "Borg CR10"
    assert fig._suptitle.get_text().startswith("SIMULATED session")
    # The view's times are the device's: the record's samples, the body's frames, the
    # Borg ratings of the simulated subject and the failure all on one clock.
    t0, t1 = rows["borg"].get_xlim()
    assert t0 == pytest.approx(view.record.t_s[0]) and t1 == pytest.approx(truth.duration_s, abs=1)
    assert view.borg.tolist() == list(truth.borg.rating) and "SIMULATED subject" in view.borg_source
    verticals = {
        round(float(line.get_xdata()[0]), 6)
        for line in rows["elbow"].get_lines()
        if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
    }
    assert verticals == {round(view.failure.t_s, 6), round(truth.task_failure_s, 6)}
    assert view.windows.start_s[0] == pytest.approx(0.0) and view.windows.p_fatigued.size == 16


# -- a session as collect writes it ----------------------------------------------------------


def write_session(path: Path, *, phases: bool = True) -> Path:
    """A minute of a collected session on a device clock starting at :data:`T0_S`: samples at
    10 Hz, a prediction a second, Borg ratings, phase keys (``phases``) and the key 'f'."""
    info = {
        hc.HEADER_KEY: {
            "subject_id": "S09",
            "protocol": "upper_limb",
            "side": "left",
            "provenance": "simulated",
            "port": "/dev/ttyACM0",
            "mapping": DEFAULT_MAPPING.to_dict(),
            "keys": hc.KEY_HELP,
        }
    }
    with SessionRecorder(path, info=info, fsync_interval_s=None) as rec:
        rec.write(Record.event(T0_S, HEADER_EVENT, format_version=FORMAT_VERSION))
        keys = {T0_S + 0.5: "baseline", HOLD_S[0]: "hold", HOLD_S[1]: "rest"} if phases else {}
        ratings = {525.0: 2, 535.0: 5, 545.0: 8}
        for i in range(700):
            t = round(T0_S + 0.1 * i, 6)
            rec.write(chain_sample(t, i))
            for when, phase in keys.items():
                if abs(t - when) < 0.05:
                    rec.write(Record.event(t, hc.EVENT_PHASE, phase=phase))
            if t in ratings:
                rec.write(Record.event(t, hc.EVENT_BORG, rating=ratings[t], key=str(ratings[t])))
            if abs(t - KEY_S) < 0.05:
                rec.write(Record.event(t, hc.EVENT_TASK_FAILURE))
            if i % 10 == 9:
                p = np.full(5, 0.05)
                p[min(i // 150, 4)] = 0.8
                rec.write(Prediction(t, tuple(p), min(i // 150, 4), min(i // 150, 4)))
    return path


def write_video(path: Path, frames: list[np.ndarray]) -> FrameTable:
    """``frames`` (RGB) as collect's MJPG video, and its frame table on the tiny session's
    device clock (:data:`VIDEO_T0_S`, :data:`DRIFT`), written beside it."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return table_for(path, len(frames))


def table_for(video: Path, n: int) -> FrameTable:
    video_s = np.arange(n) / FPS
    device = VIDEO_T0_S + video_s * (1 + DRIFT)
    table = FrameTable(video_s + HOST_OFFSET_S, device, device - np.floor(T0_S), ["test table"])
    write_frame_table(video.with_name(video.name.replace(VIDEO_SUFFIX, FRAMES_SUFFIX)), table)
    return table


def test_a_recorded_video_is_posed_once_and_kept_on_the_device_clock(tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip("mediapipe")
    record = write_session(tmp_path / "S09_upper_limb_left.nrec")
    photo = np.stack([skimage_data.camera()] * 3, axis=-1)
    frames = [cv2.copyMakeBorder(photo, 44, 44, 144, 144, cv2.BORDER_CONSTANT, value=(128,) * 3)]
    table = write_video(tmp_path / f"S09_upper_limb_left{VIDEO_SUFFIX}", frames * 45)
    status, out, err = _run([str(record), "--side", "right"])
    assert status == 0, err
    assert "pose: frame 45/45" in err  # progress lines, pose being slower than real time
    kin = tmp_path / f"S09_upper_limb_left{KIN_SUFFIX}"
    png = tmp_path / "S09_upper_limb_left.session.png"
    assert f"wrote {kin}, {png}" in out
    track = read_features(kin).track
    assert track.provenance == "camera" and track.metadata["clock"] == "device"
    # Each pose frame at its frame's device time: MediaPipe ran on the video's frames at
    # their capture times (s from the first), mapped through the table.
    assert track.time_s[0] == pytest.approx(table.device_s[0], abs=1e-6)
    # (the table keeps µs)
    np.testing.assert_allclose(np.diff(track.time_s), (1 + DRIFT) / FPS, atol=2e-6)
    assert track.borg_time_s.tolist() == [525.0, 535.0, 545.0]  # the record's, same clock
    assert np.isfinite(track.xyz_px[:, INDEX["right_elbow"]]).all()  # the camera man's arm
    assert "video model: the video is 1.5 s long, shorter than one window" in out
    # The next view reads the kinematics file: no pose, the file untouched.
    before = kin.stat().st_mtime_ns
    status, out, err = _run([str(record), "--side", "right", "--out", str(tmp_path / "b.png")])
    assert status == 0, err
    assert "pose:" not in err and f"camera: {kin.name}" in err
    assert kin.stat().st_mtime_ns == before and f"wrote {tmp_path / 'b.png'}" in out


def sinking_elbow(n: int, side: str) -> PoseTrack:
    """A side view's arm, px: upper arm hanging, the forearm at 90° of flexion, held at 45°
    from :data:`HELD_FROM_S`, sinking to 10° over a second from :data:`SINKS_AT_S`."""
    t = np.arange(n) / FPS
    flexion = np.where(t < HELD_FROM_S, 90.0, 45.0)
    flexion = np.where(t >= SINKS_AT_S, np.maximum(10.0, 45.0 - 35.0 * (t - SINKS_AT_S)), flexion)
    xyz = np.full((n, len(NAMES), 3), np.nan)
    shoulder, elbow = np.array([400.0, 200.0, 0.0]), np.array([400.0, 300.0, 0.0])
    rad = np.radians(flexion)
    xyz[:, INDEX[f"{side}_shoulder"]] = shoulder
    xyz[:, INDEX[f"{side}_elbow"]] = elbow
    xyz[:, INDEX[f"{side}_wrist"]] = elbow + 90.0 * np.stack(
        [np.sin(rad), np.cos(rad), np.zeros(n)], axis=1
    )
    xyz[:, INDEX["nose"]] = [410.0, 120.0, 0.0]
    return PoseTrack.from_keypoints(
        xyz, fps=FPS, width=854, height=480, source="fake camera", provenance="camera"
    )


@pytest.fixture
def fake_pose(monkeypatch):
    """session_pose_track replaced: the frames' count from the table, the sinking elbow."""
    import host.collect_video

    calls = []

    def fake(video, table, *, name, progress=None):
        calls.append(video)
        return sinking_elbow(table.n_frames, "left")

    monkeypatch.setattr(host.collect_video, "session_pose_track", fake)
    return calls


def test_task_failure_from_a_recorded_video_is_on_the_device_clock(
    tmp_path, fake_pose, video_model
):
    record = write_session(tmp_path / "S09_upper_limb_left.nrec")
    video = tmp_path / f"S09_upper_limb_left{VIDEO_SUFFIX}"
    video.write_bytes(b"")  # the pose is the fake's: only the name is looked for
    table_for(video, int(50 * FPS))
    status, out, err = _run([str(record), "--model", str(video_model)])
    assert status == 0, err
    assert len(fake_pose) == 1
    seen = float(re.search(r"task failure from the video: ([0-9.]+) s", out)[1])
    expected = VIDEO_T0_S + LEAVES_BAND_S * (1 + DRIFT)
    assert abs(seen - expected) < 0.1, (seen, expected)  # the 1-s median keeps the crossing
    diff = re.search(rf"experimenter's key: {KEY_S:.2f} s, video ([-+][0-9.]+) s", out)
    assert diff and float(diff[1]) == pytest.approx(seen - KEY_S, abs=0.011)
    # The kinematics file now: the same answer, and the model's windows on the same clock.
    view = session_view.build_view(record, model_dir=video_model)
    assert view.failure.t_s == pytest.approx(seen, abs=0.05) and len(fake_pose) == 1
    assert view.windows.start_s[0] == pytest.approx(VIDEO_T0_S, abs=1e-5)
    assert view.windows.p_fatigued.size == 4  # 50 s at 15 fps: (750 - 450) // 100 + 1
    assert [p[0] for p in view.phases] == ["baseline", "hold", "rest"]
    # From 'h' to its planned 90 s (host.collect_video.hold_phase), here cut by the record's end.
    assert view.hold_s[0] == pytest.approx(HOLD_S[0]) and view.hold_s[1] > HOLD_S[1]
    assert view.key_s == pytest.approx(KEY_S)


def test_a_record_without_phase_keys_says_so_unless_the_hold_is_given(
    tmp_path, fake_pose, video_model
):
    record = write_session(tmp_path / "S09_upper_limb_left.nrec", phases=False)
    video = tmp_path / f"S09_upper_limb_left{VIDEO_SUFFIX}"
    video.write_bytes(b"")
    table_for(video, int(50 * FPS))
    model = ["--model", str(video_model)]
    status, out, err = _run([str(record), *model])
    assert status == 0, err
    assert "task failure from the video: none (no phase key was typed" in out
    assert "give --hold START END" in out
    hold = ["--hold", "521", "555", "--out", str(tmp_path / "b.png")]
    status, out, err = _run([str(record), *model, *hold])
    assert status == 0, err
    seen = float(re.search(r"task failure from the video: ([0-9.]+) s", out)[1])
    assert abs(seen - (VIDEO_T0_S + LEAVES_BAND_S)) < 0.1


def test_no_camera_gives_the_nirs_rows_and_a_note(tmp_path):
    record = write_session(tmp_path / "S09_upper_limb_left.nrec")
    status, out, err = _run([str(record), "--model", str(tmp_path / "no_model")])
    assert status == 0, err  # no video: the model is never needed
    assert "note: no camera beside the record" in err
    view = session_view.build_view(record)
    fig, rows = session_figure(view)
    assert list(rows) == [r for r in ROWS if r not in VIDEO_ROWS]
    assert "no camera" in fig._suptitle.get_text()
    assert rows["nirs_level"].get_lines()[0].get_ydata().tolist()[:3] == [0, 0, 0]
    assert view.borg.tolist() == [2, 5, 8] and view.borg_source == "the record"


def test_a_damaged_record_is_drawn_with_its_gap_and_a_note(tmp_path):
    record = write_session(tmp_path / "S09_upper_limb_left.nrec")
    data = bytearray(record.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = bytes(4000)  # a run of zeros, as a power cut leaves
    record.write_bytes(bytes(data))
    status, out, err = _run([str(record)])
    assert status == 0, err
    assert "note: record damaged:" in err and "corrupt bytes skipped" in err
    view = session_view.build_view(record)
    _, rows = session_figure(view)
    line = rows["haemoglobin"].get_lines()[0]  # ΔHbO2: a break where records were lost
    x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    (gap,) = np.flatnonzero(np.isnan(y))
    assert x[gap + 1] - x[gap - 1] > 1.0  # 4 kB of records are seconds of samples


# -- errors ------------------------------------------------------------------------------------


def one_error(argv: list[str]) -> str:
    status, out, err = _run(argv)
    lines = err.strip().splitlines()
    assert status == 2 and lines and lines[-1].startswith("error: "), (status, out, err)
    return lines[-1]


def test_errors_are_one_line_and_exit_2(tmp_path, main_job, video_model):
    bad = tmp_path / "text.nrec"
    bad.write_text("not a session record\n")
    assert "text.nrec" in one_error([str(bad)])
    snirf = tmp_path / "S09_upper_limb_left.snirf"
    snirf.write_bytes(b"\x89HDF\r\n\x1a\n")
    assert "S09_upper_limb_left.snirf: not a .nrec session record" in one_error([str(snirf)])
    assert "gone.nrec: no such file" in one_error([str(tmp_path / "gone.nrec")])
    empty = tmp_path / "S09_upper_limb_left.nrec"
    with SessionRecorder(empty, info={"provenance": "simulated"}, fsync_interval_s=None) as rec:
        rec.write(Record.event(1.0, HEADER_EVENT, format_version=FORMAT_VERSION))
    assert "no sample survives" in one_error([str(empty)])
    record = write_session(tmp_path / "S10_upper_limb_left.nrec")
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"x")
    assert "taken.png: exists" in one_error([str(record), "--out", str(taken)])
    assert taken.read_bytes() == b"x"
    assert "cannot be written" in one_error([str(record), "--out", str(taken / "v.png")])
    # A model whose Keras file is not the one its metadata records.
    broken = tmp_path / "broken_model"
    shutil.copytree(video_model, broken)
    keras_file = next(broken.glob("*.keras"))
    keras_file.write_bytes(keras_file.read_bytes() + b"\0")
    line = one_error([str(main_job), "--model", str(broken), "--out", str(tmp_path / "m.png")])
    assert "sha256 differs" in line and not (tmp_path / "m.png").exists()


def test_session_registers_on_the_video_commands_subparsers():
    parser = argparse.ArgumentParser(prog="python -m host video")
    add_session_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["session", "x.nrec", "--side", "right", "--hold", "20", "110"])
    assert args.func is session_view.run and args.hold == [20.0, 110.0]
    # The repository's bundled model, wherever the command is run from.
    assert args.model == Path(session_view.__file__).resolve().parents[2] / "models" / "video"
    assert args.out is None
    text = parser._subparsers._group_actions[0].choices["session"].format_help()
    assert f"(default: {session_view.DEFAULT_MODEL})" in " ".join(text.split())


# -- the camera's files, checked against the record (breaker's finds) -------------------------


def test_a_frame_table_with_a_bad_time_is_refused_before_any_pose(tmp_path, fake_pose):
    record = write_session(tmp_path / "S09_upper_limb_left.nrec")
    video = tmp_path / f"S09_upper_limb_left{VIDEO_SUFFIX}"
    video.write_bytes(b"")
    table_for(video, 60)
    frames = tmp_path / f"S09_upper_limb_left{FRAMES_SUFFIX}"
    good = frames.read_text().splitlines()
    for bad_row, problem in ((30, "nan"), (40, "backwards")):
        lines = list(good)
        cells = lines[bad_row].split(",")
        cells[1] = "nan" if problem == "nan" else "0.000001"
        lines[bad_row] = ",".join(cells)
        frames.write_text("\n".join(lines) + "\n")
        line = one_error([str(record), "--out", str(tmp_path / f"{problem}.png")])
        assert f"S09_upper_limb_left{FRAMES_SUFFIX}: line {bad_row + 1}: host_s" in line, line
        assert "must be finite and rise" in line
    assert not fake_pose, "no pose work on a broken table"
    assert not (tmp_path / f"S09_upper_limb_left{KIN_SUFFIX}").exists()


def test_a_video_longer_than_its_frame_table_is_said(tmp_path):
    from host.video.camera_record import CameraRecording, ReplayedCamera

    video = tmp_path / f"S09_upper_limb_left{VIDEO_SUFFIX}"
    write_video(video, [np.full((48, 64, 3), 100, np.uint8)] * 12)
    times = (np.arange(9) / FPS).tolist()  # the table lost its last 3 frames
    with ReplayedCamera(CameraRecording(video, "camera 0", times, FPS)) as replay:
        assert len(list(replay.frames())) == 9
    assert any("holds 12 frames and its capture times 9" in n for n in replay.notes)


def test_a_kinematics_file_not_of_this_session_is_refused(tmp_path, fake_pose, video_model):
    from dataclasses import replace

    record = write_session(tmp_path / "S09_upper_limb_left.nrec")
    video = tmp_path / f"S09_upper_limb_left{VIDEO_SUFFIX}"
    video.write_bytes(b"")
    table_for(video, int(50 * FPS))
    status, _, err = _run([str(record), "--model", str(video_model)])
    assert status == 0, err
    kin = tmp_path / f"S09_upper_limb_left{KIN_SUFFIX}"
    vf = read_features(kin)
    assert vf.track.metadata["session_record"] == record.name
    # Renamed with its record, it still belongs.
    record.rename(tmp_path / "renamed.nrec")
    kin.rename(tmp_path / f"renamed{KIN_SUFFIX}")
    status, _, err = _run([str(tmp_path / "renamed.nrec"), "--out", str(tmp_path / "r.png")])
    assert status == 0, err
    # Beside the record of a session begun an hour later: refused, in one line.
    other = write_session(tmp_path / "S10_upper_limb_left.nrec")
    start = session_identity(other)["session_unix_time_s"]
    earlier = replace(vf.track, metadata={**vf.track.metadata, "session_unix_time_s": start - 3600})
    write_features(tmp_path / f"S10_upper_limb_left{KIN_SUFFIX}", extract_features(earlier))
    line = one_error([str(other), "--out", str(tmp_path / "o.png")])
    assert f"S10_upper_limb_left{KIN_SUFFIX}: belongs to another session" in line
    # One on the video's own clock (host video extract's): refused, saying so.
    on_video = replace(vf.track, metadata={})
    lonely = write_session(tmp_path / "S11_upper_limb_left.nrec")
    write_features(tmp_path / f"S11_upper_limb_left{KIN_SUFFIX}", extract_features(on_video))
    line = one_error([str(lonely), "--out", str(tmp_path / "v.png")])
    assert "not on the wearable's clock" in line


def test_a_hold_outside_the_record_is_refused(tmp_path):
    record = write_session(tmp_path / "S09_upper_limb_left.nrec", phases=False)
    line = one_error([str(record), "--hold", "5", "60"])
    assert "--hold: 5–60 s is not within the record's" in line
    for start, end in (("495", "530"), ("540", "600")):  # partly outside (500.3–570.2 s)
        assert "is not within the record's" in one_error([str(record), "--hold", start, end])
    line = one_error([str(record), "--hold", "530", "530.5"])
    assert "--hold: 0.5 s is shorter than the 5 s the task-failure detector needs" in line
    assert not (tmp_path / "S09_upper_limb_left.session.png").exists()


def test_a_kinematics_file_the_model_cannot_take_is_named_in_the_error(tmp_path, video_model):
    from dataclasses import replace

    record = write_session(tmp_path / "S09_upper_limb_left.nrec")
    n = int(50 * 25)
    track = sinking_elbow(n, "left")
    at25 = replace(
        track,
        fps=25.0,
        time_s=VIDEO_T0_S + np.arange(n) / 25.0,
        metadata=session_identity(record),
    )
    kin = tmp_path / f"S09_upper_limb_left{KIN_SUFFIX}"
    write_features(kin, extract_features(at25))
    line = one_error([str(record), "--model", str(video_model)])
    assert line.startswith(f"error: {kin}: frame rate 25 frames/s"), line
