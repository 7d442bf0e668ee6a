"""What disturbs the sensor rather than the muscle: motion artefacts, dropouts, ambient light.

:func:`probe_view` draws, for one trial, the optical coupling factor (1 = as at the
start; :class:`hwsim.optics.OpticalFrontEnd` multiplies the light reaching the
photodiode by it) and the ambient light at the detector, V. Four things, by phase kind
(:data:`hwsim.protocols.PHASE_KINDS`):

- **Spikes and baseline shifts**: short Gaussian spikes and lasting logistic steps of
  the coupling, likelier during a hold and at its start and end (the person's rates are
  :class:`hwsim.physiology.Subject` fields).
- **Motion excursions**: the probe pressed or rocked for 1–10 s, the coupling off by
  10–45 %, far likelier while moving or working than while still, and in some people
  than in others (:attr:`hwsim.physiology.Subject.motion_factor`). Real exports hold
  large motion excursions (issue 19; "large step changes in the baselines" with
  movement in all-night NIRS, Virtanen et al. 2011, J. Biomed. Opt. 16:087005).
- **Dropouts**: 1–12 s in which the probe loses the skin (issue 19's figure from real
  exports): the LEDs' light is nearly gone and room light leaks in.
- **Ambient light** under the housing: a few mV, varying slowly, stepping when the limb
  takes the hold's posture.

Sizes and rates are *assumptions* of this simulator unless cited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hwsim.borg import Segment
    from hwsim.physiology import Subject

#: Rate of the coarse grid on which slow random processes are drawn, Hz.
SLOW_RATE_HZ = 1.0

#: Spikes and shifts (assumptions): per minute when relaxed (the subject's rates are
#: drawn from these); multiplier of that rate during a hold; chance of an artefact as
#: the load is taken up or put down; spike width (Gaussian σ, s) and size (|ln
#: coupling|); shift rise time (s) and size (|ln coupling|).
SPIKE_RATE_RANGE_PER_MIN = (0.3, 2.0)
SHIFT_RATE_RANGE_PER_MIN = (0.05, 0.5)
HOLD_ARTEFACT_RATE_FACTOR = 3.0
TRANSITION_SPIKE_PROB = 0.6
TRANSITION_SHIFT_PROB = 0.3
SPIKE_WIDTH_RANGE_S = (0.05, 0.3)
SPIKE_SIZE_RANGE = (0.02, 0.15)
SHIFT_RISE_RANGE_S = (0.1, 1.0)
SHIFT_SIZE_RANGE = (0.01, 0.06)
#: Lowest coupling factor outside a dropout (a probe half off the skin), fraction.
MIN_COUPLING = 0.2

#: How much more or less than typical a person moves the probe: a multiplier of the
#: excursion and dropout rates, drawn per person (assumption: a loose strap, a restless
#: sitter).
MOTION_FACTOR_RANGE = (0.3, 2.0)
#: Motion excursions per minute by phase kind (assumption), their length, s, and size,
#: |ln coupling| (0.1–0.6: 10–45 % of the light), assumptions.
EXCURSION_RATE_PER_MIN = {"movement": 2.0, "dynamic": 1.0, "hold": 0.3}
EXCURSION_RATE_STILL_PER_MIN = 0.1
EXCURSION_LENGTH_RANGE_S = (1.0, 10.0)
EXCURSION_SIZE_RANGE = (0.1, 0.6)
#: Dropouts per minute by phase kind (assumption), their length, s (issue 19: 1–12 s in
#: real exports), the coupling left while the probe is off the skin and the room light
#: that leaks in, V (assumptions).
DROPOUT_RATE_PER_MIN = {"movement": 0.5, "dynamic": 0.2}
DROPOUT_RATE_STILL_PER_MIN = 0.02
DROPOUT_LENGTH_RANGE_S = (1.0, 12.0)
DROPOUT_COUPLING = 0.02
DROPOUT_AMBIENT_RANGE_V = (0.05, 0.4)
#: Edges of an excursion or dropout, s (10–90 % in about this long; assumption).
EDGE_S = 0.2

#: Ambient light reaching the OPT101 under the housing, V: base level range, relative
#: slow variation (SD), its correlation time (s) and the change when the limb takes the
#: hold posture, V (all assumptions: a few mV against a ~1.5 V signal).
AMBIENT_BASE_RANGE_V = (0.002, 0.015)
AMBIENT_REL_SD = 0.2
AMBIENT_TAU_S = 20.0
AMBIENT_POSTURE_RANGE_V = (-0.001, 0.003)


def ou(rng: np.random.Generator, n: int, sd: float, tau_s: float, rate_hz: float) -> np.ndarray:
    """Ornstein–Uhlenbeck process from 0, standard deviation ``sd`` once settled."""
    a = np.exp(-1.0 / (tau_s * rate_hz))
    kicks = rng.normal(0.0, sd * np.sqrt(1.0 - a * a), n)
    out = np.empty(n)
    x = 0.0
    for i in range(n):
        x = a * x + kicks[i]
        out[i] = x
    return out


def slow(rng: np.random.Generator, t_s: np.ndarray, sd: float, tau_s: float) -> np.ndarray:
    """An OU process drawn at :data:`SLOW_RATE_HZ` and interpolated onto ``t_s``, from 0."""
    n = int(np.ceil(t_s[-1] * SLOW_RATE_HZ)) + 2
    coarse = ou(rng, n, sd, tau_s, SLOW_RATE_HZ)
    coarse[0] = 0.0
    return np.interp(t_s, np.arange(n) / SLOW_RATE_HZ, coarse)


def _box(t_s: np.ndarray, start: float, length: float) -> np.ndarray:
    """1 between ``start`` and ``start + length`` s, 0 outside, logistic edges."""
    k = 4.0 / EDGE_S
    up = np.clip(k * (t_s - start), -50.0, 50.0)
    down = np.clip(k * (t_s - start - length), -50.0, 50.0)
    return 1.0 / (1.0 + np.exp(-up)) - 1.0 / (1.0 + np.exp(-down))


def _events(
    rng: np.random.Generator,
    segments: list[Segment],
    rates: dict[str, float],
    still: float,
    factor: float,
) -> list[float]:
    """Poisson event times through the trial at the rate of each segment's kind × factor."""
    times: list[float] = []
    for seg in segments:
        rate = rates.get(seg.kind, still) * factor
        count = rng.poisson(rate * (seg.end_s - seg.start_s) / 60.0)
        times.extend(rng.uniform(seg.start_s, seg.end_s, count).tolist())
    return times


