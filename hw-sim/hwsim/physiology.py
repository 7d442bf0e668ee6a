"""Virtual subjects: muscle haemoglobin through an isometric hold, and what disturbs it.

:func:`draw_subject` draws a person; :func:`simulate_session` plays one trial of a
:class:`~hwsim.protocols.Protocol` on one side and returns a :class:`SessionTruth`:
absolute HbO2 and HHb (µM, what :class:`hwsim.optics.Tissue` takes), an optical
coupling factor (motion artefacts; pass it as ``led_drift``), ambient light,
the phase of each sample, the time of task failure and the participant's Borg
ratings. ``truth.tissue()``, ``truth.led_drift`` and ``truth.ambient`` are the
cheap scalar callables :func:`hwsim.board.build_board` wants::

    truth = simulate_session(subject, UPPER_LIMB, "left", rng)
    board = build_board(tissue=truth.tissue(), led_drift=truth.led_drift,
                        ambient_v=truth.ambient, dpf=truth.dpf)

The model, in the muscle under the probe (all of it simulated, none of it measured):

- **Rest.** SmO2 = HbO2 / (HbO2 + HHb) of 60–75 % and tHb of 60–130 µM.
- **Hold** at a fraction *m* of MVC. Intramuscular pressure restricts inflow
  (assumed near-complete at 50 % MVC, as the issue and seed 003 §3.2.1 figs. 6–7
  describe): tHb falls quickly as blood is squeezed out, SmO2 falls exponentially
  to a per-person nadir (HbO2 falls, HHb rises) and keeps sinking slowly as
  fatigue grows; the hold ends at the planned time or at task failure, when
  ``endurance_s`` at that load has elapsed (seed 003 §3.3.1.1: the 45° angle can
  no longer be kept).
- **Release.** Reactive hyperaemia: tHb refills in seconds and overshoots, SmO2
  climbs back with an overshoot, both settling over tens of seconds (the
  overshoot scales with how deep the desaturation went).
- **On top.** Cardiac pulsation (its rate rising during the hold, its amplitude
  damped by the occlusion), respiratory and Mayer-wave oscillations with
  wandering phase, and a slow drift.
- **The sensor's view.** Fat between skin and muscle dilutes what the sensor sees
  (partial volume): every concentration *change* is scaled by
  :attr:`MuscleParams.adipose_factor` (≤ 1). The subject's DPF differs from the
  device's assumed 4.0 (pass ``truth.dpf`` to the optics).
- **Probe.** Motion artefacts as a multiplicative coupling factor (short spikes and
  lasting baseline shifts, likelier during the hold and at its start and end);
  a few millivolts of slowly varying ambient light.

Sources, cited once here and beside each constant:

- Hamaoka T, McCully KK, Quaresima V, Yamamoto K, Chance B (2007), "Near-infrared
  spectroscopy/imaging for monitoring muscle oxygenation and oxidative metabolism
  in healthy and diseased humans", J. Biomed. Opt. 12:062105.
- Barstow TJ (2019), "Understanding near infrared spectroscopy and its application
  to skeletal muscle research", J. Appl. Physiol. 126:1360–1376 (seed ref. 13).
- Ferrari M, Muthalib M, Quaresima V (2011), "The use of near-infrared
  spectroscopy in understanding skeletal muscle physiology: recent developments",
  Phil. Trans. R. Soc. A 369:4577–4590; Ferrari & Quaresima's reviews generally.
- Frey-Law LA, Avin KG (2010), "Endurance time is joint-specific: a modelling and
  meta-analysis investigation", Ergonomics 53:109–129 (power-law intensity–
  endurance curves; elbow more fatigue-resistant than knee).
- Rohmert W (1960), the classic intensity–endurance curve (≈ 1 min at 50 % MVC).
- Julien C (2006), "The enigma of Mayer waves: facts and models", Cardiovasc. Res.
  70:12–21 (≈ 0.1 Hz in humans).
- Lind AR et al. (1964), "The circulatory effects of sustained voluntary muscle
  contraction", Clin. Sci. 27:229–244 (heart rate and pressure climb through a
  sustained contraction).

Figures marked *assumption* are this simulator's choices, picked to be plausible
and to exercise the device's processing, not fitted to data.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hwsim.borg import (
    DEFAULT_REPORT_INTERVAL_S,
    BorgProfile,
    BorgTrace,
    Segment,
    draw_borg_profile,
    simulate_borg,
)
from hwsim.optics import Tissue
from hwsim.protocols import LIMBS, Phase, Protocol

# --------------------------------------------------------------------------- constants

#: Default sampling rate of the truth grid, Hz (choice): its 25 Hz Nyquist limit is far
#: above the pulse's second harmonic (< 5 Hz), and the optics interpolate linearly
#: between samples.
DEFAULT_RATE_HZ = 50.0
#: Rate of the coarse grid on which slow random processes are drawn, Hz.
_SLOW_RATE_HZ = 1.0

#: Resting SmO2 range, fraction (uniform). The issue's 60–75 %, pulled in by one point
#: at each end so that drift and oscillations keep a baseline's mean inside it;
#: spatially resolved NIRS finds ~62–65 % mean resting TOI over the vastus lateralis
#: of young adults (Adv. Exp. Med. Biol. 2010;662:177–181), and reviews give resting
#: limb-muscle values in the 60–80 % region (Barstow 2019; Hamaoka et al. 2007).
REST_SMO2_RANGE = (0.61, 0.74)
#: Resting tHb, µM: median and clip range. Absolute muscle tHb by time-/frequency-
#: domain NIRS is of the order of 50–150 µM and lower under thicker fat (Hamaoka et
#: al. 2007; Barstow 2019); 90 µM matches hwsim.optics' defaults. Spread: assumption.
REST_THB_MEDIAN_UM = 90.0
REST_THB_LOG_SD = 0.15
REST_THB_RANGE_UM = (60.0, 130.0)

#: Adipose (skin + fat) thickness over the muscle, mm: median, log-SD, clip range.
#: Assumption, of the order of ultrasound values in young adults; thicker over the
#: vastus lateralis than over the biceps, and thicker in women (Adv. Exp. Med. Biol.
#: 2010;662:177–181 for the thigh).
ADIPOSE_MEDIAN_MM = {"upper": 4.0, "lower": 6.0}
ADIPOSE_LOG_SD = 0.45
ADIPOSE_RANGE_MM = (1.5, 20.0)
#: Adipose thickness at which the sensor sees half of a muscle change, mm, in
#: factor = 1 / (1 + (ATT / ATT_half)²). That sensitivity falls with fat thickness at a
#: 30 mm spacing is well established (reviewed by Hamaoka et al. 2007 and Barstow 2019;
#: fat-layer correction curves e.g. Niwayama et al. 2000); the form and the 10 mm are
#: assumptions.
ADIPOSE_HALF_SENSITIVITY_MM = 10.0

#: Subject DPF range (uniform). Adult limb-muscle DPF is about 4–5 near 800 nm
#: (Duncan et al. 1995, as tabulated in Ferrari's reviews); the issue asks 3.5–5;
#: the device assumes hwsim.optics.MUSCLE_DPF = 4.0.
DPF_RANGE = (3.5, 5.0)

#: Endurance at 50 % MVC, s: median per limb and log-SD. Rohmert's curve gives about a
#: minute at 50 % MVC; Frey-Law & Avin 2010 find elbow flexors more fatigue-resistant
#: than knee extensors and a wide spread between people. Medians and spread are
#: assumptions chosen so that somewhat more than half fail before the seed's 90 s.
ENDURANCE_50_MEDIAN_S = {"upper": 80.0, "lower": 70.0}
ENDURANCE_LOG_SD = 0.35
ENDURANCE_RANGE_S = (20.0, 300.0)
#: Endurance ∝ (load / 50 % MVC)^(−exponent): a power law, the family Frey-Law & Avin
#: 2010 found to fit best; the exponent is an assumption.
ENDURANCE_MVC_EXPONENT = 2.5
#: Trial-to-trial (and left/right) variation of endurance, log-SD (assumption).
TRIAL_ENDURANCE_LOG_SD = 0.10
#: Time constant for recovering the endurance spent in an earlier hold, s (assumption).
ENDURANCE_RECOVERY_TAU_S = 120.0

#: Muscle-level SmO2 nadir at 50 % MVC, fraction (uniform; assumption chosen so that a
#: typical subject seen through a typical fat layer reaches 20–40 %, the issue's figure,
#: in line with the deep desaturation of sustained occluding contractions in Hamaoka 2007).
NADIR_SMO2_RANGE = (0.15, 0.30)
#: Desaturation time constant at 50 % MVC, s (uniform; assumption: the nadir is reached
#: "within tens of seconds"). It shortens in proportion to the load (O2 use ∝ force).
DEOX_TAU_RANGE_S = (6.0, 15.0)
#: Fraction of resting tHb squeezed out at hold onset, and its time constant, s
#: (assumption; the onset fall of tHb in isometric holds, Ferrari et al. 2011).
THB_DROP_RANGE = (0.03, 0.12)
THB_EXPULSION_TAU_S = 2.0
#: Further SmO2 fall (fraction) and tHb fall (fraction of rest) by task failure, as more
#: motor units are recruited to keep the force (assumption; in line with seed 003
#: table 1, where HHb rises and ΔtHb falls with the fatigue level).
FATIGUE_DESAT_RANGE = (0.02, 0.06)
FATIGUE_THB_RANGE = (0.0, 0.05)
#: Reactive hyperaemia after release (uniform ranges; assumption, shaped after the
#: post-occlusive/post-contraction responses reviewed by Barstow 2019): SmO2
#: overshoot (fraction), tHb overshoot (fraction of rest), SmO2 reperfusion time
#: constant, tHb refill time constant and overshoot decay time constant, s.
HYPER_SMO2_RANGE = (0.03, 0.10)
HYPER_THB_RANGE = (0.05, 0.15)
REPERFUSION_TAU_RANGE_S = (4.0, 10.0)
REFILL_TAU_RANGE_S = (1.5, 4.0)
HYPERAEMIA_TAU_RANGE_S = (15.0, 40.0)
#: Load at which the occlusion reaches 63 % of complete, fraction of MVC, in
#: occlusion(m) = 1 − exp(−(m / m0)²) (assumption: flow is restricted progressively
#: and near-occluded by 50 % MVC, as the issue states).
OCCLUSION_MVC_SCALE = 0.3

#: Resting heart rate range, Hz (60–100 bpm; the issue's 1–1.7 Hz).
CARDIAC_HZ_RANGE = (1.0, 1.7)
#: Relative heart-rate rise by task failure (assumption of the order of the pressor
#: response to sustained contraction, Lind et al. 1964) and its fall-back, s.
HR_RISE_RANGE = (0.15, 0.35)
HR_RECOVERY_TAU_S = 15.0
#: Breathing rate range, Hz (12–18 breaths/min; the issue's 0.2–0.3 Hz).
RESP_HZ_RANGE = (0.2, 0.3)
#: Mayer-wave frequency range, Hz (about 0.1 Hz in humans, Julien 2006).
MAYER_HZ_RANGE = (0.08, 0.12)
#: Oscillation amplitudes (peak, muscle level), µM. Assumption: sub-µM to ~1 µM, small
#: against the tens of µM of the hold, as muscle NIRS traces show (Ferrari 2011).
CARDIAC_AMP_RANGE_UM = (0.2, 0.8)
RESP_AMP_RANGE_UM = (0.2, 0.8)
MAYER_AMP_RANGE_UM = (0.3, 1.2)
#: Share of each oscillation carried by HbO2 (rest by HHb). Cardiac: arterial blood
#: (SaO2 ≈ 97 %, reduced for mixing: 0.9, assumption); Mayer: mostly arterial
#: (0.75, assumption); respiratory: venous volume, so split at the current SmO2.
CARDIAC_HBO2_SHARE = 0.9
MAYER_HBO2_SHARE = 0.75
#: Cardiac pulse amplitude left at full occlusion, fraction (assumption).
PULSE_AT_OCCLUSION = 0.2
#: Second harmonic of the pulse wave, relative amplitude and phase, rad (assumption:
#: a steeper systolic upstroke than a sine).
PULSE_HARMONIC = (0.35, -0.8)
#: Phase wander of the oscillators, rad/√s (assumption: keeps spectral peaks narrow
#: but not lines).
PHASE_WANDER = {"cardiac": 0.03, "resp": 0.12, "mayer": 0.08}
#: Slow drift: standard deviation, µM, and correlation time, s (Ornstein–Uhlenbeck;
#: assumption).
DRIFT_SD_RANGE_UM = (0.3, 1.0)
DRIFT_TAU_RANGE_S = (30.0, 90.0)

#: Motion artefacts (all assumptions): spikes and baseline shifts per minute when
#: relaxed; multiplier of that rate during a hold; chance of an artefact as the load
#: is taken up or put down; spike width (Gaussian σ, s) and size (|ln coupling|);
#: shift rise time (s) and size (|ln coupling|).
SPIKE_RATE_RANGE_PER_MIN = (0.3, 2.0)
SHIFT_RATE_RANGE_PER_MIN = (0.05, 0.5)
HOLD_ARTEFACT_RATE_FACTOR = 3.0
TRANSITION_SPIKE_PROB = 0.6
TRANSITION_SHIFT_PROB = 0.3
SPIKE_WIDTH_RANGE_S = (0.05, 0.3)
SPIKE_SIZE_RANGE = (0.02, 0.15)
SHIFT_RISE_RANGE_S = (0.1, 1.0)
SHIFT_SIZE_RANGE = (0.01, 0.06)
#: Lowest coupling factor allowed (a probe half off the skin), fraction.
MIN_COUPLING = 0.2

#: Ambient light reaching the OPT101 under the housing, V: base level range, relative
#: slow variation (SD), its correlation time (s) and the change when the limb takes the
#: hold posture, V (all assumptions: a few mV against a ~1.5 V signal).
AMBIENT_BASE_RANGE_V = (0.002, 0.015)
AMBIENT_REL_SD = 0.2
AMBIENT_TAU_S = 20.0
AMBIENT_POSTURE_RANGE_V = (-0.001, 0.003)

#: The smallest concentration returned, µM (keeps the optics' logarithms finite).
MIN_CONCENTRATION_UM = 0.1


# ------------------------------------------------------------------------- the subject


def adipose_factor(adipose_mm: float) -> float:
    """Fraction of a muscle concentration change the sensor sees through a fat layer.

    ``1 / (1 + (adipose_mm / ADIPOSE_HALF_SENSITIVITY_MM)²)``; see the constant's
    comment for where the form comes from (an assumption).

    Args:
        adipose_mm: Skin + fat thickness, mm (≥ 0).

    Returns:
        Factor in (0, 1].
    """
    if not adipose_mm >= 0:
        raise ValueError(f"adipose_mm must be ≥ 0 mm, got {adipose_mm!r}")
    return 1.0 / (1.0 + (adipose_mm / ADIPOSE_HALF_SENSITIVITY_MM) ** 2)


@dataclass(frozen=True)
class MuscleParams:
    """One muscle of one person under the probe.

    Attributes:
        rest_hbo2_um: Resting HbO2, µM.
        rest_hhb_um: Resting HHb, µM.
        adipose_mm: Skin + fat thickness over the muscle, mm.
        dpf: Differential pathlength factor of this person's muscle.
        endurance_50_s: Time to task failure at 50 % MVC, s.
        nadir_smo2: Muscle SmO2 the hold tends to at 50 % MVC, fraction.
        deox_tau_s: Desaturation time constant at 50 % MVC, s.
        thb_drop: Fraction of resting tHb squeezed out at hold onset.
        fatigue_desat: Extra SmO2 fall by task failure, fraction.
        fatigue_thb: Extra tHb fall by task failure, fraction of rest.
        hyper_smo2: SmO2 overshoot after a full-depth hold, fraction.
        hyper_thb: tHb overshoot after a full-depth hold, fraction of rest.
        reperfusion_tau_s: SmO2 recovery time constant, s.
        refill_tau_s: tHb refill time constant, s.
        hyperaemia_tau_s: Overshoot decay time constant, s.
    """

    rest_hbo2_um: float
    rest_hhb_um: float
    adipose_mm: float
    dpf: float
    endurance_50_s: float
    nadir_smo2: float
    deox_tau_s: float
    thb_drop: float
    fatigue_desat: float
    fatigue_thb: float
    hyper_smo2: float
    hyper_thb: float
    reperfusion_tau_s: float
    refill_tau_s: float
    hyperaemia_tau_s: float

    def __post_init__(self) -> None:
        for name in ("rest_hbo2_um", "rest_hhb_um", "dpf", "endurance_50_s", "deox_tau_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.nadir_smo2 < self.rest_smo2:
            raise ValueError(
                f"nadir_smo2 must be in (0, rest SmO2 = {self.rest_smo2:.3f}), "
                f"got {self.nadir_smo2!r}"
            )
        for name in ("reperfusion_tau_s", "refill_tau_s"):
            if not 0 < getattr(self, name) < self.hyperaemia_tau_s:
                raise ValueError(
                    f"{name} must be > 0 and shorter than hyperaemia_tau_s "
                    f"({self.hyperaemia_tau_s} s), got {getattr(self, name)!r}"
                )

    @property
    def rest_thb_um(self) -> float:
        """Resting total haemoglobin, µM."""
        return self.rest_hbo2_um + self.rest_hhb_um

    @property
    def rest_smo2(self) -> float:
        """Resting SmO2, fraction."""
        return self.rest_hbo2_um / self.rest_thb_um

    @property
    def adipose_factor(self) -> float:
        """Fraction of muscle concentration changes the sensor sees (:func:`adipose_factor`)."""
        return adipose_factor(self.adipose_mm)

    def endurance_s(self, mvc_fraction: float) -> float:
        """Time to task failure at ``mvc_fraction`` of MVC, s (power law, see constants)."""
        if not 0 < mvc_fraction <= 1:
            raise ValueError(f"mvc_fraction must be in (0, 1], got {mvc_fraction!r}")
        return self.endurance_50_s * (mvc_fraction / 0.5) ** (-ENDURANCE_MVC_EXPONENT)


@dataclass(frozen=True)
class Subject:
    """A virtual participant.

    Attributes:
        subject_id: Label.
        upper: The biceps brachii under the probe.
        lower: The vastus lateralis under the probe.
        cardiac_hz: Resting heart rate, Hz.
        hr_rise: Relative heart-rate rise by task failure.
        resp_hz: Breathing rate, Hz.
        mayer_hz: Mayer-wave frequency, Hz.
        cardiac_amp_um: Cardiac pulsation amplitude (peak, muscle level), µM.
        resp_amp_um: Respiratory oscillation amplitude, µM.
        mayer_amp_um: Mayer-wave amplitude, µM.
        drift_sd_um: Slow drift standard deviation, µM.
        drift_tau_s: Slow drift correlation time, s.
        spike_rate_per_min: Motion spikes per minute when relaxed.
        shift_rate_per_min: Baseline shifts per minute when relaxed.
        ambient_base_v: Ambient light at the detector, V.
        borg: How this person rates exertion.
    """

    subject_id: str
    upper: MuscleParams
    lower: MuscleParams
    cardiac_hz: float
    hr_rise: float
    resp_hz: float
    mayer_hz: float
    cardiac_amp_um: float
    resp_amp_um: float
    mayer_amp_um: float
    drift_sd_um: float
    drift_tau_s: float
    spike_rate_per_min: float
    shift_rate_per_min: float
    ambient_base_v: float
    borg: BorgProfile

    def muscle(self, limb: str) -> MuscleParams:
        """The muscle a protocol on ``limb`` ("upper" or "lower") measures."""
        if limb not in LIMBS:
            raise ValueError(f"limb must be one of {LIMBS}, got {limb!r}")
        return self.upper if limb == "upper" else self.lower


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _lognormal(
    rng: np.random.Generator, median: float, log_sd: float, bounds: tuple[float, float]
) -> float:
    return float(np.clip(median * math.exp(rng.normal(0.0, log_sd)), *bounds))


def _draw_muscle(rng: np.random.Generator, limb: str) -> MuscleParams:
    smo2 = _uniform(rng, REST_SMO2_RANGE)
    thb = _lognormal(rng, REST_THB_MEDIAN_UM, REST_THB_LOG_SD, REST_THB_RANGE_UM)
    return MuscleParams(
        rest_hbo2_um=smo2 * thb,
        rest_hhb_um=(1.0 - smo2) * thb,
        adipose_mm=_lognormal(rng, ADIPOSE_MEDIAN_MM[limb], ADIPOSE_LOG_SD, ADIPOSE_RANGE_MM),
        dpf=_uniform(rng, DPF_RANGE),
        endurance_50_s=_lognormal(
            rng, ENDURANCE_50_MEDIAN_S[limb], ENDURANCE_LOG_SD, ENDURANCE_RANGE_S
        ),
        nadir_smo2=_uniform(rng, NADIR_SMO2_RANGE),
        deox_tau_s=_uniform(rng, DEOX_TAU_RANGE_S),
        thb_drop=_uniform(rng, THB_DROP_RANGE),
        fatigue_desat=_uniform(rng, FATIGUE_DESAT_RANGE),
        fatigue_thb=_uniform(rng, FATIGUE_THB_RANGE),
        hyper_smo2=_uniform(rng, HYPER_SMO2_RANGE),
        hyper_thb=_uniform(rng, HYPER_THB_RANGE),
        reperfusion_tau_s=_uniform(rng, REPERFUSION_TAU_RANGE_S),
        refill_tau_s=_uniform(rng, REFILL_TAU_RANGE_S),
        hyperaemia_tau_s=_uniform(rng, HYPERAEMIA_TAU_RANGE_S),
    )


def draw_subject(rng: np.random.Generator, subject_id: str | int) -> Subject:
    """Draw a virtual participant from the ranges above.

    The same generator state gives the same subject; use :func:`derive_rng` for a
    generator that depends only on a seed and the subject's id.

    Args:
        rng: Source of randomness (advanced by the draw).
        subject_id: Label stored in the subject.

    Returns:
        The subject.

    Raises:
        TypeError: If ``rng`` is not a ``numpy.random.Generator``.
    """
    _check_rng(rng)
    return Subject(
        subject_id=str(subject_id),
        upper=_draw_muscle(rng, "upper"),
        lower=_draw_muscle(rng, "lower"),
        cardiac_hz=_uniform(rng, CARDIAC_HZ_RANGE),
        hr_rise=_uniform(rng, HR_RISE_RANGE),
        resp_hz=_uniform(rng, RESP_HZ_RANGE),
        mayer_hz=_uniform(rng, MAYER_HZ_RANGE),
        cardiac_amp_um=_uniform(rng, CARDIAC_AMP_RANGE_UM),
        resp_amp_um=_uniform(rng, RESP_AMP_RANGE_UM),
        mayer_amp_um=_uniform(rng, MAYER_AMP_RANGE_UM),
        drift_sd_um=_uniform(rng, DRIFT_SD_RANGE_UM),
        drift_tau_s=_uniform(rng, DRIFT_TAU_RANGE_S),
        spike_rate_per_min=_uniform(rng, SPIKE_RATE_RANGE_PER_MIN),
        shift_rate_per_min=_uniform(rng, SHIFT_RATE_RANGE_PER_MIN),
        ambient_base_v=_uniform(rng, AMBIENT_BASE_RANGE_V),
        borg=draw_borg_profile(rng),
    )


def _mid(bounds: tuple[float, float]) -> float:
    return 0.5 * (bounds[0] + bounds[1])


def typical_subject(subject_id: str = "typical") -> Subject:
    """A subject with every parameter at the middle of its range (medians for log-normals).

    Useful for tests and examples: resting SmO2 67.5 %, tHb 90 µM, 4 mm of fat over
    the biceps, DPF 4.25, endurance 80 s (upper limb) at 50 % MVC.
    """

    def muscle(limb: str) -> MuscleParams:
        smo2, thb = _mid(REST_SMO2_RANGE), REST_THB_MEDIAN_UM
        return MuscleParams(
            rest_hbo2_um=smo2 * thb,
            rest_hhb_um=(1.0 - smo2) * thb,
            adipose_mm=ADIPOSE_MEDIAN_MM[limb],
            dpf=_mid(DPF_RANGE),
            endurance_50_s=ENDURANCE_50_MEDIAN_S[limb],
            nadir_smo2=_mid(NADIR_SMO2_RANGE),
            deox_tau_s=_mid(DEOX_TAU_RANGE_S),
            thb_drop=_mid(THB_DROP_RANGE),
            fatigue_desat=_mid(FATIGUE_DESAT_RANGE),
            fatigue_thb=_mid(FATIGUE_THB_RANGE),
            hyper_smo2=_mid(HYPER_SMO2_RANGE),
            hyper_thb=_mid(HYPER_THB_RANGE),
            reperfusion_tau_s=_mid(REPERFUSION_TAU_RANGE_S),
            refill_tau_s=_mid(REFILL_TAU_RANGE_S),
            hyperaemia_tau_s=_mid(HYPERAEMIA_TAU_RANGE_S),
        )

    return Subject(
        subject_id=subject_id,
        upper=muscle("upper"),
        lower=muscle("lower"),
        cardiac_hz=_mid(CARDIAC_HZ_RANGE),
        hr_rise=_mid(HR_RISE_RANGE),
        resp_hz=_mid(RESP_HZ_RANGE),
        mayer_hz=_mid(MAYER_HZ_RANGE),
        cardiac_amp_um=_mid(CARDIAC_AMP_RANGE_UM),
        resp_amp_um=_mid(RESP_AMP_RANGE_UM),
        mayer_amp_um=_mid(MAYER_AMP_RANGE_UM),
        drift_sd_um=_mid(DRIFT_SD_RANGE_UM),
        drift_tau_s=_mid(DRIFT_TAU_RANGE_S),
        spike_rate_per_min=_mid(SPIKE_RATE_RANGE_PER_MIN),
        shift_rate_per_min=_mid(SHIFT_RATE_RANGE_PER_MIN),
        ambient_base_v=_mid(AMBIENT_BASE_RANGE_V),
        borg=BorgProfile(
            onset=3.0,
            at_failure=9.5,
            curvature=1.0,
            noise_sd=0.4,
            rest_level=0.3,
            recovery_tau_s=14.0,
        ),
    )


def derive_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (e.g. subject id, side).

    Keys are hashed with CRC-32 (stable across runs, unlike ``hash``), so sessions can
    be generated in any order or in parallel and still come out the same.
    """
    words = [int(seed)] + [zlib.crc32(str(k).encode("utf-8")) for k in keys]
    return np.random.default_rng(words)


