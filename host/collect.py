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
before is lost, and :func:`rebuild` (``python -m host collect --recover FILE``) makes
the SNIRF file from the record alone, also from a damaged one (the damage costs only
the records it touches). At the end the session is written in the same
SNIRF layout as the simulated cohort (:func:`host.dataset.write_session`):

* signals from the SAMPLE records (t_s, intensity_v, dark_v, d_od, ΔHbO2, ΔHHb, flags);
* Borg reports, and a level per sample held from the latest rating (before the first
  rating: the level of Borg 0, and a metadata note says so);
* phases from the b/h/r keys, each lasting until the next (none typed: one
  "baseline" phase spanning the session); the task-failure time; the provenance;
* metadata: link statistics, the device's header event, the record file's name.

Times in the file start at the whole device second at or before the first data
received (``device_time_origin_s`` in the metadata), like the simulated sessions.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from device.chain import ChainConfig
from device.clock import Clock
from device.codec import HEADER_EVENT, Event, Record, RecordKind
from device.labels import DEFAULT_MAPPING, FatigueMapping
from device.link import DEFAULT_BAUDRATE, LinkError, LinkReader, LinkReaderStats, SerialPort
from device.recorder import SessionRecorder, read_session_file
from host.dataset import PROTOCOLS, PROVENANCES, SIDES, SessionRecord, write_session

__all__ = [
    "KEY_HELP",
    "CollectError",
    "KeySource",
    "TerminalKeys",
    "collect",
    "key_action",
    "main_args",
    "rebuild",
]

#: Time between looks at the port and the keyboard when nothing arrived, seconds. At
#: 115200 baud (11.5 kB/s) 20 ms is 230 bytes: far below a tty's 4 kB input buffer.
POLL_INTERVAL_S = 0.02
#: Time between status lines (and link-statistics events in the record), seconds.
STATUS_INTERVAL_S = 1.0
#: A data time this far below the newest one means the device's clock restarted, s.
CLOCK_RESET_S = 1.0
#: The phase each phase key starts (the cohort's phase kinds).
PHASE_KEYS = {"b": "baseline", "h": "hold", "r": "rest"}
#: Subject IDs become file names: letters, digits, '_' and '-', at most 64 (no '.': it
#: would pass for a file suffix).
SUBJECT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: One line for the experimenter.
KEY_HELP = (
    "keys: 0-9 = Borg 0-9, x = Borg 10, b/h/r = baseline/hold/rest starts, "
    "f = task failure, q = end"
)

# Names of the events the host adds to the session record.
_HOST_EVENT_PREFIX = "collect_"
EVENT_BORG = "collect_borg"
EVENT_PHASE = "collect_phase"
EVENT_TASK_FAILURE = "collect_task_failure"
EVENT_LINK = "collect_link"
EVENT_WALL_CLOCK = "collect_wall_clock"
EVENT_END = "collect_end"
#: Key of the session facts in the record file's header info.
HEADER_KEY = "collect"
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


class CollectError(Exception):
    """A session that cannot be recorded or written; the message says why and where."""


class KeySource(Protocol):
    """Where keystrokes come from: ``read()`` returns what was typed, "" if nothing."""

    def read(self) -> str: ...


def key_action(key: str) -> tuple[str, Any] | None:
    """What a key means: ``("borg", 0…10)``, ``("phase", name)``, ``("task_failure", None)``,
    ``("quit", None)``, or None for a key with no meaning. Letters in either case."""
    k = key.lower()
    if len(k) == 1 and "0" <= k <= "9":
        return ("borg", int(k))
    if k == "x":
        return ("borg", 10)
    if k in PHASE_KEYS:
        return ("phase", PHASE_KEYS[k])
    if k == "f":
        return ("task_failure", None)
    if k == "q":
        return ("quit", None)
    return None


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


# -- the session, from records ----------------------------------------------------------------


