"""``python -m host video analyse`` (host/video/analyse*.py, plots_fatigue.py, overlay_bar.py).

The model is the seed's network untrained (``build_video_model``): its probabilities mean
nothing, but they are the network's, so the CSV is checked against the model run directly.
The clips are a 40-s simulated worker (2 windows) and, for the video path, a 31-s MJPG at
25 frames/s on which MediaPipe's landmarker is replaced by a stand-in that answers the
simulated worker's keypoints (the real pose work, 775 frames, would take minutes here).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

from host.video.analyse import (
    FATIGUE_THRESHOLD,
    TRAIN_HINT,
    FatigueTimeline,
    check_length,
)
from host.video.cli import main_args
from host.video.features_file import read_features, write_features
from host.video.keypoints import MEDIAPIPE_INDEX
from host.video.overlay import GIF_MAX_FRAMES, gif_stride, render_frame
from host.video.overlay_bar import BAR_EMPTY_RGB, ProbabilityBar
from host.video.pipeline import extract_features
from host.video.pose import clean_track
from host.video.track import PoseTrack, VideoError
from hwsim.workers import simulate_worker

REPO = Path(__file__).resolve().parent.parent
ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "hw-sim")]),
    "MPLBACKEND": "Agg",
}
#: The simulated worker: 40 s at 30 frames/s, tired within it (Borg 7 reached at 20 s).
WORKER_S = 40.0
FPS = 30.0
#: Its windows: 450 model frames (every 2nd frame) every 100, first and last frame's time.
STARTS_S = (0.0, 200 / FPS)
ENDS_S = (898 / FPS, (200 + 898) / FPS)


def worker_track():
    track = simulate_worker(
        0, "medicine_bottle", seed=2025, minutes=WORKER_S / 60, endurance_min=0.5
    )
    return clean_track(track)


@pytest.fixture(scope="session")
def worker(tmp_path_factory) -> Path:
    """The simulated worker's kinematics file."""
    path = tmp_path_factory.mktemp("worker") / "worker.kin.h5"
    write_features(path, extract_features(worker_track()))
    return path


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, worker) -> Path:
    """An untrained CNN-Bi-LSTM with plausible metadata (what load_video_model checks)."""
    import keras

    from host.video.fatigue_net import build_video_model
    from host.video.model_file import CLASSES, input_metadata, write_video_model
    from host.video.model_inputs import Standardiser

    vf = read_features(worker)
    keras.utils.set_random_seed(7)
    network = build_video_model(len(vf.feature_names), vf.n_levels)
    meta = {
        "architecture": network.name,
        "provenance": "simulated",
        "classes": list(CLASSES),
        "inputs": input_metadata(list(vf.feature_names), vf.n_levels, Standardiser.fit([vf])),
        "metrics": {"test": {"accuracy": 0.5}},
    }
    folder = tmp_path_factory.mktemp("model") / "video"
    write_video_model(folder, network, meta)
    return folder


