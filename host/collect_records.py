"""What the records of a collected session mean, and the SNIRF session they make.

Shared by the two ways a session of ``python -m host collect`` becomes a SNIRF file:
live, as :mod:`host.collect` receives the records from the wearable, and afterwards,
as :mod:`host.recover` reads them back from the ``.nrec`` session record. Both feed
the records one by one to a :class:`CollectedSession`, which turns them into the
same SNIRF layout as the simulated cohort (:func:`host.snirf_writer.write_session`):

* signals from the SAMPLE records (t_s, intensity_v, dark_v, d_od, ΔHbO2, ΔHHb, flags);
* Borg reports, and a level per sample held from the latest rating (before the first
  rating: the level of Borg 0, and a metadata note says so);
* phases from the b/h/r/o/w/m keys, each lasting until the next (none typed: one
  "baseline" phase spanning the session); the task-failure time; the provenance;
* metadata: link statistics, the device's header event, the record file's name.

Times in the file start at the whole device second at or before the first data
received (``device_time_origin_s`` in the metadata), like the simulated sessions. The
host's UTC clock dates that t = 0 (the session's ``start_utc``, so the SNIRF file has a
real MeasurementDate): ``collect`` notes (UTC, device time) pairs in the record, at the
first data and then once a second, and the least delayed pair of the first minute counts
(:data:`WALL_CLOCK_WINDOW_S`).

Here too: the experimenter's keys (:func:`key_action`, :data:`KEY_HELP`), the names of
the events the host adds to the record for them, and the session facts (subject,
protocol, side, provenance, Borg mapping) the record's header carries
(:class:`SessionFacts`), with their checks (:func:`check_identity`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from device.chain import ChainConfig
from device.codec import HEADER_EVENT, Event, Record, RecordKind
from device.labels import FatigueMapping
from host.session import PROTOCOLS, PROVENANCES, SIDES, UNKNOWN, SessionRecord

__all__ = [
    "CLOCK_RESET_S",
    "EVENT_BORG",
    "EVENT_END",
    "EVENT_LINK",
    "EVENT_PHASE",
    "EVENT_TASK_FAILURE",
    "EVENT_WALL_CLOCK",
    "HEADER_KEY",
    "KEY_HELP",
    "PHASE_KEYS",
    "SUBJECT_ID_PATTERN",
    "WALL_CLOCK_WINDOW_S",
    "CollectError",
    "CollectedSession",
    "SessionFacts",
    "check_identity",
    "key_action",
]

#: A data time this far below the newest one means the device's clock restarted, s.
CLOCK_RESET_S = 1.0
#: How long after the first data the host pairs its UTC clock with the device's time,
#: device seconds. Each pair is late by the link's delay (a record read seconds after it
#: was sent, e.g. from the tty's buffer when the port is opened, dates the session that
#: much late), so the start is dated by the least delayed pair. A minute is plenty of
#: pairs (one a second) and little drift between the two clocks (50 ppm crystals: 3 ms).
WALL_CLOCK_WINDOW_S = 60.0
#: The phase each phase key starts (the cohort's phase kinds, hwsim.protocols.PHASE_KINDS):
#: the seed's holds, and the cuff occlusion, light work and sitting of the sessions in
#: which nobody tires.
PHASE_KEYS = {
    "b": "baseline",
    "h": "hold",
    "r": "rest",
    "o": "occlusion",
    "w": "dynamic",
    "m": "movement",
}
#: Subject IDs become file names: letters, digits, '_' and '-', at most 64 (no '.': it
#: would pass for a file suffix).
SUBJECT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: One line for the experimenter.
KEY_HELP = (
    "keys: 0-9 = Borg 0-9, x = Borg 10, b/h/r = baseline/hold/rest starts, "
    "o/w/m = cuff occlusion/light work/sitting starts, f = task failure, q = end"
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


class CollectError(Exception):
    """A session that cannot be recorded or written; the message says why and where."""


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


def check_identity(
    subject_id: object,
    protocol: object,
    side: object,
    provenance: object,
    *,
    unknown_ok: bool = False,
) -> None:
    """Refuse session facts the dataset would refuse.

    Args:
        unknown_ok: Also take :data:`host.session.UNKNOWN` for any of the four (a session
            read back from a record that does not say them: not for training).

    Raises:
        ValueError: A subject_id that is not a code (it names the file), or a protocol,
            side or provenance not in :mod:`host.session`'s lists; names the value and
            what is allowed.
    """
    if not isinstance(subject_id, str) or not SUBJECT_ID_PATTERN.fullmatch(subject_id):
        raise ValueError(
            f"subject_id must be a code of 1–64 letters, digits, '_' or '-', starting "
            f"with a letter or digit (it names the file; never a person's name), "
            f"got {subject_id!r}"
        )
    unknown = (UNKNOWN,) if unknown_ok else ()
    for name, value, choices in (
        ("protocol", protocol, (*PROTOCOLS, *unknown)),
        ("side", side, (*SIDES, *unknown)),
        ("provenance", provenance, (*PROVENANCES, *unknown)),
    ):
        if value not in choices:
            raise ValueError(
                f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}"
            )


# -- the session, from records ----------------------------------------------------------------


def _clock_offset_s(utc: str, device_t: float) -> float:
    """UTC (s since the epoch) less the device's time, s."""
    return datetime.fromisoformat(utc).timestamp() - device_t


