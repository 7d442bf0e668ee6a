"""Virtual clock: simulated time that advances only when somebody waits.

The device code takes any object with ``monotonic()`` and ``sleep(seconds)``;
on the board that is :class:`device.clock.SystemClock`, here it is
:class:`VirtualClock`, under which a 3-minute protocol runs in seconds.
"""

from __future__ import annotations


class VirtualClock:
    """Simulated monotonic time in seconds.

    Args:
        start_s: The initial time, seconds.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

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

    def advance_to(self, t_s: float) -> None:
        """Move simulated time forward to ``t_s`` seconds (never backwards)."""
        if t_s > self._now_s:
            self._now_s = t_s
