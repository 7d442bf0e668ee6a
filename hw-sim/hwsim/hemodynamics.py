"""Muscle haemoglobin through each kind of phase: the response equations of the simulator.

:func:`hemodynamics` turns a trial's phases as they happened (:class:`hwsim.borg.Segment`)
and one muscle's parameters (:class:`hwsim.physiology.MuscleParams`, drawn there with
the source of each range) into muscle-level SmO2 (fraction) and tHb (µM) on a time
grid, carrying the state from one phase to the next. Per kind
(:data:`hwsim.protocols.PHASE_KINDS`):

- ``hold`` (isometric, load *m* of MVC). Onset: intramuscular pressure squeezes blood
  out (tHb falls within about a second), then an *early hyperaemic* phase, arterial
  inflow refilling part of it for several seconds, before ischaemia takes over: the
  contraction signature issue 19 asks for, which separates a working muscle from one
  that is merely occluded. Blood flow in the tibialis anterior fell to 59 ± 30 % of rest
  at the start of a maximal hold and rose progressively at 30 % MVC (Doppler with NIRS;
  docs/physiology_sources.md §3); intramuscular pressure rises with force and stops
  flow at 50–64 % MVC (wick-catheter and xenon-clearance studies, PubMed 6685038, same
  table). Then
  SmO2 falls exponentially to a per-person nadir and keeps sinking slowly as fatigue
  grows; tHb follows.
- ``occlusion`` (a cuff at rest). No contraction: tHb stays (a little venous blood is
  trapped while the cuff passes venous pressure) and SmO2 falls at the resting O2 use,
  a fraction of a percentage point per second (forearm StO2 −6.4 to −10 %/min during a
  3-min upper-arm occlusion, docs/physiology_sources.md §2), towards an ischaemic floor.
- ``dynamic`` (rhythmic work at load *m*). Each contraction squeezes blood out and each
  relaxation lets it back (the muscle pump), mean tHb rises (biceps Hbtot rose from rest
  at 20 % MVC intermittent contractions: Front. Physiol. 2014;5:190,
  doi:10.3389/fphys.2014.00190) and SmO2 falls a little, in proportion to the occlusion
  the load causes.
- ``movement`` (relaxed, moving). Rest, plus hydrostatic tHb shifts each time the limb
  is raised or lowered (the posture changes of someone sitting).
- ``baseline``/``rest``. Back to rest; after a hold, an occlusion or dynamic work, a
  reactive hyperaemia overshoots HbO2, SmO2 and tHb in proportion to how deep the
  desaturation went, and settles over tens of seconds.

Every time constant and shape here is an *assumption* unless its comment cites a
source; the ranges drawn per person are in :mod:`hwsim.physiology`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from hwsim.protocols import DYNAMIC_CYCLE_S, DYNAMIC_DUTY

if TYPE_CHECKING:
    from hwsim.borg import Segment
    from hwsim.physiology import MuscleParams

#: Share of HbO2 in arterial blood arriving in the muscle (SaO2 ≈ 97 %, reduced for
#: mixing with capillary blood: 0.9, assumption). Used for the cardiac pulse and the
#: early hyperaemic inflow.
ARTERIAL_HBO2_SHARE = 0.9
#: Time constant of the blood squeezed out at a contraction's onset, s (assumption:
#: "tHb falls quickly", issue 19; the pressure rises with the force within a second).
THB_EXPULSION_TAU_S = 0.7
#: Early hyperaemia after the squeeze: rise and decay time constants, s (assumption;
#: its peak comes about 5 s into the hold).
EARLY_HYPER_RISE_TAU_S = 3.0
EARLY_HYPER_DECAY_TAU_S = 8.0
#: Load at which the occlusion reaches 63 % of complete, fraction of MVC, in
#: occlusion(m) = 1 − exp(−(m / m0)²) (assumption: flow is restricted progressively
#: and near-occluded by 50 % MVC; flow stopped at 50–64 % MVC in the wick-catheter and
#: xenon-clearance studies of docs/physiology_sources.md §3).
OCCLUSION_MVC_SCALE = 0.3
#: Lowest SmO2 an arterial occlusion at rest reaches, fraction (assumption: the
#: ischaemic floor of a 3–5 min occlusion; the exponential approach to it keeps the
#: initial slope the per-person rate).
OCCLUSION_FLOOR_SMO2 = 0.10
#: Time constant of the venous blood trapped as the cuff inflates, s (assumption).
CUFF_TRAP_TAU_S = 3.0
#: Load at which the muscle pump of dynamic work squeezes out the full ``thb_drop``,
#: fraction of MVC (assumption; less at lighter loads, in proportion).
PUMP_FULL_MVC = 0.3
#: Load at which dynamic work raises mean tHb by the full ``work_thb_rise``, fraction of
#: MVC (Front. Physiol. 2014;5:190: Hbtot up from rest at 20 % MVC).
WORK_THB_FULL_MVC = 0.2
#: Sharpness of a contraction's on/off edges in the pump wave (assumption: on and off
#: within about a tenth of the cycle).
PUMP_EDGE_SHARPNESS = 5.0
#: Posture changes while sitting: per minute, their tHb step (fraction of rest, either
#: sign) and how long each lasts, s (assumptions: the arm lifted above or dropped below
#: the heart for a while changes the blood it holds hydrostatically).
POSTURE_RATE_PER_MIN = 2.0
POSTURE_THB_RANGE = (0.02, 0.08)
POSTURE_HOLD_RANGE_S = (5.0, 30.0)
POSTURE_TAU_S = 3.0
#: Heart rate falls back to rest with this time constant, s (assumption).
HR_RECOVERY_TAU_S = 15.0
#: Lowest and highest muscle SmO2 the equations may give, fraction.
SMO2_LIMITS = (0.02, 0.98)


def occlusion(mvc_fraction: float) -> float:
    """Fraction of inflow a load restricts, 0–1 (see :data:`OCCLUSION_MVC_SCALE`)."""
    return 1.0 - math.exp(-((mvc_fraction / OCCLUSION_MVC_SCALE) ** 2))


def bump(u: np.ndarray, tau_rise_s: float, tau_decay_s: float) -> np.ndarray:
    """Difference of exponentials, 0 at u = 0, peak 1 (``tau_rise_s < tau_decay_s``)."""
    t_peak = (
        math.log(tau_decay_s / tau_rise_s) * tau_rise_s * tau_decay_s / (tau_decay_s - tau_rise_s)
    )
    peak = math.exp(-t_peak / tau_decay_s) - math.exp(-t_peak / tau_rise_s)
    return (np.exp(-u / tau_decay_s) - np.exp(-u / tau_rise_s)) / peak


def pump_wave(u: np.ndarray) -> np.ndarray:
    """Contraction state of dynamic work, 0 (relaxed) to 1 (contracted), at ``u`` s into
    the phase: contracted for :data:`DYNAMIC_DUTY` of each :data:`DYNAMIC_CYCLE_S` from
    the start, smooth and periodic (a tanh of a shifted cosine)."""
    phase = np.asarray(u, dtype=float) / DYNAMIC_CYCLE_S
    c = np.cos(2.0 * math.pi * (phase - DYNAMIC_DUTY / 2.0)) - math.cos(math.pi * DYNAMIC_DUTY)
    return 0.5 * (1.0 + np.tanh(PUMP_EDGE_SHARPNESS * c))


def _with_inflow(s: np.ndarray, b: np.ndarray, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SmO2 and tHb after ``extra`` µM of arterial blood joins ``b`` µM at SmO2 ``s``."""
    total = b + extra
    return (s * b + ARTERIAL_HBO2_SHARE * extra) / total, total


