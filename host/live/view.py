"""What the live page shows of each wearable, made from its records.

:class:`Hub` takes the device's records (:mod:`device.codec`) of any number of
wearables, from any thread: from ``host collect``'s serial link, from a replayed
session record, from the simulated wearable, or from the broker
(:mod:`host.live.subscribe`). Per wearable it keeps the last ``window_s`` seconds of
the charted signals and the newest state (level, probabilities, flags, Borg ratings,
link statistics, recording state). The page server (:mod:`host.live.server`) reads
it as JSON: :meth:`Hub.snapshot` when a page connects, then :meth:`Hub.changes_since`
with a cursor for what is new.

JSON the page receives (every NaN becomes null, so JSON.parse takes it)::

    {"type": "snapshot" | "update", "window_s": 60,
     "wearables": [{"id": "S07", "state": {...} (when changed),
                    "samples": {"t_s": [...], "sent_unix_s": [...],
                                "d_hbo2_um": [...], "d_hhb_um": [...],
                                "d_thb_um": [...], "smo2_pct": [...]}}]}

``state`` keys are :meth:`WearableView.state`'s. A message also has ``"status"``, the
lines the page shows above every card (:meth:`Hub.set_status`), when they changed.
Times ``t_s`` are the device's clock (seconds since it started); ``sent_unix_s`` the
wall clock when the host had the record, from which the page measures its latency.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from device.chain import FLAG_NAMES, ChainSample
from device.codec import HEADER_EVENT, NO_LEVEL, Event, Prediction, Record, RecordKind
from device.labels import FATIGUE_LEVELS
from host.collect_records import EVENT_BORG, EVENT_LINK, EVENT_PHASE, EVENT_TASK_FAILURE
from host.live.wire import SequenceAccount, check_wearable_id

__all__ = [
    "EVENT_RECORDING",
    "SIGNALS",
    "WINDOW_S",
    "Hub",
    "WearableView",
]

#: Seconds of signal each chart holds (the issue: a rolling 60 s chart).
WINDOW_S = 60.0
#: The charted ChainSample fields, µM and %: ΔHbO2, ΔHHb, ΔtHb, the SmO2 estimate.
SIGNALS = ("d_hbo2_um", "d_hhb_um", "d_thb_um", "smo2_pct")
#: Event a host side sends (to the page and the broker, never to the session record)
#: once a second with its recording's state: ``state`` ("recording", "stopped",
#: "not recording"), ``file``, ``detail``.
EVENT_RECORDING = "live_recording"
#: Most wearables one hub shows; records of more are dropped and counted (a page with
#: 30 wearables kept up, with 150 its latency was seconds: the breaker's test).
MAX_WEARABLES = 100
#: A sample this far behind the newest one means the wearable's clock restarted, s.
CLOCK_RESTART_S = 5.0
#: Borg ratings and device notes kept for the page, newest last; a note's longest text.
_KEEP_RATINGS = 20
_KEEP_NOTES = 5
_NOTE_CHARS = 200
_KEEP_ITEMS = 32
#: The cursor's entry for the hub's status lines (no subject code is empty).
_STATUS_KEY = ""
_QUIET_EVENTS = {
    HEADER_EVENT, EVENT_LINK, EVENT_RECORDING, EVENT_BORG, EVENT_PHASE, EVENT_TASK_FAILURE
}  # fmt: skip


def _num(value: float) -> float | None:
    """A finite float, or None for NaN/inf (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    """``value`` (an event's data) fit for the page: every NaN/inf float None, strings cut
    to :data:`_NOTE_CHARS`, lists and dicts to :data:`_KEEP_ITEMS` items (an event is the
    device's or a broker user's: the page sends the state ten times a second)."""
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, str):
        return value[:_NOTE_CHARS]
    if isinstance(value, dict):
        items = list(value.items())[:_KEEP_ITEMS]
        return {str(k)[:_NOTE_CHARS]: _json_safe(v) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value[:_KEEP_ITEMS]]
    return value


