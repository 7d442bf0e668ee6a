"""Labels: Borg CR10 ratings and the five fatigue levels they map to.

The mapping is configuration (the design brief): it is recorded in the model metadata and
in every dataset, and the host's collect command, the simulator and the wearable
all use this one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real

#: Borg CR10 range (Borg 1998).
BORG_MIN = 0
BORG_MAX = 10

#: Default level names, lowest to highest (the design brief: five levels).
FATIGUE_LEVELS = ("none", "light", "moderate", "high", "exhausted")
#: Default highest Borg rating of each level: 0–1 none, 2–3 light, 4–5 moderate,
#: 6–7 high, 8–10 exhausted. A choice of this project (evenly split pairs of CR10
#: steps, with the top three in "exhausted"), not a published standard.
DEFAULT_LEVEL_MAX_BORG = (1, 3, 5, 7, 10)


@dataclass(frozen=True)
class FatigueMapping:
    """Borg CR10 rating → fatigue level.

    Level ``i`` covers Borg ratings ``(max_borg[i-1], max_borg[i]]`` (level 0 from 0).
    Non-integer ratings are rounded to the nearest integer first.

    Args:
        names: Level names, lowest first.
        max_borg: Highest Borg rating of each level, strictly increasing, ending at 10.

    Raises:
        ValueError: If the lists differ in length, names repeat, or the bounds do not
            increase strictly from ≥ 0 to 10.
    """

    names: tuple[str, ...] = FATIGUE_LEVELS
    max_borg: tuple[int, ...] = DEFAULT_LEVEL_MAX_BORG
    _lookup: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(self.names)
        bounds = tuple(int(b) for b in self.max_borg)
        if len(names) != len(bounds) or not names:
            raise ValueError(
                f"need one max_borg per level name: {len(names)} names, {len(bounds)} bounds"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"level names repeat: {names}")
        if bounds[0] < BORG_MIN or bounds[-1] != BORG_MAX:
            raise ValueError(
                f"max_borg must start at ≥ {BORG_MIN} and end at {BORG_MAX}, got {bounds}"
            )
        if any(b <= a for a, b in zip(bounds, bounds[1:])):
            raise ValueError(f"max_borg must increase strictly, got {bounds}")
        lookup = tuple(
            next(i for i, b in enumerate(bounds) if r <= b) for r in range(BORG_MIN, BORG_MAX + 1)
        )
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "max_borg", bounds)
        object.__setattr__(self, "_lookup", lookup)

    @property
    def n_levels(self) -> int:
        """Number of levels."""
        return len(self.names)

    def level(self, borg: object) -> int | list:
        """Level index (0 = lowest) for a rating, or for each rating of a sequence.

        Args:
            borg: One rating, or a sequence of ratings (list, tuple, numpy array; nested
                sequences give nested lists).

        Returns:
            int for one rating; a list of int (same nesting) for a sequence. Ratings are
            rounded half to even, as ``np.rint``.

        Raises:
            ValueError: If a rating is outside 0–10 or not finite.
        """

        def one(value: object) -> int | list:
            if isinstance(value, Real):
                rating = float(value)
                if BORG_MIN <= rating <= BORG_MAX:  # False for NaN
                    return self._lookup[round(rating)]
            elif not isinstance(value, (str, bytes)):
                try:
                    return [one(v) for v in value]
                except TypeError:
                    pass
            raise ValueError(f"Borg ratings must be within {BORG_MIN}–{BORG_MAX}, got {borg!r}")

        tolist = getattr(borg, "tolist", None)  # numpy arrays and scalars: Python values
        return one(tolist() if tolist is not None else borg)

    def name(self, borg: float) -> str:
        """Level name for one rating."""
        return self.names[int(self.level(borg))]

    def to_dict(self) -> dict:
        """JSON-ready form, for the model metadata (the design brief: the mapping is recorded)."""
        return {"names": list(self.names), "max_borg": list(self.max_borg)}

    @classmethod
    def from_dict(cls, data: Mapping) -> FatigueMapping:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: If a key is missing or the values are invalid.
        """
        missing = {"names", "max_borg"} - set(data)
        if missing:
            raise ValueError(f"fatigue mapping lacks {sorted(missing)}; got keys {sorted(data)}")
        return cls(names=tuple(data["names"]), max_borg=tuple(data["max_borg"]))


#: The default mapping (see :data:`DEFAULT_LEVEL_MAX_BORG`).
DEFAULT_MAPPING = FatigueMapping()