def _postures(rng: np.random.Generator, u: np.ndarray, length: float, b0: float) -> np.ndarray:
    """tHb shifts of a sitting person moving the limb, µM, on ``u`` (s into the phase)."""
    out = np.zeros_like(u)
    for _ in range(rng.poisson(POSTURE_RATE_PER_MIN * length / 60.0)):
        start = rng.uniform(0.0, length)
        stay = rng.uniform(*POSTURE_HOLD_RANGE_S)
        step = b0 * rng.uniform(*POSTURE_THB_RANGE) * (1.0 if rng.random() < 0.5 else -1.0)
        on = 1.0 - np.exp(-np.clip(u - start, 0.0, None) / POSTURE_TAU_S)
        off = 1.0 - np.exp(-np.clip(u - start - stay, 0.0, None) / POSTURE_TAU_S)
        out += step * (on - off)
    return out


def hemodynamics(
    t_s: np.ndarray,
    seg_idx: np.ndarray,
    segments: list[Segment],
    m: MuscleParams,
    hr_rise: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Muscle-level SmO2, tHb, heart-rate factor and occlusion through a trial.

    Args:
        t_s: Sample times, s, shape (n,).
        seg_idx: Index into ``segments`` of each sample, shape (n,).
        segments: The trial's phases as they happened, contiguous.
        m: The muscle's parameters.
        hr_rise: Relative heart-rate rise by task failure.
        rng: Source of the posture changes of ``movement`` phases.

    Returns:
        SmO2 (fraction), tHb (µM), heart-rate factor (1 = rest) and the fraction of
        inflow occluded (0–1), each of shape (n,).
    """
    s0, b0 = m.rest_smo2, m.rest_thb_um
    smo2, thb = np.empty_like(t_s), np.empty_like(t_s)
    hr, occl = np.empty_like(t_s), np.zeros_like(t_s)
    s_a, b_a, hr_a, severity = s0, b0, 1.0, 0.0
    for i, seg in enumerate(segments):
        sel = seg_idx == i
        length = seg.end_s - seg.start_s
        # Evaluate on this segment's samples and at its end (to carry the state on).
        u = np.append(t_s[sel] - seg.start_s, length)
        rel = np.clip(u / seg.endurance_s, 0.0, 1.0)
        h = hr_a + (1.0 - hr_a) * (1.0 - np.exp(-u / HR_RECOVERY_TAU_S))
        o = np.zeros_like(u)
        if seg.kind in ("hold", "dynamic"):
            depth = occlusion(seg.mvc_fraction) / occlusion(0.5)
            s_target = max(s0 - (s0 - m.nadir_smo2) * depth, 0.05)
            tau_d = m.deox_tau_s * 0.5 / seg.mvc_fraction
            s = s_target + (s_a - s_target) * np.exp(-u / tau_d) - m.fatigue_desat * depth * rel
            h = hr_a + (1.0 + hr_rise * rel - hr_a) * (1.0 - np.exp(-u / THB_EXPULSION_TAU_S))
            if seg.kind == "hold":
                b_target = b0 * (1.0 - m.thb_drop * depth)
                b = b_target + (b_a - b_target) * np.exp(-u / THB_EXPULSION_TAU_S)
                b -= b0 * m.fatigue_thb * depth * rel
                early = (
                    b0
                    * m.early_hyper_thb
                    * bump(u, EARLY_HYPER_RISE_TAU_S, EARLY_HYPER_DECAY_TAU_S)
                )
                s, b = _with_inflow(s, b, early)
                o = occlusion(seg.mvc_fraction) * (1.0 - np.exp(-u / THB_EXPULSION_TAU_S))
            else:
                wave = pump_wave(u)
                squeeze = m.thb_drop * min(seg.mvc_fraction / PUMP_FULL_MVC, 1.0)
                rise = m.work_thb_rise * min(seg.mvc_fraction / WORK_THB_FULL_MVC, 1.0)
                b_target = b0 * (1.0 + rise)
                b = b_target + (b_a - b_target) * np.exp(-u / m.refill_tau_s)
                b -= b0 * squeeze * (wave - DYNAMIC_DUTY)
                o = occlusion(seg.mvc_fraction) * wave
            severity = float(np.clip((s0 - s[-1]) / (s0 - m.nadir_smo2), 0.0, 1.5))
        elif seg.kind == "occlusion":
            floor = min(OCCLUSION_FLOOR_SMO2, s_a)
            span = max(s_a - floor, 1e-6)
            s = floor + span * np.exp(-m.occlusion_desat_per_s * u / span)
            b = b_a + b0 * m.cuff_trap_thb * (1.0 - np.exp(-u / CUFF_TRAP_TAU_S))
            o = np.ones_like(u)
            severity = float(np.clip((s0 - s[-1]) / (s0 - m.nadir_smo2), 0.0, 1.5))
        else:  # baseline, rest, movement: back to rest, with the overshoot of what came before
            s = s0 + (s_a - s0) * np.exp(-u / m.reperfusion_tau_s)
            s += severity * m.hyper_smo2 * bump(u, m.reperfusion_tau_s, m.hyperaemia_tau_s)
            b = b0 + (b_a - b0) * np.exp(-u / m.refill_tau_s)
            b += severity * m.hyper_thb * b0 * bump(u, m.refill_tau_s, m.hyperaemia_tau_s)
            if seg.kind == "movement":
                b = b + _postures(rng, u, length, b0)
            severity = 0.0  # the overshoot now lives in the carried state
        smo2[sel], thb[sel], hr[sel], occl[sel] = s[:-1], b[:-1], h[:-1], o[:-1]
        s_a, b_a, hr_a = float(s[-1]), float(b[-1]), float(h[-1])
    return np.clip(smo2, *SMO2_LIMITS), thb, hr, occl
