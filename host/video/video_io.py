"""Frames from a video file or a camera (OpenCV), one class per source.

``open_video(path)`` and ``open_camera(index)`` give a :class:`VideoSource`, a context
manager whose :meth:`~VideoSource.frames` yields ``(index, time_s, rgb)``. Every problem is a
one-line :class:`host.video.track.VideoError` naming the file or camera, the problem and what
is allowed. A file that decodes fewer frames than its header promises (cut short, damaged) is
not an error: its frames end there and :attr:`VideoSource.notes` says how many of how many
were read; a file of which no frame decodes is an error, and so are a still image (OpenCV
opens a PNG or JPEG as a one-frame "video" at 25 frames/s) and a video of fewer than
:data:`MIN_FRAMES` frames.

OpenCV's and FFmpeg's own log lines (``[mov,mp4,...] moov atom not found``,
``[ WARN:0@0.031] global cap_v4l.cpp:913 ...``) would surround those one-line errors: opening
a file or camera first silences them (:func:`_quiet_opencv`), unless the user asked for
them (``OPENCV_LOG_LEVEL``, ``OPENCV_FFMPEG_LOGLEVEL``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from host.video.track import VideoError

__all__ = [
    "MIN_FRAMES",
    "OPENCV_FFMPEG_QUIET_ENV",
    "OPENCV_LOG_LEVEL_SILENT",
    "CameraSource",
    "FileSource",
    "VideoSource",
    "capture_fps",
    "native_stderr_silenced",
    "open_camera",
    "open_video",
]

#: Frame rates a header may give, frames/s. Below 1 or above 1000 the header is taken as
#: missing or broken (OpenCV reports 0, NaN or 90000 for streams without a rate); the
#: bounds are an assumption: no camera or video file this project meets is outside them.
SANE_FPS_RANGE = (1.0, 1000.0)
#: Largest disagreement, s, between OpenCV's CAP_PROP_POS_MSEC and index / fps before the
#: header rate is trusted instead (half a frame at 30 fps; assumption).
MAX_CLOCK_DISAGREEMENT_S = 1.0 / 60.0
#: Frame rate assumed for a camera that does not report one, frames/s (the seed's 30 fps);
#: a camera's times come from the capture clock anyway, so this only fills ``fps``.
CAMERA_DEFAULT_FPS = 30.0
#: Fewest frames a video may have: a velocity is a difference of two frames
#: (host.video.kinematics: finite differences of positions).
MIN_FRAMES = 2
#: OpenCV's and FFmpeg's own log lines on stderr are silenced, unless the user set the
#: variable concerned (OpenCV's "Environment variables reference",
#: docs.opencv.org/4.x/d6/dea/tutorial_env_reference.html). OpenCV's own logger
#: (``[ WARN:0@0.015] global cap_v4l.cpp:913 ...``, ``[ERROR:0@0.2] global
#: cap_ffmpeg_impl.hpp:1326 ...``): ``OPENCV_LOG_LEVEL`` is read when cv2 is imported, so
#: here ``cv2.setLogLevel`` to this level, cv::utils::logging::LOG_LEVEL_SILENT = 0
#: (opencv2/core/utils/logger.defines.hpp; the default is 3, WARNING).
OPENCV_LOG_LEVEL_SILENT = 0
#: FFmpeg's lines (``[mov,mp4,...] moov atom not found``): OpenCV's FFmpeg backend gives
#: ``OPENCV_FFMPEG_LOGLEVEL`` to av_log_set_level when it first opens a file
#: (modules/videoio/src/cap_ffmpeg_impl.hpp, InternalFFMpegRegister::initLogger_); -8 is
#: AV_LOG_QUIET (libavutil/log.h). Both checked with opencv-python 4.11 (where
#: ``cv2.utils.logging`` does not exist): set after ``import cv2`` and before the first
#: capture they silenced a missing camera and a cut-short MP4; the environment variable
#: set after the first capture or writer has no effect.
OPENCV_FFMPEG_QUIET_ENV = ("OPENCV_FFMPEG_LOGLEVEL", "-8")


def _quiet_opencv() -> None:
    """OpenCV's logger to :data:`OPENCV_LOG_LEVEL_SILENT` and FFmpeg's to quiet
    (:data:`OPENCV_FFMPEG_QUIET_ENV`), each unless the user set its variable."""
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.setLogLevel(OPENCV_LOG_LEVEL_SILENT)
    os.environ.setdefault(*OPENCV_FFMPEG_QUIET_ENV)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 to /dev/null for a moment, for C++ libraries that write there
    whatever their log level: OpenCV's own AVI/MJPEG reader, tried when FFmpeg fails,
    writes ``Unexpected element. Expected: LIST.`` (seen on an AVI cut to its first 5 %);
    MediaPipe writes its start-up lines (:mod:`host.video.pose`)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def capture_fps(times_s: Sequence[float] | np.ndarray, default: float) -> float:
    """A camera's frame rate from its frames' capture times, frames/s: 1 / the median frame
    interval, which a stall (no frame for a while) does not drag down as the mean would;
    ``default`` (the rate the camera reported) when there are fewer than two frames."""
    steps = np.diff(np.asarray(times_s, dtype=float))
    step = float(np.median(steps)) if len(steps) else 0.0
    return 1.0 / step if step > 0 else default


class VideoSource:
    """Frames of one video file or camera, in order; a context manager.

    Attributes
    ----------
    name : str
        The file path or ``camera N``: the ``source`` of errors and of the PoseTrack.
    provenance : str
        ``"video"`` or ``"camera"`` (:data:`host.video.track.PROVENANCES`).
    fps : float
        Frames per second from the header (camera: reported or 30).
    width, height : int
        Frame size, px.
    frame_count : int or None
        Frames the header promises; None for a camera.
    notes : list of str
        What the source found (e.g. a file cut short), filled while frames are read.
    """

    provenance = "video"

    def __init__(self, capture: cv2.VideoCapture, name: str) -> None:
        self._capture = capture
        self.name = name
        self.notes: list[str] = []
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(capture.get(cv2.CAP_PROP_FPS))
        self.frame_count: int | None = None

    def __str__(self) -> str:
        return self.name

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        """Yield ``(index, time_s, rgb)``: index from 0, time s from the first frame, and the
        frame as uint8 RGB, shape (height, width, 3)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file or camera; harmless to call twice."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self) -> np.ndarray | None:
        if self._capture is None:
            raise VideoError(self.name, "is closed; open it again to read frames")
        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class FileSource(VideoSource):
    """A video file. Times are index / fps, or OpenCV's CAP_PROP_POS_MSEC where that agrees
    with index / fps within :data:`MAX_CLOCK_DISAGREEMENT_S` (variable-rate files)."""

    provenance = "video"

    def __init__(self, capture: cv2.VideoCapture, name: str) -> None:
        super().__init__(capture, name)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        if self.frame_count is not None and self.frame_count < MIN_FRAMES:
            self.close()
            raise VideoError(name, _too_few_frames(self.frame_count))
        low, high = SANE_FPS_RANGE
        if not low <= self.fps <= high:
            self.close()
            raise VideoError(
                name,
                f"the header gives {self.fps:g} frames/s; a video needs a frame rate of "
                f"{low:g}-{high:g} frames/s in its header (re-encode it, e.g. ffmpeg -r 30)",
            )

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        index = 0
        while True:
            rgb = self._read()
            if rgb is None:
                break
            time_s = index / self.fps
            pos_s = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if self._capture else 0
            # POS_MSEC after a read is the time of the NEXT frame on some backends.
            for candidate in (pos_s, pos_s - 1.0 / self.fps):
                if abs(candidate - time_s) <= MAX_CLOCK_DISAGREEMENT_S:
                    time_s = candidate
                    break
            yield index, time_s, rgb
            index += 1
        if index == 0:
            raise VideoError(
                self.name,
                "no frame could be decoded (damaged, cut short or not a video); "
                "give a video file OpenCV can read (e.g. MP4/H.264, AVI/MJPG)",
            )
        if index < MIN_FRAMES:
            raise VideoError(self.name, _too_few_frames(index, self.frame_count))
        if self.frame_count is not None and index < self.frame_count:
            self.notes.append(
                f"{self.name}: only {index} of the {self.frame_count} frames its header "
                f"promises could be decoded (cut short or damaged); the track ends at frame "
                f"{index - 1}"
            )


