"""Where a wearable's records go besides its session record: the page, the broker.

A *sink* is anything with ``send(record)`` and ``take_notices()``, the two methods
:class:`device.link.LinkWriter` has, so a sink stands wherever the wearable's app
(:class:`device.app.Wearable`) takes a link: the simulated wearable sends its records
to the page that way. ``host collect`` sends what it receives and what it notes.

- :class:`HubFeed`: into a :class:`host.live.view.Hub` in this process (the page).
- :class:`Fanout`: to several sinks (the page and the broker).
- :func:`recording_event`: the once-a-second recording state the page shows.
- :func:`replay`: a session record (``.nrec``) sent again at its own pace.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

from device.codec import HEADER_EVENT, Record, RecordKind
from device.recorder import SessionRecorder
from device.session_reader import SessionReader
from host.live.view import EVENT_RECORDING, Hub

__all__ = ["Fanout", "HubFeed", "RecordSink", "recording_event", "replay", "wearable_of_record"]


class RecordSink(Protocol):
    """What takes a wearable's records (as :class:`device.link.LinkWriter` does)."""

    def send(self, record: Record) -> object: ...

    def take_notices(self) -> list[str]: ...


class HubFeed:
    """Records of one wearable into a hub in this process, stamped with the wall clock.

    Args:
        hub: The page's hub.
        wearable: The wearable's subject code.
        source: What the page says the records come from.
    """

    def __init__(self, hub: Hub, wearable: str, source: str) -> None:
        self.hub = hub
        self.wearable = wearable
        self.source = source

    def send(self, record: Record) -> bool:
        return self.hub.ingest(self.wearable, record, source=self.source, sent_unix_s=time.time())

    def take_notices(self) -> list[str]:
        return []


class Fanout:
    """Each record to every sink, in order; notices of all of them."""

    def __init__(self, *sinks: RecordSink) -> None:
        self.sinks = sinks

    def send(self, record: Record) -> bool:
        for sink in self.sinks:
            sink.send(record)
        return True

    def take_notices(self) -> list[str]:
        return [notice for sink in self.sinks for notice in sink.take_notices()]


def recording_event(
    t_s: float,
    recorder: SessionRecorder | None,
    provenance: str | None = None,
    *,
    ended: bool = False,
) -> Record:
    """The recording's state at device time ``t_s``, for the page (never recorded).

    ``state`` is "recording", "stopped" (with the recorder's reason as ``detail``),
    "not recording", or with ``ended`` "ended" (the session is over; the page stops
    waiting for data); ``file`` the record's name; ``records`` how many were written.
    """
    data: dict[str, object] = {"state": "not recording", "file": None, "detail": ""}
    if recorder is not None:
        data["file"] = Path(recorder.path).name
        data["records"] = recorder.stats.records_written
        if recorder.stopped:
            data.update(state="stopped", detail=recorder.stop_reason or "")
        else:
            data["state"] = "recording"
    if ended:
        data["state"] = "ended"
    if provenance is not None:
        data["provenance"] = provenance
    return Record.event(t_s, EVENT_RECORDING, **data)


def wearable_of_record(path: Path) -> str | None:
    """The subject code a session record's header names (the wearable's ``subject``,
    or collect's ``subject_id``), or None."""
    with SessionReader(path) as reader:
        for record in reader:
            if record.kind is RecordKind.EVENT and record.fields.name == HEADER_EVENT:
                data = record.fields.data
                collect = data.get("collect")
                if isinstance(collect, dict) and collect.get("subject_id"):
                    return str(collect["subject_id"])
                return str(data["subject"]) if data.get("subject") else None
            return None
    return None


def replay(
    path: Path,
    sink: RecordSink,
    *,
    speed: float = 1.0,
    stop: threading.Event | None = None,
) -> int:
    """Send the records of session record ``path`` to ``sink`` at ``speed`` × their pace.

    The records' device times set the pace (FRAMEs are skipped: the page charts
    SAMPLEs). A recording-state event (state "replay") goes with each second, and one
    with state "ended" at the end. Setting ``stop`` ends it early.

    Returns:
        The number of records sent.

    Raises:
        device.session_reader.SessionFileError: Not a readable session record (names it).
    """
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed!r}")
    stop = stop or threading.Event()
    sent = 0
    start_wall: float | None = None
    start_t = 0.0
    next_status = None
    with SessionReader(path) as reader:
        for record in reader:
            if stop.is_set():
                break
            if record.kind is RecordKind.FRAME:
                continue
            t = record.t_s
            if start_wall is None:
                start_wall, start_t, next_status = time.monotonic(), t, t
            ahead = (t - start_t) / speed - (time.monotonic() - start_wall)
            if ahead > 0 and stop.wait(ahead):
                break
            sink.send(record)
            sent += 1
            if next_status is not None and t >= next_status:
                next_status = t + 1.0
                sink.send(_replay_event(t, path, "replay", f"× {speed:g}"))
    if sent and not stop.is_set():
        sink.send(_replay_event(record.t_s, path, "ended", f"replay finished: {sent} records"))
    return sent


def _replay_event(t_s: float, path: Path, state: str, detail: str) -> Record:
    event = recording_event(t_s, None)
    event.fields.data.update(state=state, file=path.name, detail=detail)
    return event