@dataclass
class _Identity:
    subject_id: str
    protocol: str
    side: str
    provenance: str
    port: str
    mapping: FatigueMapping

    def to_info(self) -> dict[str, Any]:
        return {
            HEADER_KEY: {
                "subject_id": self.subject_id,
                "protocol": self.protocol,
                "side": self.side,
                "provenance": self.provenance,
                "port": self.port,
                "mapping": self.mapping.to_dict(),
                "keys": KEY_HELP,
            }
        }

    @classmethod
    def from_info(cls, info: dict[str, Any], where: str) -> _Identity:
        facts = info.get(HEADER_KEY)
        try:
            return cls(
                subject_id=facts["subject_id"],
                protocol=facts["protocol"],
                side=facts["side"],
                provenance=facts["provenance"],
                port=facts["port"],
                mapping=FatigueMapping.from_dict(facts["mapping"]),
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise CollectError(
                f"{where}: not a session record made by 'python -m host collect' "
                f"(its header lacks the session facts: {exc})"
            ) from exc


@dataclass
class _Session:
    """What the records of one session say; fed the same way live and on rebuild."""

    samples: list = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {k.name.lower(): 0 for k in RecordKind})
    device_t_s: float | None = None  # newest FRAME/SAMPLE/PREDICTION time
    first_t_s: float | None = None  # earliest data time
    device_header: dict[str, Any] | None = None
    wall_clock: tuple[str, float] | None = None  # (UTC ISO time, device time) at first data
    borg: list[tuple[float, int]] = field(default_factory=list)
    phases: list[tuple[str, float]] = field(default_factory=list)
    task_failure_s: float | None = None
    link: dict[str, int] = field(default_factory=dict)
    ended_by: str = "unknown (the record ends without an end event)"
    out_of_order: int = 0
    clock_resets: int = 0
    _last_t: dict = field(default_factory=dict)  # newest time per kind of data record

    def add(self, record: Record) -> str | None:
        """Take one record; return a warning for the experimenter, if any."""
        if record.kind is RecordKind.EVENT:
            self._event(record.fields)
            return None
        self.counts[record.kind.name.lower()] += 1
        t = float(record.t_s)
        warning = None
        last = self._last_t.get(record.kind)
        if last is not None and t < last - CLOCK_RESET_S:
            # Per kind: the baseline's samples come after later frames, by design.
            self.clock_resets += 1
            warning = (
                f"the device's clock went back from {last:.1f} s to {t:.1f} s: it "
                "restarted; end this session (q) and start a new one"
            )
        self._last_t[record.kind] = t
        if self.first_t_s is None or t < self.first_t_s:
            self.first_t_s = t
        if self.device_t_s is None or t > self.device_t_s:
            self.device_t_s = t
        if record.kind is RecordKind.SAMPLE:
            if self.samples and t <= self.samples[-1].t_s:
                self.out_of_order += 1
            else:
                self.samples.append(record.fields)
        return warning

    def _event(self, event: Event) -> None:
        data = event.data
        if not event.name.startswith(_HOST_EVENT_PREFIX):
            self.counts["event"] += 1  # the device's events only
        if event.name == HEADER_EVENT:
            self.device_header = dict(data)
        elif event.name == EVENT_BORG:
            self.borg.append((event.t_s, int(data["rating"])))
        elif event.name == EVENT_PHASE:
            self.phases.append((str(data["phase"]), event.t_s))
        elif event.name == EVENT_TASK_FAILURE:
            self.task_failure_s = event.t_s
        elif event.name == EVENT_LINK:
            self.link = {k: int(v) for k, v in data.items()}
        elif event.name == EVENT_WALL_CLOCK:
            self.wall_clock = (str(data["utc"]), event.t_s)
        elif event.name == EVENT_END:
            self.ended_by = str(data["reason"])

    @property
    def current_phase(self) -> str | None:
        return self.phases[-1][0] if self.phases else None

    @property
    def origin_s(self) -> float:
        """Device time that is t = 0 in the file: the whole second at or before the
        earliest data (samples of the baseline can arrive after later frames)."""
        return float(math.floor(self.first_t_s))

    def since_origin(self, t_s: float) -> float:
        return t_s - self.origin_s

    def to_record(self, who: _Identity, record_file: str) -> SessionRecord:
        """The SNIRF-ready session.

        Raises:
            CollectError: No sample was received, or the wavelengths are unknown.
        """
        if not self.samples:
            raise CollectError(self._no_samples(who.port, record_file))
        s = self.samples
        origin = self.origin_s
        t = np.array([x.t_s for x in s]) - origin
        mapping = who.mapping
        metadata: dict[str, Any] = {
            "recorded_by": "python -m host collect",
            "port": who.port,
            "session_record": record_file,
            "device_time_origin_s": float(origin),
            "ended_by": self.ended_by,
        }
        borg_t = np.array([b[0] for b in self.borg], dtype=float) - origin
        borg = np.array([b[1] for b in self.borg], dtype=np.int64)
        # Sample-and-hold: each sample takes the newest rating at or before it.
        held = np.searchsorted(borg_t, t, side="right") - 1
        before_first = int(np.count_nonzero(held < 0))
        ratings = np.where(held >= 0, borg[np.maximum(held, 0)] if borg.size else 0, 0)
        level = np.asarray(mapping.level(ratings), dtype=np.int64).reshape(-1)
        if before_first:
            first = f"the first rating at {borg_t[0]:.1f} s" if borg.size else "any rating"
            metadata["level_note"] = (
                f"{before_first} samples before {first} carry the level of Borg 0 "
                f"({mapping.name(0)!r}): no rating had been given yet"
            )
        metadata.update(self._phase_metadata())
        metadata.update(self._link_metadata())
        wavelengths, source = self._wavelengths(len(s[0].intensity_v), who.port)
        metadata["wavelengths_source"] = source
        if self.out_of_order:
            metadata["samples_out_of_order_dropped"] = self.out_of_order
        if self.clock_resets:
            metadata["device_clock_resets"] = self.clock_resets
        return SessionRecord(
            subject_id=who.subject_id,
            protocol=who.protocol,
            side=who.side,
            provenance=who.provenance,
            wavelengths_nm=wavelengths,
            t_s=t,
            intensity_v=np.array([x.intensity_v for x in s], dtype=float),
            dark_v=np.array([x.dark_v for x in s], dtype=float),
            d_od=np.array([x.d_od for x in s], dtype=float),
            d_hbo2_um=np.array([x.d_hbo2_um for x in s], dtype=float),
            d_hhb_um=np.array([x.d_hhb_um for x in s], dtype=float),
            flags=np.array([x.flags for x in s], dtype=np.int64),
            borg_t_s=borg_t,
            borg=borg,
            level=level,
            level_names=tuple(mapping.names),
            borg_thresholds=tuple(mapping.max_borg),
            phases=self._phase_list(origin, float(t[0]), float(t[-1])),
            task_failure_s=(
                math.nan if self.task_failure_s is None else self.task_failure_s - origin
            ),
            metadata=metadata,
            start_utc=self._start_utc(origin),
        )

    def _phase_list(self, origin: float, t_first: float, t_last: float) -> list:
        if not self.phases:
            return [("baseline", t_first, t_last - t_first)]
        onsets = [(name, t - origin) for name, t in self.phases]
        ends = [t for _, t in onsets[1:]] + [max(t_last, onsets[-1][1])]
        return [(name, t0, t1 - t0) for (name, t0), t1 in zip(onsets, ends)]

    def _phase_metadata(self) -> dict[str, Any]:
        if self.phases:
            return {}
        return {"phase_note": "no phase key was typed: one 'baseline' phase spans the session"}

    def _link_metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"link_{k}": int(v) for k, v in self.link.items()}
        out.update({f"records_{k}": int(v) for k, v in self.counts.items()})
        if self.device_header is not None:
            out["device_header"] = json.dumps(self.device_header, sort_keys=True)
            version = self.device_header.get("format_version")
            if isinstance(version, int):
                out["device_format_version"] = version
        else:
            out["device_header"] = "none received"
        return out

    def _wavelengths(self, n: int, port: str) -> tuple[tuple[float, ...], str]:
        told = (self.device_header or {}).get("wavelengths_nm")
        if isinstance(told, list) and len(told) == n:
            return tuple(float(w) for w in told), "device header"
        default = tuple(float(w) for w in ChainConfig().wavelengths_nm)
        if len(default) == n:
            return default, "device default (the header does not list wavelengths_nm)"
        raise CollectError(
            f"samples from {port} carry {n} wavelengths, the device's default chain has "
            f"{len(default)}, and its header does not list wavelengths_nm"
        )

    def _start_utc(self, origin: float) -> datetime | None:
        if self.wall_clock is None:
            return None
        utc, device_t = self.wall_clock
        return datetime.fromisoformat(utc) - timedelta(seconds=device_t - origin)

    def _no_samples(self, port: str, record_file: str) -> str:
        got = self.link.get("bytes_received", 0)
        frames = self.link.get("frames", 0)
        return (
            f"no samples received from {port} ({got} bytes, {frames} good frames; the session "
            f"ended: {self.ended_by}): is the wearable running with its serial link enabled, "
            f"past its self-test, and is this its port? Whatever arrived is in {record_file}"
        )


