"""From model probabilities to what the wearer sees and hears.

- :class:`LevelSmoother`: the mean of the last few seconds' probabilities, so the
  shown level does not flicker with every prediction; the raw probabilities stay
  in the record.
- :class:`AlertPolicy`: a buzzer pattern when the shown level has been "high" or above
  for a few seconds in a row, another for "exhausted", each re-armed only after the level
  has fallen well below it (hysteresis), so a level hovering at a boundary does not chatter
  and a level shown for one second does not sound at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from functools import reduce
from operator import add

#: Buzzer patterns, (on_s, off_s) pairs: two short beeps for "high", three long for
#: "exhausted" (distinct by count and length, audible without looking).
PATTERN_HIGH = ((0.12, 0.12), (0.12, 0.0))
PATTERN_EXHAUSTED = ((0.4, 0.15), (0.4, 0.15), (0.4, 0.0))
HIGH, EXHAUSTED = 3, 4


def argmax(values: Iterable[float]) -> int:
    """Index of the largest value; the FIRST one on ties (and the first NaN), as
    ``np.argmax``.

    Raises:
        ValueError: If ``values`` is empty.
    """
    best_i, best = -1, 0.0
    for i, value in enumerate(values):
        value = float(value)
        if value != value:  # NaN wins, as in numpy
            return i
        if best_i < 0 or value > best:
            best_i, best = i, value
    if best_i < 0:
        raise ValueError("argmax of an empty sequence")
    return best_i


class LevelSmoother:
    """Average the last ``n`` probability vectors; the shown level is their argmax."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"smoothing window must be >= 1 prediction, got {n}")
        self._recent: deque[tuple[float, ...]] = deque(maxlen=n)

    def push(self, probabilities: Sequence[float]) -> int:
        """Add one prediction's probabilities; returns the smoothed level (an index).

        Raises:
            ValueError: If the vector's length differs from the ones before it.
        """
        vector = tuple(float(p) for p in probabilities)
        if self._recent and len(vector) != len(self._recent[0]):
            raise ValueError(
                f"probability vectors must all have {len(self._recent[0])} values, "
                f"got {len(vector)}"
            )
        self._recent.append(vector)
        count = len(self._recent)
        # Class by class, oldest first, as np.mean(axis=0) sums them.
        return argmax(reduce(add, column) / count for column in zip(*self._recent))

    def reset(self) -> None:
        """Forget (after "check sensor": old predictions no longer describe the muscle)."""
        self._recent.clear()


class AlertPolicy:
    """Which buzzer pattern, if any, a new shown level calls for.

    Args:
        rearm_drop: An alert re-arms once the shown level has fallen this many levels below
            it ([alerts] rearm_drop).
        hold_s: Predictions (one a second) in a row the shown level must be at or above an
            alert's level before it sounds ([alerts] hold_s; 1 sounds at the first). Fatigue
            in a sustained hold builds over tens of seconds (the simulated upper-limb hold:
            one Borg point about every 12 s), so a level shown for one second between lower
            ones is the model's noise at a class boundary, not the wearer's state; an alert
            that sounds for it teaches the wearer to ignore the buzzer.
    """

    def __init__(self, rearm_drop: int = 2, hold_s: int = 1) -> None:
        self.rearm_drop = rearm_drop
        self.hold_s = hold_s
        self._armed = {HIGH: True, EXHAUSTED: True}
        self._held = {HIGH: 0, EXHAUSTED: 0}
        #: The level (HIGH or EXHAUSTED) whose pattern the last :meth:`update` returned.
        self.alert_level: int | None = None

    def update(self, level: int) -> tuple[tuple[float, float], ...] | None:
        held = self._held
        for alert_level in (HIGH, EXHAUSTED):
            if level <= alert_level - self.rearm_drop:
                self._armed[alert_level] = True
            held[alert_level] = held[alert_level] + 1 if level >= alert_level else 0
        self.alert_level = None
        if held[EXHAUSTED] >= self.hold_s and self._armed[EXHAUSTED]:
            self._armed[EXHAUSTED] = self._armed[HIGH] = False
            self.alert_level = EXHAUSTED
            return PATTERN_EXHAUSTED
        if held[HIGH] >= self.hold_s and self._armed[HIGH]:
            self._armed[HIGH] = False
            self.alert_level = HIGH
            return PATTERN_HIGH
        return None

    def reset(self) -> None:
        """No level shown (check sensor, no data): a hold starts again from the next one."""
        self._held[HIGH] = self._held[EXHAUSTED] = 0
