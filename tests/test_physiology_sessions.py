"""Issue 19's simulated muscle: the contraction signature, the sessions that are not
fatigue (cuff occlusion, quiet sitting, light work), motion excursions and dropouts.

All SIMULATED: these tests pin what the simulator claims to model (hwsim.hemodynamics,
hwsim.artefacts), not any human recording.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hwsim.artefacts import (
    DROPOUT_AMBIENT_RANGE_V,
    DROPOUT_COUPLING,
    DROPOUT_LENGTH_RANGE_S,
    MIN_COUPLING,
)
from hwsim.hemodynamics import pump_wave
from hwsim.physiology import derive_rng, draw_subject, simulate_session, typical_subject
from hwsim.protocols import (
    CUFF_OCCLUSION,
    DYNAMIC_CYCLE_S,
    LIGHT_WORK,
    NON_FATIGUE_PROTOCOLS,
    PROTOCOLS,
    QUIET_SITTING,
    UPPER_LIMB,
)

SEED = 19


def play(protocol, subject=None, seed: int = 0):
    subject = subject or typical_subject()
    return simulate_session(subject, protocol, protocol.sides[0], np.random.default_rng(seed))


def phase_mask(truth, kind: str) -> np.ndarray:
    return truth.phase_kind == kind


def test_a_hold_squeezes_blood_out_then_refills_early_and_a_cuff_does_neither():
    """The contraction signature that separates a working muscle from an occluded one."""
    quiet = dataclasses.replace(typical_subject(), cardiac_amp_um=0.0, resp_amp_um=0.0,
                                mayer_amp_um=0.0, drift_sd_um=0.0)  # fmt: skip
    hold = play(UPPER_LIMB, quiet)
    t0 = hold.phase_start_s[1]
    base = hold.thb_um[phase_mask(hold, "baseline")].mean()
    thb = hold.thb_um - base
    first = (hold.t_s >= t0) & (hold.t_s < t0 + 3.0)
    early = (hold.t_s >= t0 + 3.0) & (hold.t_s < t0 + 15.0)
    squeeze = thb[first].min()
    assert squeeze < -2.0  # blood out within 3 s
    assert thb[early].max() > squeeze + 1.0  # refilled: the early hyperaemic phase

    cuff = play(CUFF_OCCLUSION, quiet)
    c0 = cuff.phase_start_s[1]
    c_base = cuff.thb_um[phase_mask(cuff, "baseline")].mean()
    c_first = (cuff.t_s >= c0) & (cuff.t_s < c0 + 3.0)
    assert cuff.thb_um[c_first].min() - c_base > -0.5  # no squeeze at rest


def test_cuff_occlusion_desaturates_slowly_at_rest_and_hyperaemia_follows():
    for i in range(10):
        subject = draw_subject(derive_rng(SEED, "subject", i), i)
        truth = simulate_session(subject, CUFF_OCCLUSION, "left", derive_rng(SEED, "cuff", i))
        kinds = truth.phase_kind
        smo2 = 100 * truth.smo2
        base_smo2 = smo2[kinds == "baseline"].mean()
        cuff = kinds == "occlusion"
        slope = np.polyfit(truth.t_s[cuff], smo2[cuff], 1)[0]
        assert -0.3 < slope < -0.03  # pp/s: resting O2 use, far slower than a hold
        d_thb = truth.thb_um[cuff].mean() - truth.thb_um[kinds == "baseline"].mean()
        assert abs(d_thb) < 8.0  # an arterial cuff traps the blood: tHb stays
        after = kinds == "rest"
        assert smo2[after].max() > base_smo2 + 2.0  # reactive hyperaemia overshoots
        assert truth.task_failure_s is None
        assert truth.borg.rating.max() <= 2  # nothing to be tired from


def test_light_work_pumps_blood_at_the_cycle_raises_thb_and_stays_light():
    truth = play(LIGHT_WORK, seed=2)
    work = phase_mask(truth, "dynamic")
    thb = truth.thb_um[work]
    spectrum = np.abs(np.fft.rfft((thb - thb.mean()) * np.hanning(thb.size)))
    freq = np.fft.rfftfreq(thb.size, 1.0 / truth.rate_hz)
    band = (freq > 0.3) & (freq < 0.8)
    assert freq[band][np.argmax(spectrum[band])] == pytest.approx(1 / DYNAMIC_CYCLE_S, abs=0.02)
    base = phase_mask(truth, "baseline")
    assert thb[-1500:].mean() > truth.thb_um[base].mean()  # exercise hyperaemia
    assert 0 < truth.smo2[base].mean() - truth.smo2[work][-1500:].mean() < 0.10
    assert truth.task_failure_s is None
    assert truth.borg.rating.max() <= 3


def test_pump_wave_is_contracted_for_the_duty_share_of_each_cycle():
    u = np.arange(0.0, 20.0, 0.001)
    wave = pump_wave(u)
    assert wave.min() >= 0.0 and wave.max() <= 1.0
    assert (wave > 0.5).mean() == pytest.approx(0.5, abs=0.01)
    inside = ((u % DYNAMIC_CYCLE_S) > 0.1) & ((u % DYNAMIC_CYCLE_S) < 0.9)
    assert wave[inside].min() > 0.9  # contracted through the first half of each cycle


def test_non_fatigue_sessions_stay_low_on_borg_across_people():
    for protocol in NON_FATIGUE_PROTOCOLS:
        ratings = []
        for i in range(15):
            subject = draw_subject(derive_rng(SEED, "subject", i), i)
            rng = derive_rng(SEED, protocol.name, i)
            ratings.append(simulate_session(subject, protocol, "left", rng).borg.rating.max())
        assert max(ratings) <= 3, protocol.name
    assert {p.name for p in NON_FATIGUE_PROTOCOLS} <= set(PROTOCOLS)


def test_sitting_moves_the_probe_far_more_than_a_still_baseline():
    excursions, dropouts = 0, 0
    for i in range(20):
        subject = draw_subject(derive_rng(SEED, "subject", i), i)
        truth = simulate_session(subject, QUIET_SITTING, "left", derive_rng(SEED, "sit", i))
        moving = phase_mask(truth, "movement")
        c = truth.coupling
        excursions += int(np.abs(np.log(c[moving])).max() > 0.1)
        off = c < MIN_COUPLING  # only a dropout goes below a probe half off the skin
        if off.any():
            dropouts += 1
            assert c.min() == pytest.approx(DROPOUT_COUPLING, rel=0.05)
            assert truth.ambient_v[off].max() > DROPOUT_AMBIENT_RANGE_V[0] * 0.5  # room light
            edges = np.flatnonzero(np.diff(off.astype(int)))
            runs = np.diff(np.concatenate([[0], edges, [off.size]]))[int(not off[0]) :: 2]
            assert runs.max() / truth.rate_hz < DROPOUT_LENGTH_RANGE_S[1] * 2 + 1.0
    assert excursions >= 15  # 2 a minute over 2 minutes: nearly every session
    assert dropouts >= 3  # 0.5 a minute over 2 minutes: about 6 in 10 sessions


def test_the_session_format_knows_every_simulated_protocol():
    from host import session
    from hwsim.protocols import FATIGUE_PROTOCOLS

    assert tuple(p.name for p in FATIGUE_PROTOCOLS) == session.FATIGUE_PROTOCOLS
    assert tuple(p.name for p in NON_FATIGUE_PROTOCOLS) == session.NON_FATIGUE_PROTOCOLS


def test_heavy_dynamic_work_ends_in_task_failure_like_a_hold():
    from hwsim.protocols import Phase, Protocol

    heavy = Protocol(
        "heavy_work", "upper",
        (Phase("baseline", "baseline", 10.0), Phase("work", "dynamic", 600.0, 1.0),
         Phase("rest", "rest", 10.0)),
        sides=("left",),
    )  # fmt: skip
    truth = play(heavy)
    assert truth.task_failure_s is not None and truth.task_failure_s < 10.0 + 600.0
    assert truth.phases[1].kind == "dynamic" and truth.borg.rating.max() >= 8
