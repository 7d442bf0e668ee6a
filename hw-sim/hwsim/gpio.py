"""Simulated GPIO lines with the ``periphery.GPIO`` methods the device uses.

An output line remembers every level it was set to and when, so a test can
replay the whole history (``history``) and check, for instance, that no two
LEDs were ever lit together. An input line is driven by the simulator, either
directly (:meth:`SimGPIO.drive`) or by an :class:`EdgeSource` such as the
ADS1114's ALERT/RDY pin, whose edges are produced lazily as virtual time passes.

Edge events queue as in the Linux GPIO character device (v1 line events): at
most :data:`EVENT_QUEUE_DEPTH` wait to be read; later ones are dropped.
"""

from __future__ import annotations

import bisect
import collections
import math
from typing import NamedTuple, Protocol

from hwsim.clock import VirtualClock

#: Events the kernel keeps per line (gpiolib-cdev v1 line event kfifo size).
EVENT_QUEUE_DEPTH = 16

_EDGES = ("none", "rising", "falling", "both")
_DIRECTIONS = ("in", "out", "high", "low", "preserve")


class EdgeEvent(NamedTuple):
    """As ``periphery.EdgeEvent``: ``edge`` is "rising" or "falling"; ``timestamp`` in ns."""

    edge: str
    timestamp: int


class SimGPIOError(OSError):
    """Misuse of a simulated line (the real driver's ``GPIOError`` counterpart)."""


class EdgeSource(Protocol):
    """Something that drives an input line over simulated time."""

    def level_at(self, t_s: float) -> bool: ...

    def edges(self, t0_s: float, t1_s: float, limit: int) -> list[tuple[float, bool]]:
        """Level changes with t0 < t <= t1, in time order, at most ``limit`` of them."""
        ...

    def next_edge(self, t_s: float) -> tuple[float, bool] | None:
        """The first level change strictly after ``t_s``, or None if there will be none."""
        ...


