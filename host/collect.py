"""Record a labelled session from the wearable: ``python -m host collect``.

The data-collection step of seed 003 §3.3.1: the wearable streams its records over
the serial link (:mod:`device.link`) while the experimenter types what the participant
reports, one keystroke each::

    0 … 9   Borg CR10 rating 0 … 9        x   Borg 10
    b h r   start of baseline / hold / rest
    f       task failure (the hold could not be kept)
    q       end of the session (Ctrl-C too)

Anything else is ignored with a one-line hint. Every key is stamped with the
*device's* time, the newest ``t_s`` of a FRAME or SAMPLE received, so labels and
signals share one clock. (Not only SAMPLEs: the device releases the samples of its
20 s baseline in one burst at the end of it, so during the baseline the newest
sample is up to 20 s old, while FRAMEs arrive 43 times a second.)

Everything received, and every key as an EVENT record, is appended to a crash-safe
session record (:class:`device.recorder.SessionRecorder`, ``<name>.nrec``) beside the
output, flushed to the kernel after every batch: if the host dies, nothing received
before is lost, and :func:`host.recover.rebuild` (``python -m host collect --recover
FILE``) makes the SNIRF file from the record alone, also from a damaged one (the damage
costs only the records it touches). At the end the session is written in the same
SNIRF layout as the simulated cohort (:func:`host.snirf_writer.write_session`): what goes
where, and the file's time base, is :mod:`host.collect_records`'s, which makes the
SNIRF session from the records both here and in :mod:`host.recover`.

With a video source (``video``: a camera, or a file standing in for one) a thread records it
beside the session, and its frames get times on the device's clock from the link itself
(:mod:`host.collect_video`, :mod:`host.video.sync`): ``<name>.video.avi`` and
``<name>.frames.csv``. Nothing the video does stops or loses the NIRS session.
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from device.clock import Clock
from device.codec import Record, RecordKind
from device.labels import DEFAULT_MAPPING, FatigueMapping
from device.link import DEFAULT_BAUDRATE, LinkError, LinkReader, LinkReaderStats, SerialPort
from device.recorder import SessionRecorder
from host.collect_records import (
    EVENT_BORG,
    EVENT_END,
    EVENT_LINK,
    EVENT_PHASE,
    EVENT_TASK_FAILURE,
    EVENT_WALL_CLOCK,
    KEY_HELP,
    CollectedSession,
    CollectError,
    SessionFacts,
    check_identity,
    key_action,
)
from host.collect_video import FRAMES_SUFFIX, VIDEO_SUFFIX, SessionVideo
from host.live.feeds import Fanout, RecordSink, recording_event
from host.snirf_writer import write_session
from host.video.feeds import VideoFeed

__all__ = [
    "DEFAULT_OUT",
    "KeySource",
    "TerminalKeys",
    "collect",
]

#: Time between looks at the port and the keyboard when nothing arrived, seconds. At
#: 115200 baud (11.5 kB/s) 20 ms is 230 bytes: far below a tty's 4 kB input buffer.
POLL_INTERVAL_S = 0.02
#: Where ``collect`` writes its sessions unless told (--out).
DEFAULT_OUT = Path("data/human")
#: Time between status lines (and link-statistics events in the record), seconds.
STATUS_INTERVAL_S = 1.0
_DATA_KINDS = (RecordKind.FRAME, RecordKind.SAMPLE, RecordKind.PREDICTION)
_LINK_FIELDS = (
    "frames",
    "gaps",
    "lost_frames",
    "uncertain_gaps",
    "crc_errors",
    "framing_errors",
    "decode_errors",
    "restarts",
    "duplicates",
    "late_frames",
    "bytes_received",
)


class KeySource(Protocol):
    """Where keystrokes come from: ``read()`` returns what was typed, "" if nothing."""

    def read(self) -> str: ...


# -- the keyboard -----------------------------------------------------------------------------


class TerminalKeys:
    """Keystrokes from a terminal, one at a time, unechoed, never waiting.

    The terminal goes to cbreak mode (no line editing, no echo; Ctrl-C still
    interrupts) at the first :meth:`read`, so nothing changes if the session fails
    before it starts; :meth:`close` (or leaving the ``with`` block, also on an
    exception) puts the saved settings back. Standard input that is not a terminal (a
    pipe) is read as it is. Needs ``termios`` (Linux, macOS).

    Args:
        fd: File descriptor to read (default: standard input).
    """

    def __init__(self, fd: int | None = None) -> None:
        self.fd = fd
        self._saved: list | None = None
        self._started = False
        self._eof = False

    def read(self) -> str:
        if not self._started:
            self._start()
        if self._eof:
            return ""
        ready, _, _ = select.select([self.fd], [], [], 0)
        if not ready:
            return ""
        data = os.read(self.fd, 64)
        if not data:  # end of a pipe: nothing more will come
            self._eof = True
        return data.decode("utf-8", errors="replace")

    def _start(self) -> None:
        self._started = True
        if self.fd is None:
            self.fd = sys.stdin.fileno()
        if not os.isatty(self.fd):
            return
        import termios

        self._saved = termios.tcgetattr(self.fd)
        mode = termios.tcgetattr(self.fd)
        mode[3] &= ~(termios.ICANON | termios.ECHO)  # lflags: keys come one by one, unechoed
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd, termios.TCSAFLUSH, mode)

    def close(self) -> None:
        """Restore the terminal. Safe to call twice."""
        saved, self._saved = self._saved, None
        if saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)

    def __enter__(self) -> TerminalKeys:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- collect ----------------------------------------------------------------------------------


def _free_stem(folder: Path, base: str) -> Path:
    """``folder/base`` (or ``base_2``, ``base_3`` …) with no file of a session: .snirf,
    .nrec, a video or its frame table."""
    n = 1
    while True:
        stem = folder / (base if n == 1 else f"{base}_{n}")
        names = (".snirf", ".nrec", VIDEO_SUFFIX, FRAMES_SUFFIX)
        if not any(stem.with_name(stem.name + suffix).exists() for suffix in names):
            return stem
        n += 1


def _link_stats(stats: LinkReaderStats) -> dict[str, int]:
    return {k: int(getattr(stats, k)) for k in _LINK_FIELDS}


def collect(
    port: str | SerialPort,
    out_dir: str | os.PathLike,
    *,
    subject_id: str,
    protocol: str,
    side: str,
    provenance: str = "human",
    keys: KeySource,
    clock: Clock,
    mapping: FatigueMapping = DEFAULT_MAPPING,
    until: float | None = None,
    baudrate: int = DEFAULT_BAUDRATE,
    site: Mapping[str, float] | None = None,
    log: Callable[[str], None] = print,
    sink: RecordSink | None = None,
    video: VideoFeed | None = None,
    video_latency_s: float = 0.0,
) -> Path:
    """Record one session from the wearable's serial link, labelled from the keyboard.

    Args:
        port: Serial device (e.g. "/dev/ttyACM0"), opened with pyserial, or an open
            port object (``read``, ``in_waiting``, ``close``; not closed here).
        out_dir: Dataset folder (made if missing). Writes
            ``<subject>_<protocol>_<side>.snirf`` and its ``.nrec`` record (``_2``, ``_3``
            … if taken: nothing is overwritten).
        subject_id: Subject code (letters, digits, '_', '-'; never a name).
        protocol: One of :data:`host.session.PROTOCOLS`.
        side: One of :data:`host.session.SIDES`.
        provenance: "human", or "simulated" for a simulated board.
        keys: Key source; ``read()`` returns what was typed since the last call.
        clock: Host clock (``monotonic``, ``sleep``): status lines, waiting.
        mapping: Borg → level mapping, written into the dataset.
        until: Also end once the device time reaches this many seconds (on the file's
            time base, see :mod:`host.collect_records`; None: only 'q' or Ctrl-C end it).
        baudrate: Line speed when ``port`` is a device name, bits/s.
        site: Measurement-site facts for the session's metadata, keys of
            :data:`host.session.MEASUREMENT_SITE` (adipose tissue thickness, mm; probe
            pressure, mmHg): what a validation against a reference device reports.
        log: Where progress lines go.
        sink: Also gets every record received and noted, and once a second the
            recording's state (:mod:`host.live.feeds`: the live page, the broker).
        video: A camera or a file standing in for one
            (:func:`host.video.feeds.open_feed`, opened on ``clock``; stopped here, closed
            by the caller): recorded to ``<name>.video.avi``, each frame's time on the
            device's clock in ``<name>.frames.csv`` (:mod:`host.video.sync`).
        video_latency_s: The camera's latency (exposure to grab), s, taken off its stamps.

    Returns:
        The SNIRF file written.

    Raises:
        ValueError: A subject_id, protocol, side or provenance the dataset rejects
            (checked before the port is opened).
        device.link.LinkError: The port cannot be opened or read (names it).
        CollectError: No sample was received (names the port), or the folder cannot
            be made.
    """
    check_identity(subject_id, protocol, side, provenance)
    if until is not None and not (isinstance(until, (int, float)) and until > 0):
        raise ValueError(f"until must be None or seconds > 0, got {until!r}")
    if not video_latency_s >= 0:
        raise ValueError(f"video_latency_s must be seconds >= 0, got {video_latency_s!r}")
    folder = Path(out_dir)
    # The port first: a port that cannot be opened leaves no folder behind.
    if isinstance(port, str):
        reader = LinkReader.open(port, baudrate=baudrate, timeout_s=0)
    else:
        reader = LinkReader(port)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reader.close()
        raise CollectError(f"cannot make the dataset folder {folder}: {exc}") from exc
    stem = _free_stem(folder, f"{subject_id}_{protocol}_{side}")
    who = SessionFacts(
        subject_id, protocol, side, provenance, reader.name, mapping, dict(site or {})
    )
    session = CollectedSession()
    sink = sink or Fanout()  # to no sink
    try:
        recorder = SessionRecorder(stem.with_suffix(".nrec"), info=who.to_info(), clock=clock)
    except BaseException:
        reader.close()
        raise
    log(f"recording {subject_id} {protocol} {side} ({provenance}) from {reader.name}")
    log(f"  into {stem.with_suffix('.nrec')}; {KEY_HELP}")
    camera = None
    if video is not None:
        camera = SessionVideo(video, stem.with_name(stem.name + VIDEO_SUFFIX), video_latency_s, log)
        log(f"  video from {video.name} ({video.fps:g} frames/s) into {camera.path.name}")
    try:
        sink.send(recording_event(0.0, recorder, provenance))
        if camera is not None:
            recorder.write(camera.start(0.0))
        _run(reader, recorder, session, keys, clock, mapping, until, log, sink, camera)
    finally:
        if camera is not None:
            for record in camera.stop(session.device_t_s or 0.0):
                recorder.write(record)
        session.link = _link_stats(reader.stats)
        last = Record.event(session.device_t_s or 0.0, EVENT_LINK, **session.link)
        recorder.write(last)
        recorder.close()
        sink.send(last)
        sink.send(recording_event(last.t_s, recorder, provenance, ended=True))
        reader.close()
    if camera is not None:
        camera.finish(session, stem.with_name(stem.name + FRAMES_SUFFIX))
    path = _write(session, who, stem, log)
    return path


def _run(
    reader: LinkReader,
    recorder: SessionRecorder,
    session: CollectedSession,
    keys: KeySource,
    clock: Clock,
    mapping: FatigueMapping,
    until: float | None,
    log: Callable[[str], None],
    sink: RecordSink,
    camera: SessionVideo | None = None,
) -> None:
    def note(name: str, **data: Any) -> None:
        record = Record.event(session.device_t_s, name, **data)
        recorder.write(record)
        session.add(record)
        sink.send(record)

    next_status = clock.monotonic() + STATUS_INTERVAL_S
    warned_stop = False
    reason = None
    try:
        while reason is None:
            records = reader.poll()
            if camera is not None and records:
                camera.on_read(clock.monotonic(), records)
            for record in records:
                recorder.write(record)
                sink.send(record)
                new_data = session.device_t_s is None and record.kind in _DATA_KINDS
                warning = session.add(record)
                if warning:
                    log(f"warning: {warning}")
                if new_data:
                    utc = datetime.now(timezone.utc).isoformat()
                    note(EVENT_WALL_CLOCK, utc=utc)
            if records:
                recorder.flush()  # to the kernel: a host crash loses none of it
            for key in keys.read():
                reason = _on_key(key, session, note, mapping, log) or reason
            if recorder.stopped and not warned_stop:
                warned_stop = True
                log(f"warning: {recorder.stop_reason}; the SNIRF file is still written at the end")
            if (
                until is not None
                and session.device_t_s is not None
                and session.since_origin(session.device_t_s) >= until
            ):
                reason = reason or f"{until:g} s of device time"
            now = clock.monotonic()
            if now >= next_status:
                next_status = max(next_status + STATUS_INTERVAL_S, now)
                session.link = _link_stats(reader.stats)
                if session.device_t_s is not None:
                    note(EVENT_LINK, **session.link)
                    sink.send(recording_event(session.device_t_s, recorder))
                for notice in sink.take_notices():
                    log(f"note: {notice}")
                if session.wants_wall_clock():  # the least delayed pair dates the start
                    note(EVENT_WALL_CLOCK, utc=datetime.now(timezone.utc).isoformat())
                if camera is not None:
                    for record in camera.each_second(session.device_t_s or 0.0):
                        recorder.write(record)
                    recorder.flush()
                log(_status(session, reader))
            if not records and reason is None:
                clock.sleep(POLL_INTERVAL_S)
    except KeyboardInterrupt:
        reason = "interrupted (Ctrl-C)"
        log("interrupted: ending the session as if 'q' was typed")
    except LinkError as exc:  # unplugged, or a device speaking another format
        reason = f"the link failed: {exc}"
        log(f"error: {exc}; ending the session with what has arrived")
    if session.device_t_s is not None:
        note(EVENT_END, reason=reason)
    else:
        session.ended_by = reason
    log(f"session ended: {reason}")


def _on_key(
    key: str, session: CollectedSession, note: Callable, mapping: FatigueMapping, log: Callable
) -> str | None:
    """Act on one key; return the end reason if it ends the session."""
    action = key_action(key)
    if action is None:
        log(f"key {key!r} means nothing here; {KEY_HELP}")
        return None
    kind, value = action
    if kind == "quit":
        return "'q' typed"
    t = session.device_t_s
    if t is None:
        log(f"key {key!r} not recorded: no data from the device yet, so no device time")
        return None
    stamp = f"t={session.since_origin(t):7.1f} s"
    if kind == "borg":
        note(EVENT_BORG, rating=value, key=key)
        log(f"{stamp}  Borg {value} ({mapping.name(value)})")
    elif kind == "phase":
        if session.current_phase == value:
            log(f"{stamp}  already in {value}: key {key!r} ignored")
            return None
        note(EVENT_PHASE, phase=value)
        log(f"{stamp}  {value} starts")
    elif kind == "task_failure":
        if session.task_failure_s is not None:
            first = session.since_origin(session.task_failure_s)
            log(f"{stamp}  task failure already marked at {first:.1f} s: 'f' ignored")
            return None
        note(EVENT_TASK_FAILURE)
        log(f"{stamp}  task failure")
    return None


def _status(session: CollectedSession, reader: LinkReader) -> str:
    s = reader.stats
    link = (
        f"link {s.frames} frames, {s.describe()}, {s.restarts} restarts, "
        f"{s.crc_errors} CRC errors"
    )
    if session.device_t_s is None:
        return f"waiting for data on {reader.name} ({s.bytes_received} bytes so far); {link}"
    if not session.samples:  # the device holds its baseline's samples until it ends
        return f"t={session.since_origin(session.device_t_s):7.1f} s  device calibrating; {link}"
    last = f"Borg {session.borg[-1][1]}" if session.borg else "no Borg yet"
    phase = session.current_phase or "no phase"
    return (
        f"t={session.since_origin(session.device_t_s):7.1f} s  "
        f"{len(session.samples):6d} samples  "
        f"{last:11s}  {phase:8s}  {link}"
    )


def _write(
    session: CollectedSession, who: SessionFacts, stem: Path, log: Callable[[str], None]
) -> Path:
    nrec = stem.with_suffix(".nrec")
    record = session.to_record(who, nrec.name)
    path = write_session(stem.with_suffix(".snirf"), record)
    log(
        f"wrote {path}: {record.n_samples} samples ({record.t_s[-1] - record.t_s[0]:.0f} s), "
        f"{record.borg.size} Borg reports, phases "
        f"{', '.join(p[0] for p in record.phases)}; link: {session.link.get('gaps', 0)} gaps, "
        f"{session.link.get('crc_errors', 0)} CRC errors"
    )
    return path