class CameraSource(VideoSource):
    """A camera. Times come from the capture clock (``now()`` when each frame is grabbed,
    time.monotonic unless given), relative to the first frame, whose capture clock time is
    :attr:`first_grab_s` (None before it); frames run until the caller stops."""

    provenance = "camera"

    def __init__(
        self, capture: cv2.VideoCapture, name: str, now: Callable[[], float] | None = None
    ) -> None:
        super().__init__(capture, name)
        self._now = now
        self.first_grab_s: float | None = None
        low, high = SANE_FPS_RANGE
        if not low <= self.fps <= high:
            self.notes.append(
                f"{name}: reports {self.fps:g} frames/s; {CAMERA_DEFAULT_FPS:g} assumed "
                "(frame times come from the capture clock)"
            )
            self.fps = CAMERA_DEFAULT_FPS

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        index = 0
        t0: float | None = None
        while True:
            if self._capture is None or not self._capture.grab():
                break
            grabbed = (self._now or time.monotonic)()  # looked up now: tests stand in for it
            ok, bgr = self._capture.retrieve()
            if not ok or bgr is None:
                break
            if t0 is None:
                t0 = self.first_grab_s = grabbed
            yield index, grabbed - t0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
        if index == 0:
            raise VideoError(
                self.name,
                "opened but gave no frame; give --camera N of a working camera or a video file",
            )
        self.notes.append(f"{self.name}: stopped giving frames after {index} frames")


