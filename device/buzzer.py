"""The buzzer: one GPIO line driving an active buzzer, with non-blocking patterns.

A pattern is a sequence of (on_s, off_s) pairs. :meth:`Buzzer.play` starts one;
the app calls :meth:`Buzzer.update` from its loop, so beeping never blocks
acquisition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from device.clock import Clock
from device.leds import OutputLine


class Buzzer:
    """An active buzzer on ``line`` (high = sounding).

    Args:
        line: Output GPIO line; the buzzer owns and closes it.
        clock: Time source.
        muted: If true, patterns are accepted but the line stays low.
    """

    def __init__(self, line: OutputLine, clock: Clock, *, muted: bool = False) -> None:
        self.line = line
        self.clock = clock
        self.muted = muted
        self._edges: list[tuple[float, bool]] = []  # pending (time_s, level), in time order
        self._on = False
        self.line.write(False)

    def play(self, pattern: Sequence[tuple[float, float]]) -> None:
        """Start ``pattern`` now, replacing any pattern still playing."""
        t = self.clock.monotonic()
        self._edges = []
        for on_s, off_s in pattern:
            if on_s < 0 or off_s < 0:
                raise ValueError(f"pattern durations must be >= 0 s, got {(on_s, off_s)}")
            self._edges += [(t, True), (t + on_s, False)]
            t += on_s + off_s
        self.update()

    @property
    def playing(self) -> bool:
        return bool(self._edges) or self._on

    def update(self) -> None:
        """Apply every pattern edge that is due."""
        now = self.clock.monotonic()
        while self._edges and self._edges[0][0] <= now:
            _, level = self._edges.pop(0)
            self._set(level and not self.muted)

    def _set(self, level: bool) -> None:
        if level != self._on:
            self.line.write(level)
            self._on = level

    def close(self) -> None:
        """Silence and release the line; harmless to call twice."""
        self._edges = []
        with contextlib.suppress(OSError, ValueError):
            self._set(False)
        self.line.close()