class WearableView:
    """One wearable's window of signals and newest state.

    Args:
        wearable: Its subject code (:func:`host.live.wire.check_wearable_id`).
        source: Where its records come from, shown on the page ("serial /dev/ttyUSB0",
            "replay FILE", "simulated", "broker HOST:PORT").
        window_s: Seconds of signal kept.
    """

    def __init__(self, wearable: str, source: str, window_s: float = WINDOW_S) -> None:
        self.wearable = check_wearable_id(wearable)
        self.source = source
        self.window_s = window_s
        self.delivery: SequenceAccount | None = None
        #: Index of the next sample (samples keep their index while they are kept).
        self.next_index = 0
        #: Samples that came after a newer one (within CLOCK_RESTART_S), left out.
        self.late_samples = 0
        self.state_version = 0
        self._samples: deque[tuple[float, float | None, tuple[float | None, ...]]] = deque()
        self._state: dict[str, Any] = {
            "id": self.wearable,
            "source": source,
            "levels": list(FATIGUE_LEVELS),
            "t_s": None,
            "updated_unix_s": None,
            "level": None,
            "level_name": "",
            "raw_level": None,
            "probabilities": [],
            "prediction_t_s": None,
            "flags": [],
            "check_sensor": False,
            "smo2_pct": None,
            "borg": [],
            "phase": None,
            "task_failure_t_s": None,
            "link": None,
            "delivery": None,
            "recording": None,
            "notes": [],
            "provenance": None,
        }

    # -- records --------------------------------------------------------------------------

    def ingest(self, record: Record, sent_unix_s: float | None = None) -> None:
        """Take one record: samples join the window, the rest updates the state."""
        fields = record.fields
        if not math.isfinite(fields.t_s):  # a broken clock: nothing to place it at
            return
        now = time.time()
        self._state["updated_unix_s"] = now
        if record.kind is RecordKind.SAMPLE:
            self._sample(fields, sent_unix_s)
        elif record.kind is RecordKind.PREDICTION:
            self._prediction(fields)
        elif record.kind is RecordKind.EVENT:
            self._event(fields)
        if record.kind is not RecordKind.FRAME:
            t = self._state["t_s"]
            self._state["t_s"] = fields.t_s if t is None else max(t, fields.t_s)
            self.state_version += 1

    def _sample(self, s: ChainSample, sent_unix_s: float | None) -> None:
        values = tuple(_num(getattr(s, name)) for name in SIGNALS)
        newest = self._samples[-1][0] if self._samples else None
        if newest is not None and s.t_s < newest - CLOCK_RESTART_S:
            self._samples.clear()  # the wearable restarted: its clock began again
            self._state["t_s"] = None
        elif newest is not None and s.t_s <= newest:
            self.late_samples += 1  # overtaken (a resend): the window keeps time order
            return
        sent = None if sent_unix_s is None else _num(sent_unix_s)
        self._samples.append((s.t_s, sent, values))
        self.next_index += 1
        while self._samples and self._samples[0][0] < s.t_s - self.window_s:
            self._samples.popleft()
        self._state["flags"] = [name for bit, name in FLAG_NAMES.items() if s.flags & bit]
        self._state["smo2_pct"] = _num(s.smo2_pct)

    def _prediction(self, p: Prediction) -> None:
        level = None if p.smoothed_level == NO_LEVEL else p.smoothed_level
        self._state.update(
            level=level,
            level_name=FATIGUE_LEVELS[level] if level is not None else "check sensor",
            raw_level=None if p.raw_level == NO_LEVEL else p.raw_level,
            probabilities=[_num(x) for x in p.probabilities],
            prediction_t_s=p.t_s,
            check_sensor=level is None,
        )

    def _event(self, e: Event) -> None:
        data = _json_safe(e.data) if isinstance(e.data, dict) else {}
        if e.name == EVENT_BORG:
            rating = data.get("rating")
            if isinstance(rating, (int, float)) and 0 <= rating <= 10:  # Borg CR10
                ratings = self._state["borg"]
                ratings.append([e.t_s, rating])
                del ratings[:-_KEEP_RATINGS]
        elif e.name == EVENT_PHASE:
            self._state["phase"] = data.get("phase")
        elif e.name == EVENT_TASK_FAILURE:
            self._state["task_failure_t_s"] = e.t_s
        elif e.name == EVENT_LINK:
            self._state["link"] = dict(data)
        elif e.name == EVENT_RECORDING:
            self._state["recording"] = dict(data)
        if "provenance" in data:  # the recording event says "simulated" or "recorded"
            self._state["provenance"] = data["provenance"]
        if e.name not in _QUIET_EVENTS:
            notes = self._state["notes"]
            detail = data.get("message") or data.get("cause") or data.get("level") or ""
            text = f"{e.name}: {detail}" if detail else e.name
            notes.append([e.t_s, text[:_NOTE_CHARS]])
            del notes[:-_KEEP_NOTES]

    # -- JSON -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The newest state as a JSON-ready dict (a copy)."""
        state = dict(self._state)
        state["delivery"] = self.delivery.as_dict() if self.delivery is not None else None
        state["borg"] = [list(x) for x in state["borg"]]
        state["notes"] = [list(x) for x in state["notes"]]
        return state

    def samples_since(self, index: int) -> dict[str, list]:
        """The kept samples from ``index`` on, as columns (``t_s``, ``sent_unix_s``,
        then :data:`SIGNALS`)."""
        first = self.next_index - len(self._samples)
        rows = list(self._samples)[max(0, index - first) :]
        columns: dict[str, list] = {"t_s": [r[0] for r in rows]}
        columns["sent_unix_s"] = [r[1] for r in rows]
        for k, name in enumerate(SIGNALS):
            columns[name] = [r[2][k] for r in rows]
        return columns