def analyse(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    """Run the command in this process: exit status, stdout lines, stderr lines."""
    status = main_args(["analyse", *argv])
    out = capsys.readouterr()
    return status, out.out.strip().splitlines(), out.err.strip().splitlines()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def gif_frames(path: Path) -> tuple[int, tuple[int, int]]:
    with Image.open(path) as im:
        return im.n_frames, im.size


def model_probabilities(model_dir: Path, kin: Path) -> np.ndarray:
    from host.video.model_file import load_video_model

    return load_video_model(model_dir).window_probabilities(read_features(kin)).p_fatigued


# ---- a simulated worker's kinematics file ---------------------------------------------------


def test_a_simulated_worker_gives_its_windows_timeline_and_overlay(tmp_path, worker, model_dir):
    clip = tmp_path / "worker.kin.h5"
    shutil.copy(worker, clip)
    done = subprocess.run(
        [sys.executable, "-m", "host", "video", "analyse", str(clip), "--model", str(model_dir)],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "predicting: window 2/2" in done.stderr
    csv_path, png, gif = (tmp_path / f"worker_fatigue{s}" for s in (".csv", ".png", ".gif"))
    for path in (csv_path, png, gif):
        assert f"wrote {path}" in done.stdout.splitlines()

    rows = read_csv(csv_path)
    np.testing.assert_allclose([float(r["start_s"]) for r in rows], STARTS_S, atol=1e-3)
    np.testing.assert_allclose([float(r["end_s"]) for r in rows], ENDS_S, atol=1e-3)
    p = np.array([float(r["p_fatigued"]) for r in rows])
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p, model_probabilities(model_dir, worker), atol=1e-4)
    assert [int(r["fatigued"]) for r in rows] == [int(x >= FATIGUE_THRESHOLD) for x in p]
    track = read_features(worker).track
    for row in rows:  # the latest rating given by the window's end
        k = np.searchsorted(track.borg_time_s, float(row["end_s"]) + 1e-6) - 1
        assert float(row["borg_at_end"]) == track.borg_rating[k]
    assert {(r["track_provenance"], r["model_provenance"]) for r in rows} == {
        ("simulated", "simulated")
    }

    summary = done.stdout.splitlines()
    assert summary[0].startswith(
        "2 windows of 30 s every 6.67 s of worker 0, medicine_bottle, seed 2025 (SIMULATED "
        f"person); video model cnn_bilstm ({model_dir}), trained on simulated data"
    )
    k = int((p >= 0.5).sum())
    assert summary[1].startswith(f"fatigued (p ≥ 0.5) in {k} of 2 assessed windows")
    assert "Borg CR10 first reached 7 at 20.0 s" in summary

    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (1210, 715)  # 11 × 6.5 in at 110 dpi
    # 1200 frames in one of every gif_stride(1200) = 6: the whole track in 200 frames.
    n, (w, h) = gif_frames(gif)
    assert n == len(range(0, 1200, gif_stride(1200))) == GIF_MAX_FRAMES
    assert w == 480 and h > round(480 * 480 / 854)  # the canvas, and the bar's band under it


def test_outputs_are_never_overwritten_and_checked_before_any_work(
    tmp_path, worker, model_dir, capsys
):
    clip = tmp_path / "w.kin.h5"
    shutil.copy(worker, clip)
    taken = tmp_path / "w_fatigue.png"
    taken.write_bytes(b"a user's figure")
    cases = {
        (): f"error: {taken}: exists; move it away or give --timeline another name",
        ("--overlay", str(clip)): f"error: {clip}: --overlay must end in .gif or .mp4",
        ("--csv", str(tmp_path / "w.txt")): f"error: {tmp_path / 'w.txt'}: --csv must end in .csv",
        ("--timeline", "/proc/no/x.png"): "error: /proc/no/x.png: cannot be written (",
        ("--timeline", str(tmp_path / "t.png"), "--kinematics", str(tmp_path / "k.kin.h5")): (
            f"error: {clip}: is a kinematics file already: --kinematics is for a video"
        ),
    }
    for extra, message in cases.items():
        status, out, err = analyse(capsys, str(clip), "--model", str(model_dir), *extra)
        assert status == 2 and len(err) == 1 and err[0].startswith(message), err
        assert out == []
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not read: the outputs are checked first")
    status, out, err = analyse(capsys, str(video), "--overlay", str(video), "--model", "none")
    assert status == 2 and err == [
        f"error: {video}: is the clip itself: give --overlay another file"
    ]
    video.unlink()
    assert taken.read_bytes() == b"a user's figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.kin.h5", "w_fatigue.png"]

    status, _, err = analyse(capsys, str(clip), "--model", str(model_dir), "--no-overlay",
                             "--timeline", str(tmp_path / "t.png"))  # fmt: skip
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "t.png", "w.kin.h5", "w_fatigue.csv", "w_fatigue.png"
    ]  # fmt: skip
    before = (tmp_path / "w_fatigue.csv").read_bytes()
    status, _, err = analyse(capsys, str(clip), "--model", str(model_dir), "--no-overlay",
                             "--timeline", str(tmp_path / "t2.png"))  # fmt: skip
    assert status == 2 and err == [
        f"error: {tmp_path / 'w_fatigue.csv'}: exists; move it away or give --csv another name"
    ]
    assert (tmp_path / "w_fatigue.csv").read_bytes() == before
    assert not (tmp_path / "t2.png").exists()


# ---- what cannot be analysed: one line each, exit 2 ------------------------------------------