# -- collect ----------------------------------------------------------------------------------


def _check_identity(subject_id: object, protocol: object, side: object, provenance: object):
    if not isinstance(subject_id, str) or not SUBJECT_ID_PATTERN.fullmatch(subject_id):
        raise ValueError(
            f"subject_id must be a code of 1–64 letters, digits, '_' or '-', starting "
            f"with a letter or digit (it names the file; never a person's name), "
            f"got {subject_id!r}"
        )
    for name, value, choices in (
        ("protocol", protocol, PROTOCOLS),
        ("side", side, SIDES),
        ("provenance", provenance, PROVENANCES),
    ):
        if value not in choices:
            raise ValueError(
                f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}"
            )


def _free_stem(folder: Path, base: str) -> Path:
    """``folder/base`` (or ``base_2``, ``base_3`` …) with neither a .snirf nor a .nrec."""
    n = 1
    while True:
        stem = folder / (base if n == 1 else f"{base}_{n}")
        if not stem.with_suffix(".snirf").exists() and not stem.with_suffix(".nrec").exists():
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
    log: Callable[[str], None] = print,
) -> Path:
    """Record one session from the wearable's serial link, labelled from the keyboard.

    Args:
        port: Serial device (e.g. "/dev/ttyACM0"), opened with pyserial, or an open
            port object (``read``, ``in_waiting``, ``close``; not closed here).
        out_dir: Dataset folder (made if missing). Writes
            ``<subject>_<protocol>_<side>.snirf`` and its ``.nrec`` record (``_2``, ``_3``
            … if taken: nothing is overwritten).
        subject_id: Subject code (letters, digits, '_', '-'; never a name).
        protocol: One of :data:`host.dataset.PROTOCOLS`.
        side: One of :data:`host.dataset.SIDES`.
        provenance: "human", or "simulated" for a simulated board.
        keys: Key source; ``read()`` returns what was typed since the last call.
        clock: Host clock (``monotonic``, ``sleep``): status lines, waiting.
        mapping: Borg → level mapping, written into the dataset.
        until: Also end once the device time reaches this many seconds (on the file's
            time base, see the module docstring; None: only 'q' or Ctrl-C end it).
        baudrate: Line speed when ``port`` is a device name, bits/s.
        log: Where progress lines go.

    Returns:
        The SNIRF file written.

    Raises:
        ValueError: A subject_id, protocol, side or provenance the dataset rejects
            (checked before the port is opened).
        device.link.LinkError: The port cannot be opened or read (names it).
        CollectError: No sample was received (names the port), or the folder cannot
            be made.
    """
    _check_identity(subject_id, protocol, side, provenance)
    if until is not None and not (isinstance(until, (int, float)) and until > 0):
        raise ValueError(f"until must be None or seconds > 0, got {until!r}")
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CollectError(f"cannot make the dataset folder {folder}: {exc}") from exc
    if isinstance(port, str):
        reader = LinkReader.open(port, baudrate=baudrate, timeout_s=0)
    else:
        reader = LinkReader(port)
    stem = _free_stem(folder, f"{subject_id}_{protocol}_{side}")
    who = _Identity(subject_id, protocol, side, provenance, reader.name, mapping)
    session = _Session()
    try:
        recorder = SessionRecorder(stem.with_suffix(".nrec"), info=who.to_info(), clock=clock)
    except BaseException:
        reader.close()
        raise
    log(f"recording {subject_id} {protocol} {side} ({provenance}) from {reader.name}")
    log(f"  into {stem.with_suffix('.nrec')}; {KEY_HELP}")
    try:
        _run(reader, recorder, session, keys, clock, mapping, until, log)
    finally:
        session.link = _link_stats(reader.stats)
        recorder.write(Record.event(session.device_t_s or 0.0, EVENT_LINK, **session.link))
        recorder.close()
        reader.close()
    path = _write(session, who, stem, log)
    return path