class Hub:
    """All wearables the page shows; safe to feed from any thread.

    Args:
        window_s: Seconds of signal each wearable keeps.
        on_change: Called (from the feeding thread) after every change, e.g. to wake the
            page server's senders.
    """

    def __init__(
        self, window_s: float = WINDOW_S, on_change: Callable[[], None] | None = None
    ) -> None:
        self.window_s = window_s
        self.on_change = on_change
        self._views: dict[str, WearableView] = {}
        #: Records of wearables beyond :data:`MAX_WEARABLES`, dropped.
        self.refused = 0
        self._status: dict[str, str] = {}
        self._status_version = 0
        self._lock = threading.Lock()

    def ingest(
        self,
        wearable: str,
        record: Record,
        *,
        source: str,
        stream: int | None = None,
        seq: int | None = None,
        sent_unix_s: float | None = None,
    ) -> bool:
        """Take one record of ``wearable``. With ``stream`` and ``seq`` (from the broker)
        a duplicate is counted and dropped. Returns False for a dropped duplicate.

        Raises:
            WireError: ``wearable`` is not a subject code.
        """
        with self._lock:
            view = self._views.get(wearable)
            if view is None:
                if len(self._views) >= MAX_WEARABLES:
                    self.refused += 1
                    self._put_status(
                        "limit",
                        f"more than {MAX_WEARABLES} wearables: {self.refused} records of "
                        "others not shown",
                    )
                    return False
                view = self._views[wearable] = WearableView(wearable, source, self.window_s)
            if seq is not None:
                if view.delivery is None:
                    view.delivery = SequenceAccount()
                if not view.delivery.observe(stream or 0, seq):
                    view.state_version += 1
                    return False
            view.ingest(record, sent_unix_s)
        if self.on_change is not None:
            self.on_change()
        return True

    def set_status(self, part: str, text: str | None) -> None:
        """What the page says about one of its sources (``part``, e.g. "broker") above
        every card, e.g. "broker 127.0.0.1:1883: connection lost, reconnecting"; None
        clears it."""
        with self._lock:
            changed = self._put_status(part, text)
        if changed and self.on_change is not None:
            self.on_change()

    def _put_status(self, part: str, text: str | None) -> bool:
        """Set one status line, the lock held; True if it changed."""
        if self._status.get(part) == text:
            return False
        if text is None:
            self._status.pop(part, None)
        else:
            self._status[part] = text
        self._status_version += 1
        return True

    def wearables(self) -> list[str]:
        """The subject codes seen, in the order they first appeared."""
        with self._lock:
            return list(self._views)

    def view(self, wearable: str) -> WearableView:
        """The view of one wearable (KeyError if never seen)."""
        with self._lock:
            return self._views[wearable]

    def snapshot(self) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
        """Everything kept, as the page's first message, and the cursor that follows it."""
        return self.changes_since({}, kind="snapshot")

    def changes_since(
        self, cursor: dict[str, tuple[int, int]], kind: str = "update"
    ) -> tuple[dict[str, Any] | None, dict[str, tuple[int, int]]]:
        """What changed since ``cursor`` (None if nothing), and the new cursor.

        A cursor maps each wearable to (next sample index, state version) already sent.
        """
        items = []
        new_cursor = dict(cursor)
        with self._lock:
            status_changed = cursor.get(_STATUS_KEY, (0, -1))[1] != self._status_version
            new_cursor[_STATUS_KEY] = (0, self._status_version)
            status = list(self._status.values())
            for wearable, view in self._views.items():
                index, version = cursor.get(wearable, (0, -1))
                if index == view.next_index and version == view.state_version:
                    continue
                item: dict[str, Any] = {"id": wearable}
                if version != view.state_version:
                    item["state"] = view.state()
                if index != view.next_index:
                    item["samples"] = view.samples_since(index)
                items.append(item)
                new_cursor[wearable] = (view.next_index, view.state_version)
        if not items and not status_changed and kind == "update":
            return None, new_cursor
        message = {"type": kind, "window_s": self.window_s, "wearables": items}
        if status_changed or kind == "snapshot":
            message["status"] = status
        return message, new_cursor

    def stats(self) -> dict[str, Any]:
        """Per wearable: samples received and the broker's delivery account (JSON-ready)."""
        with self._lock:
            return {
                w: {
                    "samples": v.next_index,
                    "delivery": v.delivery.as_dict() if v.delivery else None,
                }
                for w, v in self._views.items()
            }