def _spikes_and_shifts(
    rng: np.random.Generator, t_s: np.ndarray, segments: list[Segment], subject: Subject
) -> np.ndarray:
    """ln coupling of the spikes and baseline shifts."""
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
        width = rng.uniform(*SPIKE_WIDTH_RANGE_S)
        size = rng.uniform(*SPIKE_SIZE_RANGE) * (1.0 if rng.random() < 0.5 else -1.0)
        near = np.abs(t_s - t0) < 6.0 * width
        log_c[near] += size * np.exp(-0.5 * ((t_s[near] - t0) / width) ** 2)
    for t0 in shifts:
        rise = rng.uniform(*SHIFT_RISE_RANGE_S)
        size = rng.uniform(*SHIFT_SIZE_RANGE) * (1.0 if rng.random() < 0.5 else -1.0)
        z = np.clip((t_s - t0) / (rise / 4.0), -50.0, 50.0)  # 10–90 % in ≈ rise
        log_c += size / (1.0 + np.exp(-z))
    return log_c


def probe_view(
    rng: np.random.Generator, t_s: np.ndarray, segments: list[Segment], subject: Subject
) -> tuple[np.ndarray, np.ndarray]:
    """The coupling factor and the ambient light of one trial (module docstring).

    Args:
        rng: Source of randomness.
        t_s: Sample times, s, shape (n,).
        segments: The trial's phases as they happened.
        subject: The participant (spike/shift rates, motion factor, ambient level).

    Returns:
        Coupling factor (> 0; ≥ :data:`MIN_COUPLING` outside dropouts) and ambient light
        at the detector (V, ≥ 0), each of shape (n,).
    """
    log_c = _spikes_and_shifts(rng, t_s, segments, subject)
    motion = subject.motion_factor
    for t0 in _events(rng, segments, EXCURSION_RATE_PER_MIN, EXCURSION_RATE_STILL_PER_MIN, motion):
        size = rng.uniform(*EXCURSION_SIZE_RANGE) * (1.0 if rng.random() < 0.5 else -1.0)
        log_c += size * _box(t_s, t0, rng.uniform(*EXCURSION_LENGTH_RANGE_S))
    coupling = np.maximum(np.exp(log_c), MIN_COUPLING)

    ambient = subject.ambient_base_v * (1.0 + slow(rng, t_s, AMBIENT_REL_SD, AMBIENT_TAU_S))
    posture_v = rng.uniform(*AMBIENT_POSTURE_RANGE_V)
    for seg in segments:
        if seg.kind == "hold":
            ramp_on = np.clip(t_s - seg.start_s, 0.0, 1.0)
            ramp_off = np.clip(t_s - seg.end_s, 0.0, 1.0)
            ambient += posture_v * (ramp_on - ramp_off)

    for t0 in _events(rng, segments, DROPOUT_RATE_PER_MIN, DROPOUT_RATE_STILL_PER_MIN, motion):
        off = _box(t_s, t0, rng.uniform(*DROPOUT_LENGTH_RANGE_S))
        coupling = coupling * (1.0 - off) + DROPOUT_COUPLING * off
        ambient = ambient + rng.uniform(*DROPOUT_AMBIENT_RANGE_V) * off
    return coupling, np.maximum(ambient, 0.0)
