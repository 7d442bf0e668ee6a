"""Perceived exertion of a simulated participant: Borg CR10 ratings through a trial.

Seed 003 §3.2 and §3.3.1: participants report their fatigue on the Borg scale,
0–10, continuously during the test, and those ratings are the model's ground
truth (ref. [7], Williams 2017, Occup. Med. 67:404–405, on the Borg scales).

The model here, per hold:

- A latent, continuous rating rises with the *relative* time to task failure,
  ``τ = t_in_hold / endurance_s``: ``B(τ) = onset + (at_failure − onset) · τ^γ``.
  That ratings of perceived exertion grow roughly in proportion to the elapsed
  fraction of endurance time in a fatiguing task and approach the top of the
  scale at exhaustion is textbook knowledge of the effort-perception literature
  (e.g. Borg 1998, *Borg's Perceived Exertion and Pain Scales*; Noble & Robertson
  1996, *Perceived Exertion*); the power-law form with a per-person exponent γ is
  this simulator's choice.
- ``onset`` (how heavy the load feels at once, ≈ 2–4 at 50 % MVC, scaled with the
  load) and ``at_failure`` (9–10) are per person: assumptions.
- The participant reports an integer every ``report_interval_s`` (and once more at
  the end of each hold): the latent value plus rating noise, rounded, clipped to
  0–10. Within a hold a report never goes below the previous one (people holding
  a load do not report that it got easier); during rest the rating falls back
  towards the resting value with a per-person time constant (assumption).

The mapping from Borg ratings to the five fatigue levels the device shows is a
separate, configurable object, :class:`device.labels.FatigueMapping`; its default
thresholds are a *choice of this project*, not a published standard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from device.labels import BORG_MAX, BORG_MIN

#: Phase kinds in which the rating rises with the relative time to task failure (an
#: occlusion at rest, sitting and rest are not exertion: the rating falls back).
WORK_KINDS = ("hold", "dynamic")
#: Default interval between reports, s (assumption: "every few seconds" in practice).
DEFAULT_REPORT_INTERVAL_S = 5.0
#: Reference load the per-person ``onset`` is given for (seed 003 §3.3.1.1: 50 % MVC).
REFERENCE_MVC_FRACTION = 0.5
#: Largest deviation of one report from the latent rating, Borg units (assumption:
#: a participant's report is off by at most one step; this also guarantees a report
#: of ≥ 8 at task failure, where the latent rating is ≥ 9).
MAX_RATING_ERROR = 1.0


@dataclass(frozen=True)
class BorgProfile:
    """How one person rates exertion.

    Attributes:
        onset: Latent rating at the very start of a hold at 50 % MVC (Borg units).
        at_failure: Latent rating at task failure (Borg units, 9–10).
        curvature: Exponent γ of the relative time to failure (1 = linear).
        noise_sd: Standard deviation of the rating noise (Borg units), clipped at
            :data:`MAX_RATING_ERROR`.
        rest_level: Latent rating when relaxed (Borg units).
        recovery_tau_s: Time constant of the fall back towards ``rest_level`` after a
            hold, seconds.
    """

    onset: float
    at_failure: float
    curvature: float
    noise_sd: float
    rest_level: float
    recovery_tau_s: float

    def __post_init__(self) -> None:
        for name in ("onset", "at_failure", "rest_level"):
            value = getattr(self, name)
            if not BORG_MIN <= value <= BORG_MAX:
                raise ValueError(f"{name} must be within {BORG_MIN}–{BORG_MAX}, got {value!r}")
        if self.at_failure <= self.onset:
            raise ValueError(
                f"at_failure ({self.at_failure}) must exceed onset ({self.onset}): "
                "exertion grows towards task failure"
            )
        if not self.curvature > 0:
            raise ValueError(f"curvature must be > 0, got {self.curvature!r}")
        if not self.noise_sd >= 0:
            raise ValueError(f"noise_sd must be ≥ 0, got {self.noise_sd!r}")
        if not self.recovery_tau_s > 0:
            raise ValueError(f"recovery_tau_s must be > 0 s, got {self.recovery_tau_s!r}")

    def onset_at(self, mvc_fraction: float) -> float:
        """Latent rating at the start of a hold at ``mvc_fraction`` (Borg units).

        Scales the 50 % MVC onset with the load, linearly (assumption), never below
        the resting level.
        """
        scaled = self.onset * mvc_fraction / REFERENCE_MVC_FRACTION
        return min(max(scaled, self.rest_level), self.at_failure - 0.5)


def draw_borg_profile(rng: np.random.Generator) -> BorgProfile:
    """Draw one person's rating behaviour (all ranges are assumptions of this simulator).

    Args:
        rng: Source of randomness.

    Returns:
        The profile.
    """
    return BorgProfile(
        onset=float(rng.uniform(2.0, 4.0)),
        at_failure=float(rng.uniform(9.0, 10.0)),
        curvature=float(rng.uniform(0.8, 1.3)),
        noise_sd=float(rng.uniform(0.25, 0.6)),
        rest_level=float(rng.uniform(0.0, 0.7)),
        recovery_tau_s=float(rng.uniform(8.0, 20.0)),
    )


@dataclass(frozen=True)
class Segment:
    """One phase of a trial as it actually happened (a hold may have ended early).

    Attributes:
        kind: One of :data:`hwsim.protocols.PHASE_KINDS`.
        start_s: Start, seconds on the trial clock.
        end_s: End, seconds on the trial clock.
        mvc_fraction: Load of a hold or dynamic work (0 otherwise).
        endurance_s: Time to task failure at this load, seconds (holds and dynamic work).
    """

    kind: str
    start_s: float
    end_s: float
    mvc_fraction: float = 0.0
    endurance_s: float = math.inf


@dataclass(frozen=True)
class BorgTrace:
    """The ratings a participant reported.

    Attributes:
        t_s: Report times, seconds on the trial clock (increasing).
        rating: Integer Borg CR10 ratings, 0–10.
        segment: Index of the segment (phase) each report belongs to.
    """

    t_s: np.ndarray
    rating: np.ndarray
    segment: np.ndarray

    def __post_init__(self) -> None:
        for name in ("t_s", "rating", "segment"):
            getattr(self, name).flags.writeable = False

    def rating_at(self, t_s: float | np.ndarray) -> np.ndarray:
        """Most recent report at or before ``t_s`` (sample and hold), Borg units.

        Before the first report the first rating is returned.
        """
        idx = np.searchsorted(self.t_s, np.asarray(t_s, dtype=float), side="right") - 1
        return self.rating[np.clip(idx, 0, len(self.rating) - 1)]


def latent_borg(t_s: np.ndarray, segments: Sequence[Segment], profile: BorgProfile) -> np.ndarray:
    """The continuous (unreported) rating on a time grid, Borg units.

    Args:
        t_s: Times, seconds on the trial clock, increasing.
        segments: The trial's phases as they happened, in order and contiguous.
        profile: The person's rating behaviour.

    Returns:
        Latent rating at each time, in [0, 10].
    """
    t_s = np.asarray(t_s, dtype=float)
    out = np.full(t_s.shape, profile.rest_level)
    level = profile.rest_level  # latent rating at the end of the previous segment
    for seg in segments:
        in_seg = (t_s >= seg.start_s) & (t_s <= seg.end_s)
        u = t_s[in_seg] - seg.start_s
        length = seg.end_s - seg.start_s
        if seg.kind in WORK_KINDS:
            # A second hold starts from whatever fatigue is left (never above at_failure).
            onset = min(max(profile.onset_at(seg.mvc_fraction), level), profile.at_failure)
            tau = np.clip(u / seg.endurance_s, 0.0, 1.0)
            out[in_seg] = onset + (profile.at_failure - onset) * tau**profile.curvature
            tau_end = min(length / seg.endurance_s, 1.0)
            level = onset + (profile.at_failure - onset) * tau_end**profile.curvature
        else:
            decay = np.exp(-u / profile.recovery_tau_s)
            out[in_seg] = profile.rest_level + (level - profile.rest_level) * decay
            level = profile.rest_level + (level - profile.rest_level) * math.exp(
                -length / profile.recovery_tau_s
            )
    return np.clip(out, BORG_MIN, BORG_MAX)


def simulate_borg(
    segments: Sequence[Segment],
    profile: BorgProfile,
    rng: np.random.Generator,
    *,
    report_interval_s: float = DEFAULT_REPORT_INTERVAL_S,
) -> BorgTrace:
    """Integer Borg CR10 reports through a trial.

    Reports fall every ``report_interval_s`` from t = 0 and once more at the end of
    each hold (at task failure, the participant says how it felt as the load went).

    Args:
        segments: The trial's phases as they happened, in order and contiguous.
        profile: The person's rating behaviour.
        rng: Source of the rating noise.
        report_interval_s: Seconds between reports (> 0).

    Returns:
        The reports.

    Raises:
        ValueError: If ``report_interval_s`` is not positive or there are no segments.
    """
    if not report_interval_s > 0:
        raise ValueError(f"report_interval_s must be > 0 s, got {report_interval_s!r}")
    if not segments:
        raise ValueError("no segments to rate")
    end_s = segments[-1].end_s
    times = list(np.arange(0.0, end_s + 1e-9, report_interval_s))
    times += [s.end_s for s in segments if s.kind == "hold"]
    t = np.unique(np.round(np.asarray(times, dtype=float), 9))
    # A report at a boundary belongs to the segment that is ending when it is a hold's
    # end (the rating at release), otherwise to the segment that starts there.
    seg_idx = np.empty(t.shape, dtype=np.int64)
    for i, seg in enumerate(segments):
        inside = (t >= seg.start_s) & (t < seg.end_s)
        if seg.kind == "hold" or i == len(segments) - 1:
            inside |= np.isclose(t, seg.end_s)
        seg_idx[inside] = i
    latent = latent_borg(t, segments, profile)
    noise = np.clip(rng.normal(0.0, profile.noise_sd, t.shape), -MAX_RATING_ERROR, MAX_RATING_ERROR)
    rating = np.clip(np.rint(latent + noise), BORG_MIN, BORG_MAX).astype(np.int64)
    for i, seg in enumerate(segments):
        if seg.kind == "hold":
            sel = np.flatnonzero(seg_idx == i)
            rating[sel] = np.maximum.accumulate(rating[sel])
    return BorgTrace(t_s=t, rating=rating, segment=seg_idx)