def _too_few_frames(count: int, promised: int | None = None) -> str:
    frames = "frame" if count == 1 else "frames"
    has = f"has {count} {frames}"
    if promised is not None and promised > count:
        has = f"has {count} {frames} that decode of the {promised} its header promises"
    return (
        f"{has}; velocities need at least {MIN_FRAMES} "
        "(give a video of the worker, not a single frame)"
    )


def _is_still_image(path: Path) -> bool:
    """True when OpenCV's image codecs recognise the file by its content (its signature,
    whatever its name) as a single image: ``cv2.haveImageReader`` and ``cv2.imcount`` of 1.
    By name or backend it cannot be told: OpenCV opens a PNG or JPEG with its FFMPEG
    backend, as for a video (``getBackendName()`` is ``FFMPEG``; a JPEG even reports the
    fourcc MJPG and 1 frame); an animated GIF, which FFmpeg reads as a video, is not an
    image to ``haveImageReader`` (opencv-python 4.11, checked)."""
    try:
        return cv2.haveImageReader(str(path)) and cv2.imcount(str(path)) <= 1
    except cv2.error:
        return False


def open_video(path: str | Path) -> FileSource:
    """Open a video file.

    Raises
    ------
    VideoError
        The file does not exist, is a still image (PNG, JPEG, ...: by content, not name),
        is not a video OpenCV can open, has fewer than :data:`MIN_FRAMES` frames in its
        header, or its header's frame rate is missing or outside :data:`SANE_FPS_RANGE`.
        (A file whose header promises more but decodes fewer than :data:`MIN_FRAMES`
        frames raises when its frames are read.)
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(path, "no such file; give the path of a video file (e.g. .mp4, .avi)")
    _quiet_opencv()
    if _is_still_image(path):
        raise VideoError(
            path,
            "is a still image, not a video; velocities need at least "
            f"{MIN_FRAMES} frames: give a video file (e.g. MP4/H.264, AVI/MJPG)",
        )
    with native_stderr_silenced():
        capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoError(
            path,
            "OpenCV cannot open it as a video (not a video, or damaged); "
            "give a video file OpenCV can read (e.g. MP4/H.264, AVI/MJPG)",
        )
    return FileSource(capture, str(path))


def open_camera(index: int, *, now: Callable[[], float] | None = None) -> CameraSource:
    """Open camera ``index`` (OpenCV's device number, /dev/videoN on Linux); ``now`` is the
    capture clock (s; default time.monotonic).

    Raises
    ------
    VideoError
        ``camera N: cannot be opened: ...`` when no such device exists or it is in use.
    """
    name = f"camera {index}"
    _quiet_opencv()
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        capture.release()
        raise VideoError(
            name,
            "cannot be opened: no such device, or it is in use; "
            "give --camera N of a connected camera or a video file",
        )
    return CameraSource(capture, name, now)