def _check_rng(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )


# ------------------------------------------------------------------------- the session


def _scalar_interp(values: np.ndarray, rate_hz: float, start_s: float) -> Callable[[float], float]:
    """O(1) linear interpolation on a regular grid for a scalar time, clamped at the ends.

    Plain Python floats and index arithmetic: no numpy per call (the optics evaluate
    these a few thousand times per simulated second).
    """
    values = np.asarray(values, dtype=float)
    v = values.tolist()
    slope = [*np.diff(values).tolist(), 0.0]
    last = len(v) - 1
    first_v, last_v = v[0], v[-1]

    def at(t_s: float) -> float:
        x = (t_s - start_s) * rate_hz
        if x <= 0.0:
            return first_v
        i = int(x)
        if i >= last:
            return last_v
        return v[i] + (x - i) * slope[i]

    return at


@dataclass(frozen=True, eq=False)
class SessionTruth:
    """What really happened in one simulated trial, on a regular time grid.

    Attributes:
        subject: The participant.
        protocol: The protocol played.
        side: The side measured.
        rate_hz: Grid rate, Hz.
        t_s: Sample times, s, from 0 (trial start) at ``1 / rate_hz``.
        hbo2_um: Absolute HbO2 the sensor sees, µM.
        hhb_um: Absolute HHb the sensor sees, µM.
        coupling: Relative optical coupling (1 = as at the start; motion artefacts).
        ambient_v: Ambient light at the detector, V.
        phase: Index into :attr:`phases` of each sample.
        phases: The phases as they happened (a failed hold shortened to its endurance).
        phase_start_s: Start of each of :attr:`phases`, s.
        endurance_s: Time to task failure in each hold of this trial, s.
        task_failure_s: Trial time at which a hold failed, s; None if every hold lasted.
        borg: The participant's Borg CR10 reports.
        led_drift: Coupling factor at trial time ``t_s`` (a plain callable, O(1) linear
            interpolation, clamped at the ends): ``OpticalFrontEnd(led_drift=...)``.
        ambient: Ambient light at trial time ``t_s``, V (same kind of callable):
            ``OpticalFrontEnd(ambient_v=...)``.
    """

    subject: Subject
    protocol: Protocol
    side: str
    rate_hz: float
    t_s: np.ndarray
    hbo2_um: np.ndarray
    hhb_um: np.ndarray
    coupling: np.ndarray
    ambient_v: np.ndarray
    phase: np.ndarray
    phases: tuple[Phase, ...]
    phase_start_s: tuple[float, ...]
    endurance_s: tuple[float, ...]
    task_failure_s: float | None
    borg: BorgTrace
    led_drift: Callable[[float], float] = field(init=False, repr=False)
    ambient: Callable[[float], float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("t_s", "hbo2_um", "hhb_um", "coupling", "ambient_v", "phase"):
            getattr(self, name).flags.writeable = False  # the truth is not to be edited
        object.__setattr__(self, "led_drift", self.led_drift_fn())
        object.__setattr__(self, "ambient", self.ambient_fn())

    @property
    def duration_s(self) -> float:
        """Length of the trial as it happened, s."""
        return self.phase_start_s[-1] + self.phases[-1].duration_s

    @property
    def thb_um(self) -> np.ndarray:
        """Total haemoglobin the sensor sees, µM."""
        return self.hbo2_um + self.hhb_um

    @property
    def smo2(self) -> np.ndarray:
        """SmO2 = HbO2 / tHb as the sensor sees it, fraction."""
        return self.hbo2_um / self.thb_um

    @property
    def phase_kind(self) -> np.ndarray:
        """Kind ("baseline", "hold", "rest") of each sample."""
        return np.asarray([p.kind for p in self.phases])[self.phase]

    @property
    def muscle(self) -> MuscleParams:
        """The measured muscle's parameters."""
        return self.subject.muscle(self.protocol.limb)

    @property
    def dpf(self) -> float:
        """The subject's DPF for this muscle (pass to ``build_board(dpf=...)``)."""
        return self.muscle.dpf

    def tissue(self, *, start_s: float = 0.0) -> Tissue:
        """The concentrations as :class:`hwsim.optics.Tissue` callables.

        Args:
            start_s: Simulated-clock time at which the trial starts, s.
        """
        return Tissue(
            hbo2_um=_scalar_interp(self.hbo2_um, self.rate_hz, start_s),
            hhb_um=_scalar_interp(self.hhb_um, self.rate_hz, start_s),
        )

    def led_drift_fn(self, *, start_s: float = 0.0) -> Callable[[float], float]:
        """Coupling factor as ``f(t_s) -> factor`` for ``OpticalFrontEnd(led_drift=...)``."""
        return _scalar_interp(self.coupling, self.rate_hz, start_s)

    def ambient_fn(self, *, start_s: float = 0.0) -> Callable[[float], float]:
        """Ambient light as ``f(t_s) -> V`` for ``OpticalFrontEnd(ambient_v=...)``."""
        return _scalar_interp(self.ambient_v, self.rate_hz, start_s)


def _occlusion(mvc_fraction: float) -> float:
    """Fraction of inflow restricted at a load (assumption, see OCCLUSION_MVC_SCALE)."""
    return 1.0 - math.exp(-((mvc_fraction / OCCLUSION_MVC_SCALE) ** 2))


def _bump(u: np.ndarray, tau_rise_s: float, tau_decay_s: float) -> np.ndarray:
    """Difference of exponentials, 0 at u = 0, peak 1 (tau_rise_s < tau_decay_s)."""
    t_peak = (
        math.log(tau_decay_s / tau_rise_s) * tau_rise_s * tau_decay_s / (tau_decay_s - tau_rise_s)
    )
    peak = math.exp(-t_peak / tau_decay_s) - math.exp(-t_peak / tau_rise_s)
    return (np.exp(-u / tau_decay_s) - np.exp(-u / tau_rise_s)) / peak


def _ou(rng: np.random.Generator, n: int, sd: float, tau_s: float, rate_hz: float) -> np.ndarray:
    """Ornstein–Uhlenbeck process from 0, standard deviation ``sd`` once settled."""
    a = math.exp(-1.0 / (tau_s * rate_hz))
    kicks = rng.normal(0.0, sd * math.sqrt(1.0 - a * a), n)
    out = np.empty(n)
    x = 0.0
    for i in range(n):
        x = a * x + kicks[i]
        out[i] = x
    return out


def _slow(rng: np.random.Generator, t_s: np.ndarray, sd: float, tau_s: float) -> np.ndarray:
    """An OU process drawn at 1 Hz and interpolated onto ``t_s``, starting at 0."""
    n = int(math.ceil(t_s[-1] * _SLOW_RATE_HZ)) + 2
    coarse_t = np.arange(n) / _SLOW_RATE_HZ
    coarse = _ou(rng, n, sd, tau_s, _SLOW_RATE_HZ)
    coarse[0] = 0.0
    return np.interp(t_s, coarse_t, coarse)


def _wander(rng: np.random.Generator, t_s: np.ndarray, rad_per_sqrt_s: float) -> np.ndarray:
    """A random-walk phase, rad, drawn at 1 Hz and interpolated onto ``t_s``."""
    n = int(math.ceil(t_s[-1] * _SLOW_RATE_HZ)) + 2
    steps = rng.normal(0.0, rad_per_sqrt_s / math.sqrt(_SLOW_RATE_HZ), n)
    steps[0] = 0.0
    return np.interp(t_s, np.arange(n) / _SLOW_RATE_HZ, np.cumsum(steps))


def _plan_segments(
    protocol: Protocol, muscle: MuscleParams, rng: np.random.Generator
) -> tuple[list[Segment], float | None]:
    """The trial's phases as they happen: holds end at task failure if it comes first."""
    trial_factor = math.exp(rng.normal(0.0, TRIAL_ENDURANCE_LOG_SD))
    segments: list[Segment] = []
    failure_s: float | None = None
    spent = 0.0  # fraction of endurance used and not yet recovered
    t = 0.0
    for phase in protocol.phases:
        if phase.kind == "hold":
            endurance = muscle.endurance_s(phase.mvc_fraction) * trial_factor
            endurance *= max(1.0 - spent, 0.05)
            length = min(phase.duration_s, endurance)
            if endurance < phase.duration_s and failure_s is None:
                failure_s = t + endurance
            spent = min(spent + length / endurance * (1.0 - spent), 1.0)
            segments.append(Segment("hold", t, t + length, phase.mvc_fraction, endurance))
        else:
            length = phase.duration_s
            spent *= math.exp(-length / ENDURANCE_RECOVERY_TAU_S)
            segments.append(Segment(phase.kind, t, t + length))
        t += length
    return segments, failure_s


def _hemodynamics(
    t_s: np.ndarray, seg_idx: np.ndarray, segments: list[Segment], m: MuscleParams, hr_rise: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Muscle-level SmO2 (fraction), tHb (µM), heart-rate factor and occlusion per sample."""
    s0, b0 = m.rest_smo2, m.rest_thb_um
    smo2 = np.empty_like(t_s)
    thb = np.empty_like(t_s)
    hr = np.empty_like(t_s)
    occl = np.zeros_like(t_s)
    s_a, b_a, hr_a, severity = s0, b0, 1.0, 0.0
    for i, seg in enumerate(segments):
        sel = seg_idx == i
        length = seg.end_s - seg.start_s
        # Evaluate on this segment's samples and at its end (to carry the state on).
        u = np.append(t_s[sel] - seg.start_s, length)
        if seg.kind == "hold":
            depth = _occlusion(seg.mvc_fraction) / _occlusion(0.5)
            s_target = max(s0 - (s0 - m.nadir_smo2) * depth, 0.05)
            tau_d = m.deox_tau_s * 0.5 / seg.mvc_fraction
            rel = np.clip(u / seg.endurance_s, 0.0, 1.0)
            s = s_target + (s_a - s_target) * np.exp(-u / tau_d) - m.fatigue_desat * depth * rel
            b_target = b0 * (1.0 - m.thb_drop * depth)
            b = b_target + (b_a - b_target) * np.exp(-u / THB_EXPULSION_TAU_S)
            b -= b0 * m.fatigue_thb * depth * rel
            h = hr_a + (1.0 + hr_rise * rel - hr_a) * (1.0 - np.exp(-u / THB_EXPULSION_TAU_S))
            o = _occlusion(seg.mvc_fraction) * (1.0 - np.exp(-u / THB_EXPULSION_TAU_S))
            severity = float(np.clip((s0 - s[-1]) / (s0 - m.nadir_smo2), 0.0, 1.5))
        else:
            s = s0 + (s_a - s0) * np.exp(-u / m.reperfusion_tau_s)
            s += severity * m.hyper_smo2 * _bump(u, m.reperfusion_tau_s, m.hyperaemia_tau_s)
            b = b0 + (b_a - b0) * np.exp(-u / m.refill_tau_s)
            b += severity * m.hyper_thb * b0 * _bump(u, m.refill_tau_s, m.hyperaemia_tau_s)
            h = 1.0 + (hr_a - 1.0) * np.exp(-u / HR_RECOVERY_TAU_S)
            o = np.zeros_like(u)
            severity = 0.0  # the overshoot now lives in the carried state
        smo2[sel], thb[sel], hr[sel], occl[sel] = s[:-1], b[:-1], h[:-1], o[:-1]
        s_a, b_a, hr_a = float(s[-1]), float(b[-1]), float(h[-1])
    return np.clip(smo2, 0.02, 0.98), thb, hr, occl


def _artefacts(
    rng: np.random.Generator,
    t_s: np.ndarray,
    segments: list[Segment],
    subject: Subject,
) -> np.ndarray:
    """Coupling factor: exp(sum of Gaussian spikes and logistic baseline shifts)."""
    log_c = np.zeros_like(t_s)
    spikes: list[float] = []
    shifts: list[float] = []
    for seg in segments:
        factor = HOLD_ARTEFACT_RATE_FACTOR if seg.kind == "hold" else 1.0
        minutes = (seg.end_s - seg.start_s) / 60.0
        for rate, times in (
            (subject.spike_rate_per_min, spikes),
            (subject.shift_rate_per_min, shifts),
        ):
            count = rng.poisson(rate * factor * minutes)
            times.extend(rng.uniform(seg.start_s, seg.end_s, count).tolist())
        if seg.kind == "hold":
            for edge in (seg.start_s, seg.end_s):
                if rng.random() < TRANSITION_SPIKE_PROB:
                    spikes.append(edge + float(rng.uniform(-0.3, 0.5)))
                if rng.random() < TRANSITION_SHIFT_PROB:
                    shifts.append(edge + float(rng.uniform(0.0, 1.0)))
    for t0 in spikes:
        width = _uniform(rng, SPIKE_WIDTH_RANGE_S)
        size = _uniform(rng, SPIKE_SIZE_RANGE) * (1.0 if rng.random() < 0.5 else -1.0)
        near = np.abs(t_s - t0) < 6.0 * width
        log_c[near] += size * np.exp(-0.5 * ((t_s[near] - t0) / width) ** 2)
    for t0 in shifts:
        rise = _uniform(rng, SHIFT_RISE_RANGE_S)
        size = _uniform(rng, SHIFT_SIZE_RANGE) * (1.0 if rng.random() < 0.5 else -1.0)
        z = np.clip((t_s - t0) / (rise / 4.0), -50.0, 50.0)  # 10–90 % in ≈ rise
        log_c += size / (1.0 + np.exp(-z))
    return np.maximum(np.exp(log_c), MIN_COUPLING)


def simulate_session(
    subject: Subject,
    protocol: Protocol,
    side: str,
    rng: np.random.Generator,
    *,
    rate_hz: float = DEFAULT_RATE_HZ,
    report_interval_s: float = DEFAULT_REPORT_INTERVAL_S,
) -> SessionTruth:
    """Play one trial of ``protocol`` on ``side`` for ``subject``.

    Args:
        subject: The participant.
        protocol: The protocol; its limb picks the muscle.
        side: One of ``protocol.sides``.
        rng: Source of randomness (trial variation, oscillator phases, drift,
            artefacts, rating noise); the same generator state gives identical arrays.
        rate_hz: Rate of the returned grid, Hz (≥ 10, to keep the cardiac pulse).
        report_interval_s: Seconds between Borg reports.

    Returns:
        The trial's truth (see :class:`SessionTruth`).

    Raises:
        TypeError: If ``rng`` is not a ``numpy.random.Generator``.
        ValueError: On an unknown side or a rate below 10 Hz.
    """
    _check_rng(rng)
    protocol.check_side(side)
    if not rate_hz >= 10.0 or not math.isfinite(rate_hz):
        raise ValueError(f"rate_hz must be a finite number ≥ 10 Hz, got {rate_hz!r}")
    m = subject.muscle(protocol.limb)

    segments, failure_s = _plan_segments(protocol, m, rng)
    end_s = segments[-1].end_s
    t_s = np.arange(int(math.floor(end_s * rate_hz + 1e-9)) + 1) / rate_hz
    starts = np.asarray([s.start_s for s in segments])
    seg_idx = np.clip(np.searchsorted(starts, t_s, side="right") - 1, 0, len(segments) - 1)

    smo2, thb, hr, occl = _hemodynamics(t_s, seg_idx, segments, m, subject.hr_rise)
    hbo2 = smo2 * thb
    hhb = (1.0 - smo2) * thb

    # Oscillations, muscle level (see the constants for shares and amplitudes).
    theta_c = 2.0 * math.pi * subject.cardiac_hz * np.cumsum(hr) / rate_hz
    theta_c += rng.uniform(0.0, 2.0 * math.pi) + _wander(rng, t_s, PHASE_WANDER["cardiac"])
    h_amp, h_phase = PULSE_HARMONIC
    pulse = (np.sin(theta_c) + h_amp * np.sin(2.0 * theta_c + h_phase)) / (1.0 + h_amp)
    pulse *= subject.cardiac_amp_um * (1.0 - (1.0 - PULSE_AT_OCCLUSION) * occl)
    theta_r = 2.0 * math.pi * subject.resp_hz * t_s + rng.uniform(0.0, 2.0 * math.pi)
    resp = subject.resp_amp_um * np.sin(theta_r + _wander(rng, t_s, PHASE_WANDER["resp"]))
    theta_m = 2.0 * math.pi * subject.mayer_hz * t_s + rng.uniform(0.0, 2.0 * math.pi)
    mayer = subject.mayer_amp_um * np.sin(theta_m + _wander(rng, t_s, PHASE_WANDER["mayer"]))
    hbo2 += CARDIAC_HBO2_SHARE * pulse + smo2 * resp + MAYER_HBO2_SHARE * mayer
    hhb += (1 - CARDIAC_HBO2_SHARE) * pulse + (1 - smo2) * resp + (1 - MAYER_HBO2_SHARE) * mayer

    # Slow drift: a blood-volume part split at resting SmO2 and an oxygenation part.
    volume = _slow(rng, t_s, subject.drift_sd_um, subject.drift_tau_s)
    oxy = _slow(rng, t_s, subject.drift_sd_um, subject.drift_tau_s)
    hbo2 += m.rest_smo2 * volume + oxy
    hhb += (1.0 - m.rest_smo2) * volume - oxy

    # What the sensor sees: resting values plus the muscle's changes, diluted by fat.
    f = m.adipose_factor
    hbo2_seen = np.maximum(m.rest_hbo2_um + f * (hbo2 - m.rest_hbo2_um), MIN_CONCENTRATION_UM)
    hhb_seen = np.maximum(m.rest_hhb_um + f * (hhb - m.rest_hhb_um), MIN_CONCENTRATION_UM)

    coupling = _artefacts(rng, t_s, segments, subject)

    ambient = subject.ambient_base_v * (1.0 + _slow(rng, t_s, AMBIENT_REL_SD, AMBIENT_TAU_S))
    posture_v = _uniform(rng, AMBIENT_POSTURE_RANGE_V)
    for seg in segments:
        if seg.kind == "hold":
            ramp_on = np.clip(t_s - seg.start_s, 0.0, 1.0)
            ramp_off = np.clip(t_s - seg.end_s, 0.0, 1.0)
            ambient += posture_v * (ramp_on - ramp_off)
    ambient = np.maximum(ambient, 0.0)

    borg = simulate_borg(segments, subject.borg, rng, report_interval_s=report_interval_s)

    phases = tuple(
        dataclasses.replace(p, duration_s=s.end_s - s.start_s)
        for p, s in zip(protocol.phases, segments)
    )
    return SessionTruth(
        subject=subject,
        protocol=protocol,
        side=side,
        rate_hz=float(rate_hz),
        t_s=t_s,
        hbo2_um=hbo2_seen,
        hhb_um=hhb_seen,
        coupling=coupling,
        ambient_v=ambient,
        phase=seg_idx.astype(np.int64),
        phases=phases,
        phase_start_s=tuple(s.start_s for s in segments),
        endurance_s=tuple(s.endurance_s for s in segments if s.kind == "hold"),
        task_failure_s=failure_s,
        borg=borg,
    )
