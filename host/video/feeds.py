"""Video sources for ``python -m host collect --video``: frames stamped on collect's clock.

A camera (``--video 0``) is stamped with collect's clock when each frame is grabbed; a video
file standing in for a camera gives frame i once collect's clock reaches the first frame's
time + the frame's time in the file, stamped with that moment, as if a camera had captured
it then. Both are checked when opened, before the session starts (:func:`open_feed`), and
OpenCV is imported only then: ``collect`` without a video runs without it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

from device.clock import Clock
from host.video.resample import check_rate
from host.video.track import VideoError

if TYPE_CHECKING:
    from host.video.video_io import CameraSource, FileSource

__all__ = ["PACE_STEP_S", "VideoFeed", "open_feed"]

#: Longest single sleep of a file standing in for a camera while it waits for a frame's
#: time, s (the end of the session is seen within it).
PACE_STEP_S = 0.05


class VideoFeed(Protocol):
    """A source of frames stamped on collect's clock: ``frames()`` yields ``(index,
    host_s, rgb)`` (host_s: the capture moment on the host's monotonic clock, s; rgb:
    uint8, shape (height, width, 3)); :meth:`stop` ends it within a frame; ``finished`` is
    True once the source ran out by itself."""

    name: str
    kind: str  # "camera" or "file"
    fps: float
    width: int
    height: int
    notes: list[str]
    finished: bool

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


class _Feed:
    kind = "camera"

    def __init__(self, source: FileSource | CameraSource) -> None:
        self._source = source
        self.name, self.fps = source.name, float(source.fps)
        self.width, self.height = source.width, source.height
        self.notes = source.notes  # the source's own notes, as it finds things
        self.finished = False
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> _Feed:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _CameraFeed(_Feed):
    """A camera, stamped at each grab by collect's clock."""

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        camera = self._source
        for index, time_s, rgb in camera.frames():
            if self._stop.is_set():
                return
            yield index, camera.first_grab_s + time_s, rgb
        self.finished = True


class _PacedFile(_Feed):
    """A video file standing in for a camera: frame i is given once collect's clock reaches
    the first frame's host time + its time in the file, stamped with that moment (no
    latency: the frame is "captured" then); late frames (a slow machine) are given at once,
    with the time they were due."""

    kind = "file"

    def __init__(self, source: FileSource, clock: Clock) -> None:
        super().__init__(source)
        self._clock = clock

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        start = None
        for index, time_s, rgb in self._source.frames():
            if start is None:
                start = self._clock.monotonic() - time_s
            due = start + time_s
            while not self._stop.is_set() and (now := self._clock.monotonic()) < due:
                self._clock.sleep(min(due - now, PACE_STEP_S))
            if self._stop.is_set():
                return
            yield index, due, rgb
        self.finished = True


def open_feed(source: str, clock: Clock) -> VideoFeed:
    """The video source of ``--video SOURCE``: a camera index (digits) or a video file.

    Raises:
        VideoError: One line: a camera that does not open; a file that is missing, not a
            video, a still image, or whose header has no frame rate, or one outside
            :data:`host.video.resample.ALLOWED_FPS_RANGE` (pose after the session would
            refuse it).
    """
    from host.video.video_io import open_camera, open_video

    text = str(source).strip()
    if text.isdigit():
        try:
            camera = open_camera(int(text), now=clock.monotonic)
        except VideoError as exc:
            raise VideoError(
                exc.source,
                "cannot be opened: no such device, or it is in use; give --video N of a "
                "connected camera, or a video file standing in for one",
            ) from None
        return _CameraFeed(camera)
    video = open_video(text)
    try:
        check_rate(video.fps, video.name)
    except VideoError:
        video.close()
        raise
    return _PacedFile(video, clock)
