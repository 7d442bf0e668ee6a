"""From model probabilities to what the wearer sees and hears.

- :class:`LevelSmoother`: the mean of the last few seconds' probabilities, so the
  shown level does not flicker with every prediction; the raw probabilities stay
  in the record.
- :class:`AlertPolicy`: a buzzer pattern when the shown level rises to "high" and
  another to "exhausted", each re-armed only after the level has fallen well below
  it (hysteresis), so a level hovering at a boundary does not chatter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

#: Buzzer patterns, (on_s, off_s) pairs: two short beeps for "high", three long for
#: "exhausted" (distinct by count and length, audible without looking).
PATTERN_HIGH = ((0.12, 0.12), (0.12, 0.0))
PATTERN_EXHAUSTED = ((0.4, 0.15), (0.4, 0.15), (0.4, 0.0))
HIGH, EXHAUSTED = 3, 4


class LevelSmoother:
    """Average the last ``n`` probability vectors; the shown level is their argmax."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"smoothing window must be >= 1 prediction, got {n}")
        self._recent: deque[np.ndarray] = deque(maxlen=n)

    def push(self, probabilities: Sequence[float]) -> int:
        self._recent.append(np.asarray(probabilities, dtype=float))
        return int(np.argmax(np.mean(self._recent, axis=0)))

    def reset(self) -> None:
        """Forget (after "check sensor": old predictions no longer describe the muscle)."""
        self._recent.clear()


class AlertPolicy:
    """Which buzzer pattern, if any, a new shown level calls for."""

    def __init__(self, rearm_drop: int = 2) -> None:
        self.rearm_drop = rearm_drop
        self._armed = {HIGH: True, EXHAUSTED: True}

    def update(self, level: int) -> tuple[tuple[float, float], ...] | None:
        for alert_level in (HIGH, EXHAUSTED):
            if level <= alert_level - self.rearm_drop:
                self._armed[alert_level] = True
        if level >= EXHAUSTED and self._armed[EXHAUSTED]:
            self._armed[EXHAUSTED] = self._armed[HIGH] = False
            return PATTERN_EXHAUSTED
        if level >= HIGH and self._armed[HIGH]:
            self._armed[HIGH] = False
            return PATTERN_HIGH
        return None
