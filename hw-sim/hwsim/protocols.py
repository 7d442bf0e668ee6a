"""Experimental protocols of seed 003 §3.3.1, as parameters rather than literals.

A :class:`Protocol` describes one *trial* on one side: an ordered list of
:class:`Phase` (relaxed baseline, isometric hold at a fraction of MVC, rest),
repeated for each side in :attr:`Protocol.sides`, one side after the other.

Seed 003 §3.3.1.1 (upper limb): seated upright, elbow relaxed, forearm at 90° to
the upper arm; 20 s of unloaded baseline, then a dumbbell of 50 % MVC held at
45° elbow flexion for 90 s; if 45° can no longer be kept, that is the fatigue
limit and the trial ends there; 30 s rest, then the other arm. The sensor sits
over the middle of the biceps brachii.

Seed 003 §3.3.1.2 (lower limb): 20 s relaxed standing, a squat held for 90 s,
30 s rest. The sensors sit over the vastus lateralis of both legs. The seed
gives no load for the squat; treating a body-weight squat hold as 50 % MVC of
the knee extensors is an assumption of this simulator.

A hold may end early (task failure); that is decided by the physiology
(:mod:`hwsim.physiology`), not here: a protocol holds the *planned* durations.

Sessions that are not fatigue (issue 19), so that a model can learn what fatigue is
*not*; their Borg ratings stay low:

- :data:`CUFF_OCCLUSION`: a passive arterial occlusion at rest, a cuff round the
  proximal thigh over the vastus lateralis (also the physiological calibration many
  NIRS protocols start with: the ischaemic minimum and the hyperaemic maximum give
  each person's range; the 3–5 min of the reviews in Hendrick et al. 2024, Front.
  Physiol., doi:10.3389/fphys.2024.1480720); 60 s rest, 180 s cuff, 90 s recovery.
- :data:`QUIET_SITTING`: sitting, biceps relaxed, with the movements of someone
  sitting (reaching, shifting, the arm lifted and put down): 20 s still, 120 s.
- :data:`LIGHT_WORK`: light dynamic work of the elbow flexors, 1 s contraction and
  1 s relaxation at 15 % MVC (the repeated-contraction pattern of Muthalib et al.
  2010, J. Biomed. Opt. 15:017008), 20 s baseline, 120 s work, 30 s rest.

Their lengths and the 15 % MVC are assumptions of this simulator, chosen short to keep
the cohort's training time down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The kinds of phase a protocol may contain: relaxed (``baseline``, ``rest``), an
#: isometric ``hold`` at a load, a cuff ``occlusion`` at rest, ``dynamic`` rhythmic work at
#: a load, and relaxed ``movement`` (sitting, moving the limb now and then).
PHASE_KINDS = ("baseline", "hold", "rest", "occlusion", "dynamic", "movement")
#: Phase kinds that carry a load (``mvc_fraction`` in (0, 1]); the others carry none.
LOADED_KINDS = ("hold", "dynamic")
#: Work/relaxation cycle of a ``dynamic`` phase, s, and the contracted share of it
#: (1 s on, 1 s off: Muthalib et al. 2010, J. Biomed. Opt. 15:017008).
DYNAMIC_CYCLE_S = 2.0
DYNAMIC_DUTY = 0.5
#: The limbs the seed studies.
LIMBS = ("upper", "lower")
#: Muscle under the sensor per limb (seed 003 §3.3.1.1 and §3.3.1.2).
LIMB_MUSCLE = {"upper": "biceps brachii", "lower": "vastus lateralis"}
#: Seed 003 §3.3.1: both arms (one after the other) / both legs carry a sensor.
DEFAULT_SIDES = ("left", "right")

#: Seed 003 §3.3.1.1/§3.3.1.2: relaxed baseline before the hold, s.
SEED_BASELINE_S = 20.0
#: Seed 003 §3.3.1.1/§3.3.1.2: planned hold, s (the 45° elbow hold / the squat).
SEED_HOLD_S = 90.0
#: Seed 003 §3.3.1.1/§3.3.1.2: rest after the hold, s.
SEED_REST_S = 30.0
#: Seed 003 §3.3.1.1: dumbbell load as a fraction of MVC (the squat: assumption, see above).
SEED_MVC_FRACTION = 0.5


def _check_duration(what: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{what} must be a finite number of seconds > 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Phase:
    """One phase of a trial.

    Args:
        name: Label, e.g. ``"baseline"`` or ``"hold 45°"``.
        kind: One of :data:`PHASE_KINDS`.
        duration_s: Planned duration, seconds (> 0). A hold may end earlier at task failure.
        mvc_fraction: Load as a fraction of maximal voluntary contraction, in (0, 1] for a
            hold or dynamic work (:data:`LOADED_KINDS`) and 0 for the other kinds.

    Raises:
        ValueError: On an unknown kind, a non-positive duration or an MVC fraction that
            does not fit the kind.
    """

    name: str
    kind: str
    duration_s: float
    mvc_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"phase name must be a non-empty string, got {self.name!r}")
        if self.kind not in PHASE_KINDS:
            raise ValueError(
                f"phase {self.name!r}: kind must be one of {PHASE_KINDS}, got {self.kind!r}"
            )
        object.__setattr__(
            self, "duration_s", _check_duration(f"phase {self.name!r} duration_s", self.duration_s)
        )
        try:
            mvc = float(self.mvc_fraction)
        except (TypeError, ValueError):
            raise TypeError(
                f"phase {self.name!r}: mvc_fraction must be a number (a fraction of MVC), "
                f"got {self.mvc_fraction!r}"
            ) from None
        if self.kind in LOADED_KINDS:
            if not 0.0 < mvc <= 1.0:
                raise ValueError(
                    f"{self.kind} phase {self.name!r}: mvc_fraction must be in (0, 1], "
                    f"got {mvc!r}"
                )
        elif mvc != 0.0:
            raise ValueError(
                f"{self.kind} phase {self.name!r}: mvc_fraction must be 0 (no load), got {mvc!r}"
            )
        object.__setattr__(self, "mvc_fraction", mvc)


@dataclass(frozen=True)
class Protocol:
    """A trial (a sequence of phases) repeated for each side.

    Args:
        name: Protocol name, e.g. ``"upper_limb"``.
        limb: ``"upper"`` or ``"lower"`` (:data:`LIMBS`).
        phases: The trial on one side, in order; stored as a tuple. It must start with a
            baseline and contain at least one phase after it.
        sides: The sides tested one after the other, e.g. ``("left", "right")``.
        muscle: The muscle under the sensor; by default the seed's for the limb.

    Raises:
        ValueError: On an unknown limb, an empty or duplicated side list, or a phase list
            of a baseline alone or not starting with a baseline.
        TypeError: If a phase is not a :class:`Phase`.
    """

    name: str
    limb: str
    phases: tuple[Phase, ...]
    sides: tuple[str, ...] = DEFAULT_SIDES
    muscle: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"protocol name must be a non-empty string, got {self.name!r}")
        if self.limb not in LIMBS:
            raise ValueError(
                f"protocol {self.name!r}: limb must be one of {LIMBS}, got {self.limb!r}"
            )
        phases = tuple(self.phases)
        for p in phases:
            if not isinstance(p, Phase):
                raise TypeError(
                    f"protocol {self.name!r}: phases must be Phase objects, got {type(p).__name__}"
                )
        if not phases:
            raise ValueError(f"protocol {self.name!r}: needs at least one phase")
        if phases[0].kind != "baseline":
            raise ValueError(
                f"protocol {self.name!r}: the first phase must be a baseline (the resting "
                f"reference), got {phases[0].kind!r}"
            )
        if len(phases) < 2:
            raise ValueError(f"protocol {self.name!r}: needs a phase after the baseline")
        sides = (self.sides,) if isinstance(self.sides, str) else tuple(self.sides)
        if not sides or not all(isinstance(s, str) and s for s in sides):
            raise ValueError(
                f"protocol {self.name!r}: sides must be non-empty strings, got {self.sides!r}"
            )
        if len(set(sides)) != len(sides):
            raise ValueError(f"protocol {self.name!r}: duplicated side in {sides!r}")
        object.__setattr__(self, "phases", phases)
        object.__setattr__(self, "sides", sides)
        if not self.muscle:
            object.__setattr__(self, "muscle", LIMB_MUSCLE[self.limb])

    @property
    def trial_duration_s(self) -> float:
        """Planned duration of the trial on one side, seconds."""
        return math.fsum(p.duration_s for p in self.phases)

    @property
    def session_duration_s(self) -> float:
        """Planned duration of all sides one after the other, seconds."""
        return self.trial_duration_s * len(self.sides)

    @property
    def phase_starts_s(self) -> tuple[float, ...]:
        """Planned start of each phase within a trial, seconds."""
        starts, t = [], 0.0
        for p in self.phases:
            starts.append(t)
            t += p.duration_s
        return tuple(starts)

    def hold_phases(self) -> tuple[Phase, ...]:
        """The hold phases, in order."""
        return tuple(p for p in self.phases if p.kind == "hold")

    def check_side(self, side: str) -> str:
        """Return ``side`` if the protocol has it.

        Raises:
            ValueError: Naming the valid sides otherwise.
        """
        if side not in self.sides:
            raise ValueError(
                f"protocol {self.name!r} has no side {side!r}; valid sides: {self.sides}"
            )
        return side


def make_protocol(
    name: str,
    limb: str,
    *,
    baseline_s: float = SEED_BASELINE_S,
    hold_s: float = SEED_HOLD_S,
    rest_s: float = SEED_REST_S,
    mvc_fraction: float = SEED_MVC_FRACTION,
    sides: Iterable[str] = DEFAULT_SIDES,
    hold_name: str = "hold",
    muscle: str = "",
) -> Protocol:
    """Build a baseline → hold → rest protocol from parameters.

    Args:
        name: Protocol name.
        limb: ``"upper"`` or ``"lower"``.
        baseline_s: Relaxed baseline, seconds.
        hold_s: Planned isometric hold, seconds.
        rest_s: Rest after the hold, seconds.
        mvc_fraction: Hold load as a fraction of MVC, in (0, 1].
        sides: Sides tested one after the other.
        hold_name: Label of the hold phase.
        muscle: Muscle under the sensor (default: the seed's for ``limb``).

    Returns:
        The protocol.

    Raises:
        ValueError: If any parameter is out of range (the message names it).
    """
    return Protocol(
        name=name,
        limb=limb,
        phases=(
            Phase("baseline", "baseline", baseline_s),
            Phase(hold_name, "hold", hold_s, mvc_fraction),
            Phase("rest", "rest", rest_s),
        ),
        sides=tuple(sides),
        muscle=muscle,
    )


def upper_limb_protocol(**overrides: float | str | Sequence[str]) -> Protocol:
    """Seed 003 §3.3.1.1: 45° elbow-flexion hold, other arm after the rest.

    Keyword arguments override :func:`make_protocol`'s (``baseline_s``, ``hold_s``, ...).
    """
    params: dict = {"name": "upper_limb", "limb": "upper", "hold_name": "elbow flexion 45°"}
    params.update(overrides)
    return make_protocol(**params)


def lower_limb_protocol(**overrides: float | str | Sequence[str]) -> Protocol:
    """Seed 003 §3.3.1.2: squat hold.

    Keyword arguments override :func:`make_protocol`'s (``baseline_s``, ``hold_s``, ...).
    """
    params: dict = {"name": "lower_limb", "limb": "lower", "hold_name": "squat"}
    params.update(overrides)
    return make_protocol(**params)


#: Seed 003 §3.3.1.1 with its figures: 20 s baseline, 90 s at 50 % MVC, 30 s rest, both arms.
UPPER_LIMB = upper_limb_protocol()
#: Seed 003 §3.3.1.2 with its figures: 20 s relaxed, 90 s squat, 30 s rest, both legs.
LOWER_LIMB = lower_limb_protocol()
#: Passive arterial occlusion at rest (see the module docstring): one leg.
CUFF_OCCLUSION = Protocol(
    name="cuff_occlusion",
    limb="lower",
    phases=(
        Phase("baseline", "baseline", 60.0),
        Phase("cuff occlusion", "occlusion", 180.0),
        Phase("recovery", "rest", 90.0),
    ),
    sides=("left",),
)
#: Quiet sitting with movement (see the module docstring): one arm.
QUIET_SITTING = Protocol(
    name="quiet_sitting",
    limb="upper",
    phases=(Phase("baseline", "baseline", 20.0), Phase("sitting", "movement", 120.0)),
    sides=("left",),
)
#: Light dynamic elbow-flexor work (see the module docstring): one arm.
LIGHT_WORK = Protocol(
    name="light_work",
    limb="upper",
    phases=(
        Phase("baseline", "baseline", 20.0),
        Phase("light work", "dynamic", 120.0, 0.15),
        Phase("rest", "rest", 30.0),
    ),
    sides=("left",),
)
#: The seed's fatiguing protocols (the main job, the video join, Table 1).
FATIGUE_PROTOCOLS = (UPPER_LIMB, LOWER_LIMB)
#: Sessions in which nobody gets tired (issue 19).
NON_FATIGUE_PROTOCOLS = (CUFF_OCCLUSION, QUIET_SITTING, LIGHT_WORK)
#: By name, for command lines and configuration files.
PROTOCOLS = {p.name: p for p in (*FATIGUE_PROTOCOLS, *NON_FATIGUE_PROTOCOLS)}


def get_protocol(name: str) -> Protocol:
    """Return a built-in protocol by name.

    Raises:
        ValueError: Listing the known names when ``name`` is not one.
    """
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {sorted(PROTOCOLS)}") from None