class SimGPIO:
    """One simulated GPIO line.

    Args:
        clock: The virtual clock.
        line: Line offset on its chip (only used in messages).
        direction: "in", "out", "high", "low" or "preserve", as periphery.
        name: A label for messages and plots.
    """

    def __init__(
        self, clock: VirtualClock, line: int, direction: str = "in", *, name: str = ""
    ) -> None:
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
        self.clock = clock
        self.line = line
        self.name = name or f"line{line}"
        self._output = direction in ("out", "high", "low")
        level = direction == "high"
        self._times: list[float] = [clock.monotonic()]
        self._levels: list[bool] = [level]
        self._source: EdgeSource | None = None
        self._edge = "none"
        self._queue: collections.deque[EdgeEvent] = collections.deque()
        self._seen_until_s = clock.monotonic()
        self.events_dropped = 0
        self.closed = False

    # -- periphery.GPIO subset -----------------------------------------------------

    @property
    def direction(self) -> str:
        return "out" if self._output else "in"

    @property
    def edge(self) -> str:
        return self._edge

    @edge.setter
    def edge(self, value: str) -> None:
        if value not in _EDGES:
            raise ValueError(f"edge must be one of {_EDGES}, got {value!r}")
        if self._output:
            raise SimGPIOError(f"{self.name}: edge detection needs an input line")
        self._edge = value
        self._queue.clear()
        self._seen_until_s = self.clock.monotonic()

    def write(self, value: bool) -> None:
        """Set an output line's level."""
        self._check_open()
        if not isinstance(value, bool):
            raise TypeError("Invalid value type, should be bool.")
        if not self._output:
            raise SimGPIOError(f"{self.name}: cannot write an input line")
        if value != self._levels[-1]:
            self._times.append(self.clock.monotonic())
            self._levels.append(value)

    def read(self) -> bool:
        """Return the line's level now."""
        self._check_open()
        return self.level_at(self.clock.monotonic())

    def poll(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) for an edge event.

        Virtual time advances to the event or by the timeout.
        """
        self._check_open()
        if self._edge == "none":
            raise SimGPIOError(f"{self.name}: poll() needs edge detection enabled")
        now = self.clock.monotonic()
        self._collect(now)
        if self._queue:
            return True
        deadline = math.inf if timeout is None else now + max(timeout, 0.0)
        t = now
        while True:
            nxt = self._next_edge(t)
            if nxt is None or nxt[0] > deadline:
                break
            t, rising = nxt
            if self._wanted(rising):  # the first edge after the last look: queue it directly
                self.clock.advance_to(t)
                self._enqueue(t, rising)
                self._seen_until_s = t
                return True
        if deadline == math.inf:
            raise SimGPIOError(f"{self.name}: poll(None) would wait forever: no edge will come")
        self.clock.advance_to(deadline)
        self._seen_until_s = deadline
        return False

    def read_event(self) -> EdgeEvent:
        """Return the oldest queued edge event, waiting for one if none is queued."""
        self._check_open()
        if not self._queue:
            self.poll(None)
        return self._queue.popleft()

    def peek_event(self) -> EdgeEvent | None:
        """The oldest queued edge event without taking it, or None (no waiting, no time).

        Not in ``periphery.GPIO``: ``hwsim.remote`` sends it with a successful poll.
        """
        return self._queue[0] if self._queue else None

    def close(self) -> None:
        """Release the line; harmless to call twice."""
        self.closed = True

    def __enter__(self) -> SimGPIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- simulator side ----------------------------------------------------------------

    def attach_source(self, source: EdgeSource) -> None:
        """Let ``source`` drive this input line from now on."""
        if self._output:
            raise SimGPIOError(f"{self.name}: an output line cannot be driven by the simulator")
        self._source = source
        self._seen_until_s = self.clock.monotonic()

    def drive(self, value: bool) -> None:
        """Set an input line's level from the simulator side, now."""
        if self._output or self._source is not None:
            raise SimGPIOError(f"{self.name}: only a free input line can be driven directly")
        now = self.clock.monotonic()
        if value != self._levels[-1]:
            self._collect(now)
            self._times.append(now)
            self._levels.append(value)
            if self._wanted(value):
                self._enqueue(now, value)
            self._seen_until_s = now

    def level_at(self, t_s: float) -> bool:
        """The line's level at simulated time ``t_s``."""
        if self._source is not None:
            return self._source.level_at(t_s)
        i = bisect.bisect_right(self._times, t_s) - 1
        return self._levels[max(i, 0)]

    @property
    def history(self) -> list[tuple[float, bool]]:
        """Every level the line took and when, as (time_s, level) in time order."""
        return list(zip(self._times, self._levels))

    def on_intervals(self, t0_s: float, t1_s: float) -> list[tuple[float, float]]:
        """The sub-intervals of [t0, t1] during which this line was high (output lines)."""
        times, levels = self._times, self._levels
        if times[-1] <= t0_s:  # the common case: no change inside the window
            return [(t0_s, t1_s)] if levels[-1] else []
        out = []
        n = len(times)
        i = max(bisect.bisect_right(times, t0_s) - 1, 0)
        while i < n and times[i] < t1_s:
            if levels[i]:
                start = times[i] if times[i] > t0_s else t0_s
                end = times[i + 1] if i + 1 < n and times[i + 1] < t1_s else t1_s
                if end > start:
                    out.append((start, end))
            i += 1
        return out

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise SimGPIOError(f"{self.name}: line is closed")

    def _wanted(self, rising: bool) -> bool:
        return self._edge == "both" or self._edge == ("rising" if rising else "falling")

    def _enqueue(self, t_s: float, rising: bool) -> None:
        if len(self._queue) >= EVENT_QUEUE_DEPTH:
            self.events_dropped += 1
            return
        self._queue.append(EdgeEvent("rising" if rising else "falling", round(t_s * 1e9)))

    def _collect(self, now_s: float) -> None:
        """Queue the source's wanted edges that happened since the last look."""
        if self._source is not None and self._edge != "none" and now_s > self._seen_until_s:
            room = EVENT_QUEUE_DEPTH - len(self._queue)
            for t, rising in self._source.edges(self._seen_until_s, now_s, 2 * room + 2):
                if self._wanted(rising):
                    self._enqueue(t, rising)
        self._seen_until_s = max(self._seen_until_s, now_s)

    def _next_edge(self, t_s: float) -> tuple[float, bool] | None:
        if self._source is not None:
            return self._source.next_edge(t_s)
        return None