def _run(
    reader: LinkReader,
    recorder: SessionRecorder,
    session: _Session,
    keys: KeySource,
    clock: Clock,
    mapping: FatigueMapping,
    until: float | None,
    log: Callable[[str], None],
) -> None:
    def note(name: str, **data: Any) -> None:
        record = Record.event(session.device_t_s, name, **data)
        recorder.write(record)
        session.add(record)

    next_status = clock.monotonic() + STATUS_INTERVAL_S
    warned_stop = False
    reason = None
    try:
        while reason is None:
            records = reader.poll()
            for record in records:
                recorder.write(record)
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
    key: str, session: _Session, note: Callable, mapping: FatigueMapping, log: Callable
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


def _status(session: _Session, reader: LinkReader) -> str:
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


def _write(session: _Session, who: _Identity, stem: Path, log: Callable[[str], None]) -> Path:
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


# -- recovery ---------------------------------------------------------------------------------

#: The name :func:`collect` gives its files: ``<subject>_<protocol>_<side>[_<n>].nrec``.
_RECORD_NAME = re.compile(
    rf"(?P<subject_id>{SUBJECT_ID_PATTERN.pattern})_(?P<protocol>{'|'.join(PROTOCOLS)})"
    rf"_(?P<side>{'|'.join(SIDES)})(?:_[0-9]+)?"
)


