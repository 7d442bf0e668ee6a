"""Virtual clock: simulated time that advances only when somebody waits.

The device code takes any object with ``monotonic()`` and ``sleep(seconds)``;
on the board that is :class:`device.clock.SystemClock`, here it is
:class:`VirtualClock`, under which a 3-minute protocol runs in seconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class VirtualClock:
    """Simulated monotonic time in seconds.

    Args:
        start_s: The initial time, seconds.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)
        #: Scheduled faults: (time, order, action), soonest first (see :meth:`at`).
        self._due: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()

    def at(self, t_s: float, action: Callable[[], object]) -> None:
        """Call ``action()`` once simulated time reaches ``t_s`` (a fault at a set time:
        an ADC reset, a panel losing power). It runs inside the :meth:`sleep` or
        :meth:`advance_to` that crosses ``t_s``, after time has moved; actions due
        together run in the order they were scheduled."""
        heapq.heappush(self._due, (float(t_s), next(self._order), action))
        self._run_due()

    def _run_due(self) -> None:
        due = self._due
        while due and due[0][0] <= self._now_s:
            heapq.heappop(due)[2]()

    def monotonic(self) -> float:
        """Return the current simulated time, seconds."""
        return self._now_s

    def sleep(self, seconds: float) -> None:
        """Advance simulated time by ``seconds`` (like ``time.sleep``).

        Raises:
            ValueError: If ``seconds`` is negative, as ``time.sleep`` does.
        """
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, got {seconds!r} s")
        self._now_s += seconds
        if self._due:
            self._run_due()

    def advance_to(self, t_s: float) -> None:
        """Move simulated time forward to ``t_s`` seconds (never backwards)."""
        if t_s > self._now_s:
            self._now_s = t_s
            if self._due:
                self._run_due()