def write_video(path: Path, fps: float, seconds: float, size: tuple[int, int] = (96, 64)) -> Path:
    """A grey MJPG video (no person: these are refused before any pose work)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(round(fps * seconds)):
        writer.write(np.full((size[1], size[0], 3), 100 + i % 50, np.uint8))
    writer.release()
    return path


def broken_copy(model_dir: Path, tmp_path: Path, edit) -> Path:
    folder = tmp_path / f"model{len(list(tmp_path.iterdir()))}"
    shutil.copytree(model_dir, folder)
    edit(folder)
    return folder


def _edit_meta(folder: Path, change) -> None:
    path = folder / "video_model.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def test_each_clip_or_model_that_cannot_be_used_is_one_line(tmp_path, worker, model_dir, capsys):
    short = write_video(tmp_path / "short.avi", 30.0, 2.0)
    slow = write_video(tmp_path / "slow.avi", 10.0, 40.0)
    one = write_video(tmp_path / "one.avi", 30.0, 1 / 30)  # a video, of one frame
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    at25 = tmp_path / "at25.kin.h5"
    track = worker_track()
    track = dataclasses.replace(track, fps=25.0, time_s=np.arange(track.n_frames) / 25.0)
    write_features(at25, extract_features(track))
    keras_file = next(model_dir.glob("*.keras")).name

    def append_byte(folder: Path) -> None:
        with open(folder / keras_file, "ab") as f:
            f.write(b"\0")

    def fewer_features(meta: dict) -> None:
        meta["inputs"]["feature_names"] = meta["inputs"]["feature_names"][:-1]
        sd = meta["inputs"]["standardiser"]
        meta["inputs"]["standardiser"] = {k: v[:-1] for k, v in sd.items()}

    def other_window(meta: dict) -> None:
        meta["inputs"]["window_frames"] = 300

    hashed = broken_copy(model_dir, tmp_path, append_byte)
    narrow = broken_copy(model_dir, tmp_path, lambda f: _edit_meta(f, fewer_features))
    window = broken_copy(model_dir, tmp_path, lambda f: _edit_meta(f, other_window))
    missing = tmp_path / "no_model"
    empty = tmp_path / "empty_model"
    empty.mkdir()
    cases = [
        (short, model_dir, f"{short}: 2.00 s long, shorter than one window of the video model "
         "(30 s = 450 frames at 15 frames/s); give a clip of at least 30 s"),
        (slow, model_dir, f"{slow}: 10 frames/s is outside the 20-120 frames/s"),
        (at25, model_dir, f"{at25}: frame rate 25 frames/s; the video model needs a whole "
         "multiple of 15 frames/s"),
        (text, model_dir, f"{text}: is neither a kinematics file (.kin.h5, HDF5) nor a video: "
         "OpenCV cannot open it as a video"),
        (tmp_path / "gone.mp4", model_dir, f"{tmp_path / 'gone.mp4'}: no such file"),
        (one, model_dir, f"{one}: has 1 frame"),  # was "neither ... nor a video"
        (tmp_path, model_dir, f"{tmp_path}: is a folder; give a video"),
        (worker, hashed, f"{hashed / keras_file}: not the file {hashed / 'video_model.json'} "
         "records (sha256 differs)"),
        (worker, narrow, f"{narrow / keras_file}: its inputs"),
        (worker, window, f"{window / 'video_model.json'}: inputs.window_frames is 300; this "
         "program's model takes 450"),
        (worker, missing, f"{missing}: no video model here (no such folder); {TRAIN_HINT}"),
        (worker, empty, f"{empty}: no video model here (no video_model.json in it)"),
    ]  # fmt: skip
    for clip, model, message in cases:
        out_dir = tmp_path / "out"
        status, out, err = analyse(
            capsys, str(clip), "--model", str(model), "--csv", str(out_dir / "w.csv"),
            "--timeline", str(out_dir / "w.png"), "--overlay", str(out_dir / "w.gif"),
        )  # fmt: skip
        assert status == 2, (clip, model, err)
        assert err == [err[0]] and err[0].startswith(f"error: {message}"), (message, err)
        assert "Traceback" not in err[0] and out == []
        assert not out_dir.exists()  # the folder is tried, not made: nothing is left


def cut(track, n: int):
    """The first ``n`` frames of ``track``."""
    return dataclasses.replace(
        track,
        time_s=track.time_s[:n],
        xyz_px=track.xyz_px[:n],
        visibility=track.visibility[:n],
        keypoint_flags=track.keypoint_flags[:n],
        frame_flags=track.frame_flags[:n],
    )


def test_one_frame_short_of_a_window_is_refused_before_the_model_as_the_model_would(
    tmp_path, model_dir, capsys
):
    track = worker_track()
    # 899 frames at 30 frames/s are 450 at 15 frames/s: one window; 898 are 449: none.
    for n in (899, 898):
        write_features(tmp_path / f"c{n}.kin.h5", extract_features(cut(track, n)))
    status, out, err = analyse(
        capsys, str(tmp_path / "c899.kin.h5"), "--model", str(model_dir), "--no-overlay"
    )
    assert status == 0 and out[0].startswith("1 window of 30 s"), err
    status, out, err = analyse(
        capsys, str(tmp_path / "c898.kin.h5"), "--model", str(model_dir), "--no-overlay"
    )
    assert status == 2 and out == []
    assert err == [
        f"error: {tmp_path / 'c898.kin.h5'}: 29.93 s long, shorter than one window of the "
        "video model (30 s = 450 frames at 15 frames/s); give a clip of at least 30 s"
    ]
    # A video file's header, before any pose work: the same rule.
    check_length("clip", 899 / 30)
    with pytest.raises(VideoError, match=r"^clip: 29\.93 s long, shorter than one window"):
        check_length("clip", 898 / 30)


# ---- the probability at each frame and the overlay's bar --------------------------------------


def timeline_of(starts, ends, p) -> FatigueTimeline:
    from host.video.model_file import WindowProbabilities

    w = WindowProbabilities(np.array(starts, float), np.array(ends, float), np.array(p, float))
    n = len(p)
    return FatigueTimeline(w, np.ones(n), np.full(n, np.nan), None, "m", "simulated", "m")


def test_each_time_takes_the_covering_window_with_the_nearest_centre():
    # Windows 0-30, 10-40, 20-50 s (centres 15, 25, 35).
    tl = timeline_of([0, 10, 20], [30, 40, 50], [0.1, 0.6, 0.9])
    t = np.array([0.0, 14.9, 19.9, 20.1, 29.9, 30.1, 50.0, 50.1, -0.1])
    np.testing.assert_array_equal(
        tl.values_at(t), [0.1, 0.1, 0.1, 0.6, 0.6, 0.9, 0.9, np.nan, np.nan]
    )
    assert tl.value_at(50.1) is None and tl.value_at(25.0) == 0.6
    one = timeline_of([5], [35], [0.3])
    np.testing.assert_array_equal(
        one.values_at(np.array([4.9, 5, 35, 35.1])), [np.nan, 0.3, 0.3, np.nan]
    )


def test_windows_with_too_little_pose_are_not_called_fatigued(tmp_path):
    """A clip whose arms are never seen (known share 0) gets a probability from empty
    inputs: kept in the CSV, but neither counted nor called fatigued."""
    from dataclasses import replace

    from host.video.analyse import summary_lines, write_windows_csv

    track = PoseTrack.from_keypoints(
        np.zeros((10, 11, 3)), fps=30, width=640, height=480, source="clip.mp4", provenance="video"
    )
    tl = replace(
        timeline_of([0, 6.667, 13.333], [29.933, 36.6, 43.267], [0.69, 0.71, 0.2]),
        known_share=np.array([0.0, 0.8, 0.9]),
        track=track,
    )
    assert tl.assessed.tolist() == [False, True, True]
    assert tl.fatigued.tolist() == [False, True, False]
    lines = summary_lines(tl)
    assert lines[1] == "fatigued (p ≥ 0.5) in 1 of 2 assessed windows (50 %)"
    assert lines[2].startswith("not assessed: 1 of 3 windows have all 11 keypoints known in")
    assert lines[3] == "first window with p ≥ 0.5: 6.7–36.6 s (p 0.71)"
    write_windows_csv(tl, tmp_path / "w.csv")
    rows = read_csv(tmp_path / "w.csv")
    assert [r["fatigued"] for r in rows] == ["", "1", "0"]
    assert [r["p_fatigued"] for r in rows] == ["0.6900", "0.7100", "0.2000"]
    none = replace(tl, known_share=np.zeros(3))
    lines = summary_lines(none)
    assert lines[1] == "fatigued (p ≥ 0.5) in 0 of 0 assessed windows"
    assert lines[2].startswith("not assessed: 3 of 3 windows") and len(lines) == 3


@pytest.mark.parametrize("value", [0.2, 0.8, None])
def test_the_bar_is_as_long_as_the_probability_in_its_colour(value):
    from host.video.overlay_bar import BAR_HIGH_RGB, BAR_LOW_RGB, BAR_MID_RGB

    bar = ProbabilityBar(lambda _t: value, "fatigue", none_text="no window")
    assert bar.colour(0.0) == BAR_LOW_RGB and bar.colour(0.5) == BAR_MID_RGB
    assert bar.colour(1.0) == BAR_HIGH_RGB
    track = worker_track()
    plain = render_frame(track, 0, None, 0.0, width=640)
    image = render_frame(track, 0, None, 0.0, width=640, bar=bar)
    assert image.shape[1] == 640 and image.shape[0] > plain.shape[0]
    np.testing.assert_array_equal(image[: plain.shape[0]], plain)  # the picture untouched
    row = image[plain.shape[0] + (image.shape[0] - plain.shape[0]) // 2]
    # The bar's extent: the run of columns in its fill or empty colour on the band's middle row.
    fill = np.all(row == (bar.colour(value) if value is not None else BAR_EMPTY_RGB), axis=1)
    empty = np.all(row == BAR_EMPTY_RGB, axis=1)
    inside = np.flatnonzero(fill | empty)
    left, right = inside[0], inside[-1]
    filled = np.flatnonzero(fill) if value is not None else np.array([], int)
    share = len(filled) / (right - left + 1)
    assert share == pytest.approx(0.0 if value is None else value, abs=0.03)


# ---- a video file: the extraction's own path, resampled from 25 frames/s --------------------


class StandInPose:
    """MediaPipe's ``Pose`` answering the simulated worker's keypoints, one video frame at a
    time (at 25 frames/s: the track frame nearest each frame's time), normalised as
    MediaPipe's landmarks are (x / W, y / H, z / W)."""

    track = None

    def __init__(self, **_kwargs) -> None:
        self.frame = 0

    def __enter__(self) -> StandInPose:
        return self

    def __exit__(self, *_exc) -> None:
        return None

    def process(self, _rgb: np.ndarray) -> SimpleNamespace:
        track = StandInPose.track
        k = min(round(self.frame / 25.0 * FPS), track.n_frames - 1)
        self.frame += 1
        marks = [SimpleNamespace(x=0.5, y=0.5, z=0.0, visibility=0.0) for _ in range(33)]
        xyz = track.xyz_px[k]
        for i, mp_index in enumerate(MEDIAPIPE_INDEX):
            if np.isfinite(xyz[i]).all():
                x, y, z = xyz[i]
                marks[mp_index] = SimpleNamespace(
                    x=x / track.width, y=y / track.height, z=z / track.width, visibility=0.99
                )
        return SimpleNamespace(pose_landmarks=SimpleNamespace(landmark=marks))


def test_a_video_at_25_fps_is_resampled_said_so_and_analysed(
    tmp_path, model_dir, monkeypatch, capsys
):
    import mediapipe as mp

    StandInPose.track = simulate_worker(0, "medicine_bottle", seed=2025, minutes=32 / 60)
    monkeypatch.setattr(mp.solutions.pose, "Pose", StandInPose)
    clip = write_video(tmp_path / "clip.avi", 25.0, 31.0, size=(214, 120))
    kin = tmp_path / "clip.kin.h5"
    status, out, err = analyse(
        capsys, str(clip), "--model", str(model_dir), "--kinematics", str(kin)
    )
    assert status == 0, err
    assert any(line.startswith("note: resampled from 25 to 30 frames/s") for line in err), err
    assert "predicting: window 1/1" in err
    rows = read_csv(tmp_path / "clip_fatigue.csv")
    assert len(rows) == 1 and float(rows[0]["start_s"]) == 0.0
    assert float(rows[0]["end_s"]) == pytest.approx(898 / FPS, abs=1e-3)
    assert rows[0]["track_provenance"] == "video" and rows[0]["borg_at_end"] == ""
    assert float(rows[0]["known_share"]) > 0.9
    assert out[0].startswith("1 window of 30 s every 6.67 s of clip.avi (video file); video "
                             "model cnn_bilstm")  # fmt: skip
    assert "trained on simulated data" in out[0]
    # The overlay: the video's 775 frames, one in every gif_stride(775) = 4.
    n, (w, h) = gif_frames(tmp_path / "clip_fatigue.gif")
    assert n == len(range(0, 775, gif_stride(775))) and w == 214 and h > 120
    # The kinematics kept give the same answer without the video.
    assert read_features(kin).track.fps == FPS
    again = tmp_path / "again"
    status, _, err = analyse(capsys, str(kin), "--model", str(model_dir), "--csv",
                             str(again / "a.csv"), "--timeline", str(again / "a.png"),
                             "--no-overlay")  # fmt: skip
    assert status == 0, err
    assert read_csv(again / "a.csv")[0]["p_fatigued"] == rows[0]["p_fatigued"]
