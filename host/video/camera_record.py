"""A camera recorded to a video file first; pose runs on the recording afterwards.

MediaPipe costs 20–90 ms a frame on one laptop core (``benchmarks/video_extraction.py``),
slower than a 30 frames/s camera: run inline, it would drop frames and leave a track at the
pose's rate, not the camera's. So :func:`record_camera` only writes the frames, as they
come, to an MJPG AVI (nothing held in memory), with each frame's time on the capture clock;
:class:`ReplayedCamera` then gives :func:`host.video.pose.estimate_poses` the recorded
frames with those times. The recording is the user's: it is kept, also when Ctrl-C stops
it, and can be extracted again later as a video file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from host.video.track import VideoError
from host.video.video_io import FileSource, capture_fps, open_camera, open_video

__all__ = [
    "FOURCC",
    "CameraRecording",
    "FrameSource",
    "ReplayedCamera",
    "record_camera",
    "record_frames",
]

#: The recording's codec: Motion-JPEG in AVI, written by every OpenCV build (no licence
#: issue, each frame an independent JPEG: a recording cut short keeps every whole frame).
FOURCC = "MJPG"


class FrameSource(Protocol):
    """What :func:`record_frames` reads of a source: a :class:`~host.video.video_io.
    VideoSource` (a camera) or anything giving frames as it does."""

    name: str
    fps: float
    notes: list[str]

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]: ...


@dataclass
class CameraRecording:
    """A finished camera recording.

    Attributes
    ----------
    path : Path
        The MJPG AVI written.
    name : str
        ``camera N``.
    times_s : list of float
        Capture time of each frame written, s from the first (time.monotonic at grab).
    nominal_fps : float
        The rate the camera reported (the AVI's header rate).
    notes : list of str
        The camera's notes (e.g. a rate it could not report).
    """

    path: Path
    name: str
    times_s: list[float]
    nominal_fps: float
    notes: list[str] = field(default_factory=list)

    @property
    def measured_fps(self) -> float:
        """Frames per second on the capture clock (:func:`host.video.video_io.capture_fps`)."""
        return capture_fps(self.times_s, self.nominal_fps)


def record_camera(
    index: int,
    path: Path,
    *,
    max_frames: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int | None], None] | None = None,
) -> CameraRecording:
    """Write camera ``index``'s frames to ``path`` until ``should_stop()`` or ``max_frames``
    (:func:`record_frames` on :func:`host.video.video_io.open_camera`).

    Raises
    ------
    VideoError
        The camera cannot be opened or gives no frame (nothing is written), or the file
        cannot be written.
    """
    with open_camera(index) as camera:
        return record_frames(
            camera, path, max_frames=max_frames, should_stop=should_stop, progress=progress
        )


def record_frames(
    source: FrameSource,
    path: Path,
    *,
    max_frames: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int | None], None] | None = None,
    on_frame: Callable[[int, float], None] | None = None,
) -> CameraRecording:
    """Write ``source``'s frames to ``path`` until ``should_stop()``, ``max_frames`` or the
    source's end; the source is not closed here.

    The file is written under a temporary name beside ``path`` and renamed when the
    recording ends, however it ends (a stop, the camera failing, an error): every frame
    written is kept. ``on_frame(index, time_s)`` is called once each frame is written, with
    the time the source gave it (a camera's: s from its first frame on the capture clock).

    Raises
    ------
    VideoError
        The source gives no frame (nothing is written), or the file cannot be written.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")  # OpenCV picks by suffix
    times: list[float] = []
    writer: cv2.VideoWriter | None = None
    try:
        for i, time_s, rgb in source.frames():
            if should_stop():
                break
            if writer is None:
                height, width = rgb.shape[:2]
                tmp.parent.mkdir(parents=True, exist_ok=True)  # once a frame has come
                writer = cv2.VideoWriter(
                    str(tmp), cv2.VideoWriter_fourcc(*FOURCC), source.fps, (width, height)
                )
                if not writer.isOpened():
                    raise VideoError(path, f"cannot be written as an {FOURCC} AVI here")
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            times.append(time_s)
            if on_frame is not None:
                on_frame(i, time_s)
            if progress is not None:
                progress(i + 1, max_frames)
            if max_frames is not None and len(times) >= max_frames:
                break
    finally:
        if writer is not None:
            writer.release()
            if times:
                os.replace(tmp, path)
        tmp.unlink(missing_ok=True)
    return CameraRecording(path, source.name, times, source.fps, list(source.notes))


#: Words of the note a recording whose file and times differ in length gets.
LENGTH_NOTE = "frames and its capture times"


class ReplayedCamera:
    """A recording's frames with their capture times: a camera source for the pose step.

    Has what :func:`host.video.pose.estimate_poses` reads of a source (``name``, ``fps``,
    ``width``, ``height``, ``frame_count``, ``provenance`` = ``"camera"``, ``notes``,
    ``frames()``); its ``fps`` is the capture clock's.
    """

    provenance = "camera"

    def __init__(self, recording: CameraRecording) -> None:
        self.recording = recording
        self._file: FileSource = open_video(recording.path)
        self.name = recording.name
        self.fps = recording.measured_fps
        self.width = self._file.width
        self.height = self._file.height
        self.frame_count = len(recording.times_s)
        self.notes = list(recording.notes)
        self.notes.append(
            f"{recording.name}: recorded to {recording.path} ({self.frame_count} frames at "
            f"{self.fps:.2f} frames/s on the capture clock; the camera reported "
            f"{recording.nominal_fps:g}); pose estimated after recording"
        )
        if abs(self.fps - recording.nominal_fps) > 0.02 * recording.nominal_fps:
            self.notes.append(
                f"{recording.path}'s header says {recording.nominal_fps:g} frames/s, the camera "
                f"gave {self.fps:.2f}: extracted again as a file it would be timed by the "
                "header; this kinematics file has the capture clock's times"
            )

    def __str__(self) -> str:
        return self.name

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """Each frame of the file with its capture time, as many as both hold; a file and
        a list of times of different lengths is said in :attr:`notes`."""
        times = self.recording.times_s
        n_file = 0
        for index, _, rgb in self._file.frames():
            if n_file < len(times):
                yield index, times[n_file], rgb
            n_file += 1
        self.notes.extend(n for n in self._file.notes if n not in self.notes)
        if n_file != len(times):
            self.notes.append(
                f"{self.recording.path} holds {n_file} {LENGTH_NOTE} {len(times)}: the first "
                f"{min(n_file, len(times))} used, the rest left out"
            )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ReplayedCamera:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