def rebuild(
    record_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    *,
    log: Callable[[str], None] = print,
    subject_id: str | None = None,
    protocol: str | None = None,
    side: str | None = None,
    provenance: str | None = None,
) -> Path:
    """Write the SNIRF file of a session from its ``.nrec`` record alone.

    For a host that crashed mid-session, or a record damaged since: whatever the
    damage (:func:`device.recorder.read_session_file` skips it and says where), every
    intact record is used, and the SNIRF's metadata says what was lost
    (``record_damage``). If the record's own header event, which holds the subject,
    protocol, side, provenance and Borg mapping, is lost, they come from the
    arguments below, else from the file name :func:`collect` gave, provenance
    "human" and the default mapping; each such guess is logged as a note and kept
    in the metadata (``recovery_note``).

    Args:
        record_path: The ``.nrec`` file written by :func:`collect`.
        out_path: SNIRF file to write (default: beside the record, same name).
        log: Where the one-line report and notes go.
        subject_id, protocol, side, provenance: Used only if the record's header
            event is lost.

    Raises:
        device.recorder.SessionFileError: Not a session record (names the file).
        CollectError: Not made by collect, no sample survives, ``out_path`` exists,
            or the header event is lost and nothing says the subject, protocol and
            side.
        ValueError: A subject_id, protocol, side or provenance the dataset rejects.
    """
    record_path = Path(record_path)
    out = Path(out_path) if out_path is not None else record_path.with_suffix(".snirf")
    if out.exists():
        raise CollectError(f"{out} exists; move it away or name another output")
    data = read_session_file(record_path)
    report = data.report
    log(report.describe())
    records = data.records
    if not records:
        raise CollectError(
            f"{record_path}: no record to rebuild from ({report.summary()}); no SNIRF file written"
        )
    index = next(
        (
            i
            for i, r in enumerate(records)
            if r.kind is RecordKind.EVENT
            and r.fields.name == HEADER_EVENT
            and HEADER_KEY in r.fields.data
        ),
        None,
    )
    notes: list[str] = []
    if index is not None:
        who = _Identity.from_info(dict(records[index].fields.data), str(record_path))
        records = records[:index] + records[index + 1 :]
    elif report.start_damaged:
        who, notes = _identity_without_header(record_path, subject_id, protocol, side, provenance)
    else:
        raise CollectError(
            f"{record_path}: not a session record made by 'python -m host collect' "
            "(no header event with the session facts)"
        )
    for note in notes:
        log(f"note: {note}")
    session = _Session()
    for record in records:
        session.add(record)
    if not session.samples:
        raise CollectError(
            f"{record_path}: no sample survives ({report.summary()}); no SNIRF file written"
        )
    result = session.to_record(who, record_path.name)
    if not report.intact:
        result.metadata["record_damage"] = report.summary()
    if notes:
        result.metadata["recovery_note"] = "; ".join(notes)
    path = write_session(out, result)
    log(f"wrote {path}: {result.n_samples} samples, {result.borg.size} Borg reports")
    return path


