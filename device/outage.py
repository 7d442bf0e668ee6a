"""A peripheral's run of failures: when it counts as away, since when, and what to tell.

Shared by the peripherals that must come back by themselves or have the wearer told when
they cannot (issue 14): the OLED (:class:`device.oled.Display`) and the serial link
(:class:`device.link.LinkWriter`). Each counts its failures and successes here and shows
the app its state (``Display.lost``, ``LinkWriter.down``) and its notices
(``take_notices()``: one line when the peripheral goes away, one when it is back), for the
console and the record.

A single failure is not an outage: a glitch on a bus or a wire costs one frame and is
forgotten at the next success. Only ``away_after`` failures in a row, with no success in
between, make one.
"""

from __future__ import annotations

from collections import deque

from device.clock import Clock

#: Notices kept until taken: a peripheral that comes and goes faster than the app asks
#: loses its oldest lines, never memory.
MAX_NOTICES = 8


def check_count(name: str, value: object) -> int:
    """``value`` if it is an integer >= 1 (not a bool).

    Raises:
        ValueError: Otherwise, naming the setting ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


class Outage:
    """Failures in a row of one peripheral, and the notices they make.

    Args:
        name: What failed, as the wearer reads it, e.g. "OLED", "serial link on /dev/ttyGS0".
        clock: Time source; read only on a failure and on the success that ends an outage.
        away_after: Failures in a row that make the peripheral away, >= 1.
        away_text: What follows ``name`` in the notice, e.g. "not answering".

    Attributes:
        streak: Failures since the last success.
        since_s: Clock time of the first failure of the streak, seconds (``None``: no streak).
        last_error: The latest failure, one line (``None`` before the first).
        outages: Times the peripheral went away.
        recoveries: Times it came back after being away.

    Raises:
        ValueError: ``away_after`` not an integer >= 1.
    """

    def __init__(self, name: str, clock: Clock, *, away_after: int, away_text: str) -> None:
        self.name = name
        self.away_after = check_count("away_after", away_after)
        self.away_text = away_text
        self.streak = 0
        self.since_s: float | None = None
        self.last_error: str | None = None
        self.outages = 0
        self.recoveries = 0
        self._clock = clock
        self._notices: deque[str] = deque(maxlen=MAX_NOTICES)

    @property
    def away(self) -> bool:
        """True from the ``away_after``-th failure in a row until the next success."""
        return self.streak >= self.away_after

    def failed(self, error: str) -> None:
        """Count a failure, ``error`` being one line saying what went wrong."""
        now_s = self._clock.monotonic()
        self.streak += 1
        self.last_error = error
        if self.streak == 1:
            self.since_s = now_s
        if self.streak == self.away_after:
            self.outages += 1
            self._notices.append(
                f"{self.name} {self.away_text} for {now_s - self.since_s:.1f} s "
                f"({self.streak} failures in a row, the last: {error})"
            )

    def succeeded(self) -> None:
        """Count a success: it ends a streak, and an outage with a notice."""
        if not self.streak:
            return
        if self.away:
            self.recoveries += 1
            away_s = self._clock.monotonic() - self.since_s
            self._notices.append(f"{self.name} back after {away_s:.1f} s")
        self.streak = 0
        self.since_s = None

    def take_notices(self) -> list[str]:
        """The lines to tell since the last call, oldest first (an empty list: nothing new)."""
        notices = list(self._notices)
        self._notices.clear()
        return notices
