"""Where a simulated session's randomness comes from: the one place every runner seeds.

A :class:`SessionSeed` names a session by its seed, subject, protocol and side, and
hands out the generators of each part of it, all from :func:`hwsim.physiology.derive_rng`
with the same keys, so that the main job (:mod:`hwsim.wearable`), the cohort
(:mod:`hwsim.cohort`), the live page's stand-in wearables (:mod:`hwsim.record_stream`)
and the physiology check (:mod:`hwsim.physiology_check`) make the same person and the
same session from the same names::

    seeding = SessionSeed(2025, 7, "upper_limb", "left", label="sim-7")
    truth = seeding.truth()            # the person through the protocol
    board = seeding.board(truth)       # the board they wear

The person depends on ``(seed, subject)`` only, so a subject's sessions of different
protocols and sides are the same person; each part of a session (its physiology, the
probe's coupling, the ADC's noise) on ``(seed, subject, protocol, side)`` and the part's
name (:data:`PARTS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hwsim.physiology import (
    DEFAULT_RATE_HZ,
    SessionTruth,
    Subject,
    derive_rng,
    draw_subject,
    simulate_session,
)
from hwsim.protocols import get_protocol

if TYPE_CHECKING:
    from hwsim.board import SimBoard

#: The parts of a session with a generator of their own: the physiology (and Borg
#: ratings), the LED-to-skin coupling of the board, the ADC's noise.
PARTS = ("session", "coupling", "adc")


@dataclass(frozen=True)
class SessionSeed:
    """One simulated session's names, from which all its randomness is derived.

    Attributes:
        seed: The run's seed (``--seed``).
        subject: The subject's index or code: what makes the person.
        protocol: A protocol of :data:`hwsim.protocols.PROTOCOLS`.
        side: One of the protocol's sides.
        label: The subject's label in records (default: ``str(subject)``).

    Raises:
        ValueError: A seed that is not a whole number >= 0, an unknown protocol, or a side
            the protocol does not have.
    """

    seed: int
    subject: int | str
    protocol: str
    side: str
    label: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not isinstance(self.protocol, str):
            raise ValueError(f"protocol must be a protocol's name, got {self.protocol!r}")
        get_protocol(self.protocol).check_side(self.side)
        if not self.label:
            object.__setattr__(self, "label", str(self.subject))

    def rng(self, part: str) -> np.random.Generator:
        """The generator of one of :data:`PARTS` of this session."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        return derive_rng(self.seed, part, self.subject, self.protocol, self.side)

    def person(self) -> Subject:
        """The subject (the same for every protocol and side of ``(seed, subject)``)."""
        return draw_subject(derive_rng(self.seed, "subject", self.subject), self.label)

    def truth(self, *, rate_hz: float = DEFAULT_RATE_HZ) -> SessionTruth:
        """The person through the protocol on this side (deterministic in the names)."""
        protocol = get_protocol(self.protocol)
        return simulate_session(
            self.person(), protocol, self.side, self.rng("session"), rate_hz=rate_hz
        )

    def noise_seed(self) -> int:
        """The seed of the board's ADC noise (:func:`hwsim.board.build_board`'s ``seed``)."""
        return int(self.rng("adc").integers(2**31))

    def board(self, truth: SessionTruth, **board_options: Any) -> SimBoard:
        """A board worn by ``truth``'s subject, coupled and seeded for this session; other
        keywords (``with_oled``, ``fault_rate`` ...) go to :func:`hwsim.board.build_board`."""
        from hwsim.board import board_for_session

        return board_for_session(
            truth, self.rng("coupling"), seed=self.noise_seed(), **board_options
        )