def _identity_without_header(
    record_path: Path,
    subject_id: str | None,
    protocol: str | None,
    side: str | None,
    provenance: str | None,
) -> tuple[_Identity, list[str]]:
    """The session facts of a record whose header event is lost, and notes saying whence."""
    named = _RECORD_NAME.fullmatch(record_path.stem)
    facts = {"subject_id": subject_id, "protocol": protocol, "side": side}
    from_name, given = [], []
    for key, value in facts.items():
        label = "subject" if key == "subject_id" else key
        if value is not None:
            given.append(f"{label} {value!r}")
        elif named is not None:
            facts[key] = named[key]
            from_name.append(f"{label} {named[key]!r}")
    missing = [k for k, v in facts.items() if v is None]
    if missing:
        flags = ", ".join("--subject" if k == "subject_id" else f"--{k}" for k in missing)
        raise CollectError(
            f"{record_path}: the record's header event (subject, protocol, side) is lost to "
            f"the damage, and the file name is not <subject>_<protocol>_<side>.nrec: give {flags}"
        )
    sources = [f"{', '.join(given)} as given"] if given else []
    if from_name:
        sources.append(f"{', '.join(from_name)} from the file name")
    if provenance is None:
        provenance = "human"
        sources.append("provenance 'human' assumed (collect's default; --provenance sets it)")
    else:
        sources.append(f"provenance {provenance!r} as given")
    _check_identity(facts["subject_id"], facts["protocol"], facts["side"], provenance)
    who = _Identity(
        facts["subject_id"],
        facts["protocol"],
        facts["side"],
        provenance,
        "unknown (the record's header event is lost)",
        DEFAULT_MAPPING,
    )
    notes = [
        "the record's header event is lost to the damage: " + ", ".join(sources),
        "the default Borg-to-level mapping assumed (the lost header event held the one used)",
    ]
    return who, notes


# -- command line -----------------------------------------------------------------------------


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host collect ...``; returns the exit status."""
    import argparse

    from device.argtypes import existing_file, positive_int
    from device.clock import SystemClock
    from device.errors import DeviceError
    from host.dataset import DatasetError

    parser = argparse.ArgumentParser(
        prog="python -m host collect",
        description="Record a labelled session from the wearable's serial link. " + KEY_HELP,
    )
    parser.add_argument("--port", help="serial device, e.g. /dev/ttyACM0")
    parser.add_argument("--subject", help="subject code, e.g. S01 (never a name)")
    parser.add_argument("--protocol", choices=PROTOCOLS)
    parser.add_argument("--side", choices=SIDES)
    parser.add_argument("--out", type=Path, default=Path("data/human"), help="dataset folder")
    parser.add_argument("--baud", type=positive_int, default=DEFAULT_BAUDRATE)
    parser.add_argument("--provenance", choices=PROVENANCES, default=None, help="default: human")
    parser.add_argument(
        "--recover",
        type=existing_file,
        metavar="NREC",
        help="write the SNIRF file of an interrupted or damaged session from its .nrec "
        "record (--subject, --protocol, --side, --provenance fill in a lost header)",
    )
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        if args.recover is not None:
            rebuild(
                args.recover,
                log=say,
                subject_id=args.subject,
                protocol=args.protocol,
                side=args.side,
                provenance=args.provenance,
            )
            return 0
        needed = ("port", "subject", "protocol", "side")
        missing = [f"--{n}" for n in needed if not getattr(args, n)]
        if missing:
            parser.error(f"missing {', '.join(missing)} (or give --recover NREC)")
        with TerminalKeys() as keys:
            collect(
                args.port,
                args.out,
                subject_id=args.subject,
                protocol=args.protocol,
                side=args.side,
                provenance=args.provenance or "human",
                keys=keys,
                clock=SystemClock(),
                baudrate=args.baud,
                log=say,
            )
    except (CollectError, DeviceError, DatasetError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