@dataclass
class SessionFacts:
    """Who and what a session is, as the record file's header carries them under
    :data:`HEADER_KEY`; ``port`` names where the records came from."""

    subject_id: str
    protocol: str
    side: str
    provenance: str
    port: str
    mapping: FatigueMapping
    #: Measurement-site facts (keys of :data:`host.session.MEASUREMENT_SITE`), as given.
    site: dict[str, float] = field(default_factory=dict)

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
                "site": dict(self.site),
            }
        }

    @classmethod
    def from_info(cls, info: dict[str, Any], where: str) -> SessionFacts:
        facts = info.get(HEADER_KEY)
        try:
            return cls(
                subject_id=facts["subject_id"],
                protocol=facts["protocol"],
                side=facts["side"],
                provenance=facts["provenance"],
                port=facts["port"],
                mapping=FatigueMapping.from_dict(facts["mapping"]),
                site={k: float(v) for k, v in facts.get("site", {}).items()},
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise CollectError(
                f"{where}: not a session record made by 'python -m host collect' "
                f"(its header lacks the session facts: {exc})"
            ) from exc


@dataclass
class CollectedSession:
    """What the records of one session say; fed the same way live and on rebuild."""

    samples: list = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {k.name.lower(): 0 for k in RecordKind})
    device_t_s: float | None = None  # newest FRAME/SAMPLE/PREDICTION time
    first_t_s: float | None = None  # earliest data time
    device_header: dict[str, Any] | None = None
    # (UTC ISO time, device time): the least delayed pair of the first WALL_CLOCK_WINDOW_S
    wall_clock: tuple[str, float] | None = None
    wall_clock_from: float | None = None  # device time of the first pair
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
            self._take_wall_clock(str(data["utc"]), event.t_s)
        elif event.name == EVENT_END:
            self.ended_by = str(data["reason"])

    def _take_wall_clock(self, utc: str, device_t: float) -> None:
        if self.wall_clock_from is None:
            self.wall_clock_from = device_t
        elif device_t - self.wall_clock_from > WALL_CLOCK_WINDOW_S:
            return
        # UTC less device time: a pair read late gives a larger one; keep the smallest.
        if self.wall_clock is None or _clock_offset_s(utc, device_t) < _clock_offset_s(
            *self.wall_clock
        ):
            self.wall_clock = (utc, device_t)

    def wants_wall_clock(self) -> bool:
        """Whether another (UTC, device time) pair would still be used to date the start."""
        return self.device_t_s is not None and (
            self.wall_clock_from is None
            or self.device_t_s - self.wall_clock_from <= WALL_CLOCK_WINDOW_S
        )

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

    def to_record(self, who: SessionFacts, record_file: str) -> SessionRecord:
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
            **who.site,
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
        """The UTC time of the file's t = 0 (device time ``origin``), from the least
        delayed (UTC, device time) pair; None if the host never noted one."""
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
