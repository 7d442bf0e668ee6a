"""A camera is recorded first and its pose estimated after (host/video/camera_record.py):
the frames and their capture times are kept whatever the pose step costs, and Ctrl-C stops
the recording without losing it. No camera here: OpenCV's camera is stood in for by a
capture of a real photograph's clip, answering the calls a camera answers."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

import host.video.video_io as video_io
from host.video.camera_record import ReplayedCamera, record_camera
from host.video.cli import main_args
from host.video.features_file import read_features
from host.video.track import UNREADABLE, VideoError

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("mediapipe")

FRAMES = 45


@pytest.fixture
def person_clip(tmp_path: Path) -> Path:
    """45 frames of skimage.data.camera() (a person) drifting right, MJPG at 30 fps."""
    photo = cv2.cvtColor(skimage_data.camera(), cv2.COLOR_GRAY2BGR)
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 560))
    for i in range(FRAMES):
        frame = np.full((560, 640, 3), 128, np.uint8)
        frame[24:536, 40 + i : 552 + i] = photo
        writer.write(frame)
    writer.release()
    return path


class StandInCamera:
    """What OpenCV's camera answers (isOpened, get, grab, retrieve, read, release), from a
    clip, each grab 1/30 s later on a clock of its own (``now``, which the test gives the
    capture code as time.monotonic: no test result depends on this machine's speed); after
    ``ctrl_c_after`` grabs, the process gets SIGINT as from Ctrl-C."""

    def __init__(self, clip: Path, ctrl_c_after: int | None = None) -> None:
        self._capture = REAL_CAPTURE(str(clip))
        self.grabs = 0
        self.ctrl_c_after = ctrl_c_after

    stall_after: int | None = None  # grabs, then the camera gives nothing for 1.5 s

    def now(self) -> float:
        stalled = self.stall_after is not None and self.grabs > self.stall_after
        return 100.0 + self.grabs / 30.0 + (1.5 if stalled else 0.0)

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self._capture.isOpened()

    def get(self, prop: int) -> float:
        return self._capture.get(prop)

    def grab(self) -> bool:
        self.grabs += 1
        if self.grabs == self.ctrl_c_after:
            os.kill(os.getpid(), signal.SIGINT)
        return self._capture.grab()

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return self._capture.retrieve()

    def read(self) -> tuple[bool, np.ndarray]:
        return self._capture.read()

    def release(self) -> None:
        self._capture.release()


REAL_CAPTURE = cv2.VideoCapture


def stand_in(monkeypatch: pytest.MonkeyPatch, clip: Path, **kwargs) -> None:
    cameras: list[StandInCamera] = []

    def capture(what: object) -> object:
        if not isinstance(what, int):
            return REAL_CAPTURE(what)
        cameras.append(StandInCamera(clip, **kwargs))
        return cameras[-1]

    monkeypatch.setattr(video_io.cv2, "VideoCapture", capture)
    monkeypatch.setattr(video_io.time, "monotonic", lambda: cameras[-1].now())


def test_recording_keeps_every_frame_with_its_capture_time(tmp_path, person_clip, monkeypatch):
    stand_in(monkeypatch, person_clip)
    done = record_camera(0, tmp_path / "rec.avi", max_frames=30)
    assert len(done.times_s) == 30 and done.times_s[0] == 0.0
    np.testing.assert_allclose(np.diff(done.times_s), 1 / 30)
    assert done.measured_fps == pytest.approx(30.0)
    with video_io.open_video(done.path) as again:
        assert sum(1 for _ in again.frames()) == 30
    with ReplayedCamera(done) as replay:
        times = [t for _, t, _ in replay.frames()]
        assert replay.provenance == "camera" and replay.name == "camera 0"
        assert replay.fps == pytest.approx(done.measured_fps)
    assert times == done.times_s
    assert not list(tmp_path.glob(".*part*")), "no temporary file left"


def test_ctrl_c_stops_the_recording_and_the_extraction_goes_on(tmp_path, person_clip, monkeypatch):
    stand_in(monkeypatch, person_clip, ctrl_c_after=25)
    before = signal.getsignal(signal.SIGINT)
    out = tmp_path / "me.kin.h5"
    assert main_args(["extract", "--camera", "0", "--out", str(out)]) == 0
    recording = tmp_path / "me.avi"
    with video_io.open_video(recording) as again:
        assert sum(1 for _ in again.frames()) == 24, "the frames before Ctrl-C, all kept"
    vf = read_features(out)
    assert vf.track.provenance == "camera" and vf.track.source == "camera 0"
    assert any("recorded to" in note for note in vf.track.notes)
    # MediaPipe found the person in 18 of the 24 frames here (not in the first six).
    assert vf.track.known().any(axis=1).sum() >= 15, "the person found in the recording"
    assert (tmp_path / "me.gif").stat().st_size > 0
    assert signal.getsignal(signal.SIGINT) is before, "Ctrl-C handled as before again"


def test_a_camera_that_cannot_be_opened_writes_nothing(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "x.kin.h5"
    assert main_args(["extract", "--camera", "99", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: camera 99: cannot be opened")
    assert list(tmp_path.iterdir()) == [], "no folder made for a camera that never opened"
    with pytest.raises(VideoError, match="camera 99: cannot be opened"):
        record_camera(99, tmp_path / "y.avi")


def test_a_camera_stall_is_a_gap_not_a_straight_line(tmp_path, person_clip, monkeypatch):
    monkeypatch.setattr(StandInCamera, "stall_after", 20)
    stand_in(monkeypatch, person_clip)
    out = tmp_path / "stall.kin.h5"
    assert main_args(["extract", "--camera", "0", "--out", str(out), "--no-overlay"]) == 0
    track = read_features(out).track
    assert track.metadata["source_fps"] == pytest.approx(30.0), "the stall does not lower it"
    stall = (track.time_s > 20 / 30 + 0.01) & (track.time_s < 20 / 30 + 1.5 - 0.01)
    assert stall.sum() >= 40
    assert not track.known()[stall].any(), "nothing invented across the stall"
    assert (track.frame_flags[stall] & UNREADABLE).all()
    assert track.known()[~stall].any(axis=1).sum() >= 15
