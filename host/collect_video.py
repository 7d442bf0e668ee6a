"""The camera beside the wearable: ``python -m host collect --video SOURCE``.

During the seed's protocol a camera sees what the experimenter judges by eye (task failure:
the elbow no longer held at 45°). ``collect`` records it beside the NIRS session:

* **The source** (:func:`host.video.feeds.open_feed`): a camera index (``--video 0``) or a
  video file standing in for a camera, given frame by frame at its own rate on the host's
  clock, as if live. Checked before the serial port is opened; a source that cannot serve is
  one line.
* **The recording** (:class:`SessionVideo`): a thread writes the frames as they come to
  ``<session>.video.avi`` (:func:`host.video.camera_record.record_frames`: MJPG, nothing
  held in memory; pose is estimated after the session, as it is slower than a camera). The
  host stamps each frame on its monotonic clock (collect's ``clock``) when it is grabbed.
  The serial link is read by collect's own loop as before: writing frames (OpenCV releases
  the GIL while it encodes) costs it a little CPU, never a read. If the video fails
  mid-way, the session goes on and the record says so (:data:`EVENT_VIDEO_END`).
* **The clock pairs**: each read of the link that brings data records gives a pair (host
  time read, newest device ``t_s``); :mod:`host.video.sync` fits the host → device clock
  map to them.
* **What survives a crash.** The frames' host times and the clock pairs are written into
  the session record (``.nrec``) as EVENT records once a second (:data:`EVENT_VIDEO_FRAMES`,
  :data:`EVENT_CLOCK`; per second only the pairs on that second's upper hull: the session's
  hull is among them), and flushed to the kernel with it: a host that dies loses at most
  the last second. The device times are made at the end, from the whole session's pairs
  (a fit over the whole session is better than any made while it runs), into
  ``<session>.frames.csv`` (:func:`host.video.sync.write_frame_table`); ``collect --recover``
  makes the same table from the record alone (:func:`recover_frame_table`). The video file
  is written under ``.<session>.video.part.avi`` until the end: after a crash that file
  holds every frame but the writer's last buffered ones (OpenCV reads such a file).
* **After the session**: :func:`session_pose_track` runs pose on the recording, with the
  frames' capture times; :func:`video_task_failure` marks task failure from the elbow
  angle in the hold (:mod:`host.video.task_failure`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from device.codec import Record, RecordKind
from host.collect_records import CLOCK_RESET_S, CollectedSession
from host.video.feeds import VideoFeed
from host.video.sync import (
    MAX_RATE_ERROR,
    FrameTable,
    fit_clock_map,
    upper_hull,
    write_frame_table,
)
from host.video.track import PoseTrack

__all__ = [
    "DEFAULT_LATENCY_MS",
    "EVENT_CLOCK",
    "EVENT_VIDEO",
    "EVENT_VIDEO_END",
    "EVENT_VIDEO_FRAMES",
    "FRAMES_SUFFIX",
    "MAX_LATENCY_MS",
    "VIDEO_SUFFIX",
    "SessionVideo",
    "frame_table",
    "hold_phase",
    "recover_frame_table",
    "session_pose_track",
    "video_task_failure",
]

#: Camera latency assumed unless --video-latency-ms says it, ms: from the exposure to the
#: host's grab. Unmeasured (assumption): a USB camera's is tens of ms, not known here; film
#: the wearable's LED switching on to measure it. A file standing in for a camera has none.
DEFAULT_LATENCY_MS = 0.0
#: The largest latency --video-latency-ms takes, ms (assumption): USB and network cameras
#: deliver a frame within a few hundred ms; a second or more is a typing slip (seconds
#: for ms) that would move every frame off its sample.
MAX_LATENCY_MS = 1000.0
#: The session's video and frame table: ``<stem>`` + these.
VIDEO_SUFFIX = ".video.avi"
FRAMES_SUFFIX = ".frames.csv"
#: Events collect adds to the session record for the video ("collect_" like its others:
#: :class:`host.collect_records.CollectedSession` leaves them out of the device's counts).
EVENT_VIDEO = "collect_video"  # the source, its rate and size, the latency
EVENT_VIDEO_FRAMES = "collect_video_frames"  # first: index, host_s: [capture times]
EVENT_VIDEO_END = "collect_video_end"  # reason, frames
EVENT_CLOCK = "collect_clock"  # host_s: [read times], device_s: [newest t_s of each read]
#: Longest wait for the recording thread at the end of the session, s (a camera's grab
#: returns within a frame; a hung driver must not keep the NIRS file from being written).
STOP_TIMEOUT_S = 10.0
#: Most frame times in one EVENT record: 1000 times of about 18 bytes each keep it far
#: under the codec's 64 kB (:data:`device.codec.MAX_RECORD_BYTES`) whatever the rate or a
#: backlog (33 s at 30 frames/s).
FRAMES_PER_EVENT = 1000
_DATA_KINDS = (RecordKind.FRAME, RecordKind.SAMPLE, RecordKind.PREDICTION)
_DIGITS = 6  # host and device times in the record: µs


# -- during the session -----------------------------------------------------------------------


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(float(v), _DIGITS) for v in values]


class SessionVideo:
    """The video of one collect session: the recording thread, the clock pairs and the
    events for the session record.

    Args:
        feed: From :func:`open_feed` (not closed here).
        path: The video file to write (``<stem>.video.avi``).
        latency_s: Camera latency, s: subtracted from each frame's host stamp.
        log: Where notes go (the video failing, the end).
    """

    def __init__(
        self, feed: VideoFeed, path: Path, latency_s: float, log: Callable[[str], None]
    ) -> None:
        self.feed, self.path, self.latency_s, self.log = feed, Path(path), latency_s, log
        self.frame_host_s: list[float] = []
        self.pair_host_s: list[float] = []
        self.pair_device_s: list[float] = []
        self._lock = threading.Lock()
        self._new_frames: list[float] = []
        self._written = 0  # frames already put in an event
        self._pending: list[tuple[float, float]] = []  # this second's pairs
        self._last_device_s: float | None = None
        self._end: str | None = None  # why the recording ended (from the thread)
        self._end_told = False
        self._thread = threading.Thread(target=self._record, name="collect-video", daemon=True)

    # The thread.
    def _record(self) -> None:
        from host.video.camera_record import record_frames

        def on_frame(_index: int, host_s: float) -> None:
            with self._lock:
                self._new_frames.append(host_s)

        try:
            record_frames(
                self.feed, self.path, should_stop=lambda: self._end is not None, on_frame=on_frame
            )
            end = "the session ended" if not self.feed.finished else "the video source ended"
        except Exception as exc:  # the NIRS session goes on whatever the video does
            end = f"the video failed: {exc}"
        with self._lock:
            self._end = self._end or end

    def start(self, t_s: float) -> Record:
        """Start recording; returns the :data:`EVENT_VIDEO` record (device time ``t_s``)."""
        self._thread.start()
        feed = self.feed
        note = ""
        if feed.kind == "camera" and self.latency_s == DEFAULT_LATENCY_MS / 1000.0:
            note = "camera latency unmeasured: frame times are the host's grab times"
        return Record.event(
            t_s,
            EVENT_VIDEO,
            source=feed.name,
            kind=feed.kind,
            file=self.path.name,
            fps=feed.fps,
            width=feed.width,
            height=feed.height,
            latency_ms=self.latency_s * 1000.0,
            note=note,
        )

    def on_read(self, host_s: float, records: Sequence[Record]) -> None:
        """One read of the link at host time ``host_s`` (s, collect's clock) gave
        ``records``: keep (host_s, newest data t_s) as a clock pair."""
        times = [r.t_s for r in records if r.kind in _DATA_KINDS]
        if times:
            self._pending.append((host_s, max(times)))

    def each_second(self, t_s: float) -> list[Record]:
        """The records to write now (device time ``t_s``): new frames' host times, this
        second's clock pairs on their upper hull, and the end of the video if it ended."""
        out = []
        with self._lock:
            new, self._new_frames = self._new_frames, []
            end = self._end
        for i in range(0, len(new), FRAMES_PER_EVENT):
            part = _rounded(new[i : i + FRAMES_PER_EVENT])
            out.append(Record.event(t_s, EVENT_VIDEO_FRAMES, first=self._written, host_s=part))
            self._written += len(part)
            self.frame_host_s += part
        if self._pending:
            host, device = upper_hull(*np.array(self._pending).T)
            self._pending = []
            out.append(
                Record.event(t_s, EVENT_CLOCK, host_s=_rounded(host), device_s=_rounded(device))
            )
            self.pair_host_s += _rounded(host)
            self.pair_device_s += _rounded(device)
        if end is not None and not self._thread.is_alive() and not self._end_told:
            self._end_told = True
            if end != "the session ended":
                self.log(
                    f"note: video: {end} after {self._written} frames; the NIRS session goes on"
                )
            out.append(Record.event(t_s, EVENT_VIDEO_END, reason=end, frames=self._written))
        return out

    def stop(self, t_s: float) -> list[Record]:
        """End the recording (waits up to :data:`STOP_TIMEOUT_S`); the last records."""
        with self._lock:
            self._end = self._end or "the session ended"
        self.feed.stop()
        if self._thread.ident is not None:  # started
            self._thread.join(STOP_TIMEOUT_S)
        if self._thread.is_alive():
            self.log(f"note: video: the source did not stop within {STOP_TIMEOUT_S:g} s; left")
        return self.each_second(t_s)

    def finish(self, session: CollectedSession, table_path: Path) -> Path | None:
        """Write the frame table (device times from the whole session's clock pairs); log
        what it holds. Never raises: the NIRS session's file comes first."""
        try:
            table = frame_table(
                self.frame_host_s,
                self.pair_host_s,
                self.pair_device_s,
                latency_s=self.latency_s,
                origin_s=session.origin_s if session.first_t_s is not None else None,
                source=self.feed.name,
            )
            path = write_frame_table(table_path, table)
        except (ValueError, OSError) as exc:
            self.log(
                f"note: video: no frame table written ({exc}); the video is {self.path}, "
                "the frames' times are in the session record (collect --recover)"
            )
            return None
        self.log(f"video: {table.n_frames} frames in {self.path.name}, their times in {path.name}")
        for line in table.comments[1:]:
            self.log(f"  {line}")
        return path


# -- the frame table, live or from the record -------------------------------------------------


def _since_last_reset(host: np.ndarray, device: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The pairs after the device's clock last went back by more than
    :data:`host.collect_records.CLOCK_RESET_S` (it restarted: earlier pairs are another
    clock's), and how many were dropped."""
    drops = np.flatnonzero(np.diff(device) < -CLOCK_RESET_S)
    first = int(drops[-1]) + 1 if drops.size else 0
    return host[first:], device[first:], first


def frame_table(
    frame_host_s: Sequence[float],
    pair_host_s: Sequence[float],
    pair_device_s: Sequence[float],
    *,
    latency_s: float,
    origin_s: float | None,
    source: str,
) -> FrameTable:
    """The frame table: each frame's device time, capture = host stamp − ``latency_s``,
    mapped by :func:`host.video.sync.fit_clock_map` of the clock pairs.

    Args:
        frame_host_s: Host stamp of each frame written, s, shape (n_frames,).
        pair_host_s, pair_device_s: The clock pairs, s, in the order read.
        latency_s: Camera latency, s.
        origin_s: The session file's t = 0 on the device's clock (None: no data).
        source: The camera or file, for the comments.

    Raises:
        ValueError: No frame, or no clock pair (the link gave no data).
    """
    frames = np.asarray(frame_host_s, dtype=np.float64)
    if frames.size == 0:
        raise ValueError("the video source gave no frame")
    host, device, dropped = _since_last_reset(
        np.asarray(pair_host_s, dtype=np.float64), np.asarray(pair_device_s, dtype=np.float64)
    )
    clock = fit_clock_map(host, device)
    device_s = clock.to_device(frames - latency_s)
    t_s = device_s - origin_s if origin_s is not None else np.full(frames.size, np.nan)
    comments = [
        f"frame table of {source}, written by python -m host collect (host.video.sync)",
        clock.describe(),
        f"camera latency {latency_s * 1000:g} ms subtracted from the host stamps",
    ]
    if abs(clock.rate - 1.0) > MAX_RATE_ERROR:
        comments.append(
            f"the device clock's rate {clock.rate:.4f} is not a crystal's drift (more than "
            f"{MAX_RATE_ERROR:.0%} from 1): a simulated clock, or the pairs are broken"
        )
    outside = clock.outside(frames - latency_s)
    if outside:
        comments.append(f"{outside} frames lie outside the pairs' host times: extrapolated")
    if dropped:
        comments.append(
            f"the device's clock restarted: the {dropped} pairs before it were left out; "
            "frames before the restart are on the wrong clock"
        )
    if origin_s is not None:
        comments.append(f"t_s = device_s - {origin_s:g} (the session file's time base)")
    return FrameTable(frames, device_s, t_s, comments)


def recover_frame_table(
    record_path: Path, table_path: Path, log: Callable[[str], None]
) -> Path | None:
    """The frame table of a session from its ``.nrec`` record alone (``collect --recover``);
    None (and nothing written) when the record has no video. A video left under its
    temporary name by a crash is renamed to ``<stem>.video.avi``.

    Raises:
        device.session_format.SessionFileError: Not a session record.
    """
    from device.session_reader import read_session_file

    frames: dict[int, float] = {}
    pair_h: list[float] = []
    pair_d: list[float] = []
    start: dict[str, Any] | None = None
    session = CollectedSession()
    for record in read_session_file(record_path).records:
        session.add(record)
        if record.kind is not RecordKind.EVENT:
            continue
        name, data = record.fields.name, record.fields.data
        if name == EVENT_VIDEO:
            start = dict(data)
        elif name == EVENT_VIDEO_FRAMES:
            for i, t in enumerate(data["host_s"], int(data["first"])):
                frames[i] = float(t)
        elif name == EVENT_CLOCK:
            pair_h += map(float, data["host_s"])
            pair_d += map(float, data["device_s"])
    if start is None:
        return None
    if table_path.exists():
        log(f"note: video: {table_path} exists: kept (delete it to make it again)")
        return None
    video = table_path.parent / str(start["file"])
    part = video.with_name(f".{video.stem}.part{video.suffix}")
    if not video.exists() and part.exists():
        part.rename(video)
        log(f"note: video: {part.name} (left by the crash) renamed {video.name}")
    try:
        table = frame_table(
            [frames[i] for i in sorted(frames)],
            pair_h,
            pair_d,
            latency_s=float(start["latency_ms"]) / 1000.0,
            origin_s=session.origin_s if session.first_t_s is not None else None,
            source=str(start["source"]),
        )
    except ValueError as exc:
        log(f"note: video: no frame table from {record_path.name} ({exc})")
        return None
    path = write_frame_table(table_path, table)
    log(f"video: {table.n_frames} frame times from {record_path.name} to {path.name}")
    return path


# -- after the session: pose and task failure -------------------------------------------------


def session_pose_track(
    video_path: Path,
    table: FrameTable,
    *,
    name: str,
    progress: Callable[[int, int | None], None] | None = None,
) -> PoseTrack:
    """Pose (:func:`host.video.pose.estimate_poses`) on a session's recorded video, each
    frame at its capture time (``table.video_s``): the track's ``time_s`` is s from the
    first frame on the host's clock (then resampled to 30 frames/s);
    :func:`video_task_failure` maps it to the device's. ``progress(done, total)`` after
    every frame, as :func:`~host.video.pose.estimate_poses` calls it."""
    from host.video.camera_record import CameraRecording, ReplayedCamera
    from host.video.pose import estimate_poses
    from host.video.video_io import capture_fps

    times = table.video_s.tolist()
    recording = CameraRecording(Path(video_path), name, times, capture_fps(times, 0.0))
    with ReplayedCamera(recording) as replay:
        # The elbow hold is filmed from beside.
        return estimate_poses(replay, view="side", progress=progress)


def hold_phase(phases: Sequence[tuple[str, float]], end_s: float) -> tuple[float, float] | None:
    """(start, end) of the session's last hold, s: from its phase key ('h') to the next
    phase key or the planned hold's end (:data:`host.video.task_failure.PLANNED_HOLD_S`),
    whichever is later, within ``end_s`` (the session's last time); None without a hold.
    The experimenter keys the end of a failed hold after seeing it fail: ending there would
    put the failure inside the detector's grace for a hold's planned end.
    ``phases``: (name, onset) as :attr:`host.collect_records.CollectedSession.phases`."""
    from host.video.task_failure import PLANNED_HOLD_S

    holds = [i for i, (name, _) in enumerate(phases) if name == "hold"]
    if not holds:
        return None
    i = holds[-1]
    start = float(phases[i][1])
    keyed = phases[i + 1][1] if i + 1 < len(phases) else end_s
    return start, float(min(max(keyed, start + PLANNED_HOLD_S), end_s))


def video_task_failure(
    frame_device_s: np.ndarray,
    frame_video_s: np.ndarray,
    track: PoseTrack,
    hold_start_s: float,
    hold_end_s: float,
    *,
    side: str,
) -> Any:
    """Task failure from the elbow angle in the hold: ``TaskFailure`` (its ``t_s`` on the
    clock of ``frame_device_s`` and the hold times) or None (the arm held to the end).

    Each pose frame's time (``track.time_s``, s from the first recorded frame, as
    :func:`session_pose_track` makes it) is put on the device's clock by linear
    interpolation in the frame table (``frame_video_s`` → ``frame_device_s``, shapes
    (n_frames,)); then :func:`host.video.task_failure.elbow_flexion_deg` (``side``: the
    wearable's arm) and :func:`host.video.task_failure.detect_task_failure` decide.
    The hold times come from the session's phase events (:func:`hold_phase`), on the same
    clock as ``frame_device_s`` (the device's; or both on the session file's time base).
    """
    from host.video.task_failure import detect_task_failure, elbow_flexion_deg

    video_s = np.asarray(frame_video_s, dtype=np.float64)
    device_s = np.asarray(frame_device_s, dtype=np.float64)
    if video_s.shape != device_s.shape or video_s.size < 2:
        raise ValueError(
            f"frame_video_s and frame_device_s must be two arrays of one length >= 2, got "
            f"shapes {video_s.shape} and {device_s.shape}"
        )
    t_s = np.interp(track.time_s, video_s, device_s)
    flexion = elbow_flexion_deg(track, side)
    return detect_task_failure(t_s, flexion, hold_start_s, hold_end_s)
