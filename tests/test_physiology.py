"""Virtual subjects (hwsim.physiology), Borg ratings (hwsim.borg) and protocols.

Everything here is simulated: these tests check that the simulator behaves as the
physiology it claims to model, not that any human does.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from device.labels import DEFAULT_MAPPING, FatigueMapping
from hwsim.artefacts import MIN_COUPLING
from hwsim.board import build_board
from hwsim.borg import (
    BorgProfile,
    Segment,
    latent_borg,
    simulate_borg,
)
from hwsim.physiology import (
    DPF_RANGE,
    SessionTruth,
    Subject,
    adipose_factor,
    derive_rng,
    draw_subject,
    simulate_session,
    typical_subject,
)
from hwsim.protocols import (
    LOWER_LIMB,
    UPPER_LIMB,
    Phase,
    Protocol,
    get_protocol,
    make_protocol,
    upper_limb_protocol,
)

SEED = 2024
ARRAYS = ("t_s", "hbo2_um", "hhb_um", "coupling", "ambient_v", "phase")


def session(subject: Subject, protocol: Protocol = UPPER_LIMB, seed: int = 0, **kw) -> SessionTruth:
    return simulate_session(subject, protocol, protocol.sides[0], np.random.default_rng(seed), **kw)


def with_upper(subject: Subject, **changes) -> Subject:
    """``subject`` with some biceps parameters replaced."""
    return dataclasses.replace(subject, upper=dataclasses.replace(subject.upper, **changes))


def smooth(x: np.ndarray, n: int = 50) -> np.ndarray:
    """Moving average over ``n`` samples (1 s at 50 Hz), to look past the oscillations."""
    return np.convolve(x, np.ones(n) / n, mode="same")


def drawn_sessions(count: int, protocol: Protocol = UPPER_LIMB, seed: int = SEED):
    for i in range(count):
        rng = derive_rng(seed, i)
        subject = draw_subject(rng, i)
        yield subject, simulate_session(subject, protocol, protocol.sides[0], rng)


# ----------------------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_subject_and_arrays():
    a = draw_subject(np.random.default_rng(SEED), "s01")
    b = draw_subject(np.random.default_rng(SEED), "s01")
    assert a == b
    ta = simulate_session(a, UPPER_LIMB, "left", np.random.default_rng(SEED + 1))
    tb = simulate_session(b, UPPER_LIMB, "left", np.random.default_rng(SEED + 1))
    for name in ARRAYS:
        assert_array_equal(getattr(ta, name), getattr(tb, name), err_msg=name)
    assert_array_equal(ta.borg.t_s, tb.borg.t_s)
    assert_array_equal(ta.borg.rating, tb.borg.rating)
    assert ta.task_failure_s == tb.task_failure_s
    assert ta.phases == tb.phases


def test_different_seeds_differ():
    a = draw_subject(np.random.default_rng(1), "x")
    b = draw_subject(np.random.default_rng(2), "x")
    assert a != b
    s = typical_subject()
    ta, tb = session(s, seed=1), session(s, seed=2)
    n = min(len(ta.t_s), len(tb.t_s))
    assert not np.array_equal(ta.hbo2_um[:n], tb.hbo2_um[:n])
    assert not np.array_equal(ta.coupling[:n], tb.coupling[:n])


def test_derive_rng_depends_only_on_seed_and_keys():
    first = derive_rng(7, "s03", "left").random(4)
    derive_rng(7, "s01").random(100)  # other streams in between change nothing
    assert_array_equal(derive_rng(7, "s03", "left").random(4), first)
    assert not np.array_equal(derive_rng(7, "s03", "right").random(4), first)
    assert not np.array_equal(derive_rng(8, "s03", "left").random(4), first)


# ------------------------------------------------------------------------ the subjects


def test_resting_smo2_and_thb_plausible_across_200_subjects():
    rest_smo2, dpf = [], []
    for subject, truth in drawn_sessions(200):
        m = subject.upper
        assert 0.60 <= m.rest_smo2 <= 0.75
        assert 60.0 <= m.rest_thb_um <= 130.0
        baseline = truth.phase_kind == "baseline"
        rest_smo2.append(truth.smo2[baseline].mean())
        dpf.append(m.dpf)
        assert 0.0 < m.adipose_factor <= 1.0
    rest_smo2 = np.asarray(rest_smo2)
    assert rest_smo2.min() >= 0.60 and rest_smo2.max() <= 0.75, (rest_smo2.min(), rest_smo2.max())
    assert rest_smo2.std() > 0.02  # people differ
    assert DPF_RANGE[0] <= min(dpf) and max(dpf) <= DPF_RANGE[1]


def test_endurance_spread_some_fail_before_the_hold_ends():
    failed = [truth.task_failure_s is not None for _, truth in drawn_sessions(100)]
    assert 0.2 < np.mean(failed) < 0.9


def test_thicker_fat_gives_a_smaller_signal():
    assert adipose_factor(0.0) == 1.0
    assert adipose_factor(2.0) > adipose_factor(8.0) > adipose_factor(15.0) > 0.0
    with pytest.raises(ValueError, match="adipose_mm"):
        adipose_factor(-1.0)
    base = typical_subject()
    drops = []
    for mm in (2.0, 8.0, 15.0):
        truth = session(with_upper(base, adipose_mm=mm), seed=5)
        hold = truth.phase_kind == "hold"
        drops.append(
            truth.hbo2_um[truth.phase_kind == "baseline"].mean() - truth.hbo2_um[hold].min()
        )
    assert drops[0] > drops[1] > drops[2] > 0


# ------------------------------------------------------------------ hold and recovery


def test_typical_hold_deoxygenates_to_about_half_an_occlusion_and_recovers_with_hyperaemia():
    truth = session(typical_subject(), seed=3)
    kind = truth.phase_kind
    baseline, hold, rest = kind == "baseline", kind == "hold", kind == "rest"
    smo2 = smooth(truth.smo2) * 100
    base_smo2 = smo2[baseline][25:-25].mean()
    hold_smo2 = smo2[hold][25:-25]
    nadir = hold_smo2.min()
    print(f"typical subject: rest SmO2 {base_smo2:.1f} %, nadir {nadir:.1f} %")
    assert 40.0 <= nadir <= 55.0  # the muscle's 47.5 % nadir, seen through 4 mm of fat
    # "within tens of seconds": within 5 points of the nadir inside 60 s of the hold.
    near = np.flatnonzero(hold_smo2 <= nadir + 5.0)[0] / truth.rate_hz
    assert near < 60.0
    # HbO2 falls and HHb rises during the hold, by about half of a thigh occlusion's
    # −38 / +37 µM (Celie 2012: 45.6 ± 16.7 %).
    d_hbo2 = truth.hbo2_um[hold][-50:].mean() - truth.hbo2_um[baseline].mean()
    d_hhb = truth.hhb_um[hold][-50:].mean() - truth.hhb_um[baseline].mean()
    assert -38 * 0.623 < d_hbo2 < -38 * 0.289 and 37 * 0.289 < d_hhb < 37 * 0.623
    # After release SmO2 recovers, and HbO2 overshoots by about the published +19 µM.
    rest_smo2 = smo2[rest][:-25]
    assert rest_smo2[-50:].mean() > base_smo2 - 3.0
    overshoot = smooth(truth.hbo2_um)[rest][:-25].max() - truth.hbo2_um[baseline].mean()
    assert 9.5 < overshoot < 28.5
    assert smooth(truth.thb_um)[rest][:-25].max() > truth.thb_um[baseline].mean() + 5.0


@pytest.mark.parametrize("protocol", [UPPER_LIMB, LOWER_LIMB], ids=lambda p: p.name)
def test_smo2_falls_in_every_hold_and_recovers_after(protocol):
    nadirs = []
    for subject, truth in drawn_sessions(60, protocol):
        kind = truth.phase_kind
        smo2 = smooth(truth.smo2) * 100
        base = smo2[kind == "baseline"][25:-25].mean()
        nadir = smo2[kind == "hold"][25:-25].min()
        end_of_rest = smo2[kind == "rest"][-75:-25].mean()
        # The muscle loses ≥ 6 points (rest ≥ 61 %, nadir ≤ 55 %); fat hides part of it.
        assert base - nadir > 5.0 * subject.muscle(protocol.limb).adipose_factor
        assert end_of_rest > base - 5.0
        assert end_of_rest - nadir > 0.8 * (base - nadir)
        nadirs.append(nadir)
    assert 40.0 <= np.median(nadirs) <= 60.0


def spectral_peak_hz(x: np.ndarray, rate_hz: float, lo_hz: float, hi_hz: float) -> float:
    """Frequency of the largest Hann-windowed spectral line of ``x`` in [lo_hz, hi_hz], Hz."""
    n = np.arange(len(x))
    x = x - np.polyval(np.polyfit(n, x, 2), n)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freq_hz = np.fft.rfftfreq(len(x), 1.0 / rate_hz)
    band = (freq_hz >= lo_hz) & (freq_hz <= hi_hz)
    return float(freq_hz[band][np.argmax(spectrum[band])])


def test_oscillation_frequencies_show_in_the_spectrum():
    # A custom protocol with a 300 s baseline: 1/300 Hz spectral resolution.
    long_rest = make_protocol("long_baseline", "upper", baseline_s=300.0, hold_s=5.0, rest_s=5.0)
    for i in range(5):
        rng = derive_rng(SEED, "spectrum", i)
        subject = draw_subject(rng, i)
        truth = simulate_session(subject, long_rest, "left", rng)
        x, rate = truth.thb_um[truth.phase_kind == "baseline"], truth.rate_hz
        assert spectral_peak_hz(x, rate, 0.8, 2.5) == pytest.approx(subject.cardiac_hz, abs=0.03)
        assert spectral_peak_hz(x, rate, 0.15, 0.4) == pytest.approx(subject.resp_hz, abs=0.03)
        assert spectral_peak_hz(x, rate, 0.05, 0.15) == pytest.approx(subject.mayer_hz, abs=0.02)


def test_motion_artefacts_and_ambient_light():
    busy = dataclasses.replace(typical_subject(), spike_rate_per_min=20.0, shift_rate_per_min=5.0)
    truth = session(busy, seed=11)
    assert truth.coupling.min() >= MIN_COUPLING
    assert np.abs(np.log(truth.coupling)).max() > 0.02  # spikes or shifts happened
    assert np.all(truth.ambient_v >= 0.0) and truth.ambient_v.max() < 0.05
    quiet = dataclasses.replace(typical_subject(), spike_rate_per_min=0.0, shift_rate_per_min=0.0)
    # Only the chance artefacts at the hold's start and end remain; well before it, none.
    calm = session(quiet, seed=11)
    assert_allclose(calm.coupling[calm.t_s < 15.0], 1.0, atol=1e-6)


# ---------------------------------------------------------------- protocols and timing


def test_seed_protocols_as_parameters():
    for protocol, limb in ((UPPER_LIMB, "upper"), (LOWER_LIMB, "lower")):
        assert protocol.limb == limb
        assert [(p.kind, p.duration_s, p.mvc_fraction) for p in protocol.phases] == [
            ("baseline", 20.0, 0.0),
            ("hold", 90.0, 0.5),
            ("rest", 30.0, 0.0),
        ]
        assert protocol.sides == ("left", "right")
        assert protocol.trial_duration_s == 140.0
        assert protocol.session_duration_s == 280.0
        assert protocol.phase_starts_s == (0.0, 20.0, 110.0)
    assert UPPER_LIMB.muscle == "biceps brachii" and LOWER_LIMB.muscle == "vastus lateralis"
    assert get_protocol("lower_limb") is LOWER_LIMB
    custom = upper_limb_protocol(hold_s=60.0, mvc_fraction=0.3, sides=("right",))
    assert custom.trial_duration_s == 110.0 and custom.hold_phases()[0].mvc_fraction == 0.3


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Phase("x", "sprint", 10.0), "kind must be one of"),
        (lambda: Phase("x", "hold", -1.0, 0.5), "duration_s"),
        (lambda: Phase("x", "hold", 10.0, 0.0), "mvc_fraction must be in"),
        (lambda: Phase("x", "rest", 10.0, 0.5), "mvc_fraction must be 0"),
        (lambda: make_protocol("p", "middle"), "limb must be one of"),
        (lambda: make_protocol("p", "upper", hold_s=0.0), "duration_s"),
        (lambda: make_protocol("p", "upper", sides=("left", "left")), "duplicated side"),
        (lambda: Protocol("p", "upper", (Phase("b", "baseline", 5.0),)), "a phase after"),
        (lambda: Phase("x", "dynamic", 10.0), "mvc_fraction must be in"),
        (lambda: Phase("x", "occlusion", 10.0, 0.3), "mvc_fraction must be 0"),
        (lambda: Protocol("p", "upper", (Phase("h", "hold", 5.0, 0.5),)), "first phase"),
        (lambda: get_protocol("marathon"), "known"),
        (lambda: UPPER_LIMB.check_side("middle"), "valid sides"),
    ],
)
def test_protocol_validation_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_task_failure_ends_the_hold_early_and_rest_follows():
    weak = with_upper(typical_subject(), endurance_50_s=40.0)
    truth = session(weak, seed=4)
    hold = truth.phases[1]
    assert truth.task_failure_s is not None
    assert hold.duration_s == pytest.approx(truth.endurance_s[0]) and hold.duration_s < 90.0
    assert truth.task_failure_s == pytest.approx(20.0 + hold.duration_s)
    assert truth.phases[2].kind == "rest" and truth.phases[2].duration_s == 30.0
    assert truth.duration_s == pytest.approx(50.0 + hold.duration_s)
    assert truth.t_s[-1] == pytest.approx(truth.duration_s, abs=1.0 / truth.rate_hz)
    assert_allclose(np.diff(truth.t_s), 1.0 / truth.rate_hz)
    # The phase of each sample follows the phases as they happened.
    starts = np.asarray(truth.phase_start_s)
    assert_array_equal(truth.phase, np.searchsorted(starts, truth.t_s, side="right") - 1)

    strong = session(with_upper(typical_subject(), endurance_50_s=250.0), seed=4)
    assert strong.task_failure_s is None
    assert strong.phases[1].duration_s == 90.0 and strong.duration_s == 140.0


def test_simulate_session_rejects_bad_arguments():
    s = typical_subject()
    with pytest.raises(ValueError, match="valid sides"):
        simulate_session(s, UPPER_LIMB, "middle", np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        simulate_session(s, UPPER_LIMB, "left", 42)
    with pytest.raises(ValueError, match="rate_hz"):
        simulate_session(s, UPPER_LIMB, "left", np.random.default_rng(0), rate_hz=5.0)


# ------------------------------------------------------------------------------- Borg


def test_borg_never_decreases_within_a_hold_and_reaches_8_at_failure():
    failures = 0
    for _, truth in drawn_sessions(100):
        borg = truth.borg
        assert borg.rating.dtype.kind == "i"
        assert borg.rating.min() >= 0 and borg.rating.max() <= 10
        assert np.all(np.diff(borg.t_s) > 0)
        for i, phase in enumerate(truth.phases):
            ratings = borg.rating[borg.segment == i]
            if phase.kind == "hold":
                assert np.all(np.diff(ratings) >= 0), ratings
        if truth.task_failure_s is not None:
            failures += 1
            at = np.flatnonzero(np.isclose(borg.t_s, truth.task_failure_s))
            assert len(at) == 1 and borg.rating[at[0]] >= 8
            # ...and falls back during the rest.
            assert borg.rating[-1] < borg.rating[at[0]]
    assert failures > 10


def test_borg_reports_at_the_configured_interval():
    truth = session(typical_subject(), seed=2, report_interval_s=2.0)
    regular = truth.borg.t_s[np.isclose(truth.borg.t_s % 2.0, 0.0)]
    assert_allclose(np.diff(regular), 2.0)
    assert len(truth.borg.t_s) >= truth.duration_s / 2.0
    assert truth.borg.rating_at(0.0) == truth.borg.rating[0]
    assert truth.borg.rating_at(4.9) == truth.borg.rating[2]


def test_latent_borg_rises_with_relative_time_to_failure():
    profile = BorgProfile(3.0, 9.5, 1.0, 0.0, 0.0, 10.0)
    segs = [
        Segment("baseline", 0.0, 20.0),
        Segment("hold", 20.0, 80.0, 0.5, 60.0),
        Segment("rest", 80.0, 110.0),
    ]
    latent = latent_borg(np.array([10.0, 20.0, 50.0, 80.0, 90.0]), segs, profile)
    assert_allclose(latent, [0.0, 3.0, 6.25, 9.5, 9.5 * math.exp(-1.0)])
    noiseless = simulate_borg(segs, profile, np.random.default_rng(0), report_interval_s=10.0)
    # Reports every 10 s from 0 to 110 s (80 s, the end of the hold, is one of them):
    # rint of 0, 0, 3, 3 + 6.5 k/6 for k = 1..6, then 9.5·e^(−k) for k = 1, 2, 3.
    assert_allclose(noiseless.t_s, np.arange(0.0, 111.0, 10.0))
    assert_array_equal(noiseless.rating, [0, 0, 3, 4, 5, 6, 7, 8, 10, 3, 1, 0])


def test_borg_profile_validation():
    with pytest.raises(ValueError, match="at_failure"):
        BorgProfile(5.0, 4.0, 1.0, 0.3, 0.0, 10.0)
    with pytest.raises(ValueError, match="report_interval_s"):
        simulate_borg(
            [Segment("rest", 0, 1)],
            typical_subject().borg,
            np.random.default_rng(0),
            report_interval_s=0.0,
        )


def test_fatigue_mapping_default_custom_and_round_trip():
    levels = [DEFAULT_MAPPING.level(b) for b in range(11)]
    assert levels == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4]
    assert DEFAULT_MAPPING.name(9) == "exhausted" and DEFAULT_MAPPING.name(0) == "none"
    assert_array_equal(DEFAULT_MAPPING.level(np.array([0, 3.4, 3.6, 10])), [0, 1, 2, 4])
    three = FatigueMapping(names=("low", "mid", "high"), max_borg=(3, 6, 10))
    assert three.n_levels == 3 and three.name(7) == "high"
    assert FatigueMapping.from_dict(three.to_dict()) == three
    with pytest.raises(ValueError, match="increase strictly"):
        FatigueMapping(names=("a", "b", "c"), max_borg=(5, 5, 10))
    with pytest.raises(ValueError, match="end at 10"):
        FatigueMapping(names=("a", "b"), max_borg=(3, 9))
    with pytest.raises(ValueError, match="within 0–10"):
        DEFAULT_MAPPING.level(11)
    with pytest.raises(ValueError, match="lacks"):
        FatigueMapping.from_dict({"names": ["a"]})


def test_fatigue_mapping_levels_without_numpy_equal_the_numpy_lookup():
    # One rating gives an int; any sequence (list, tuple, array, nested) gives lists.
    assert (
        type(DEFAULT_MAPPING.level(5.5)) is int
        and type(DEFAULT_MAPPING.level(np.float64(2))) is int
    )
    assert DEFAULT_MAPPING.level(np.array(7.0)) == 3  # a 0-d array is one rating
    assert DEFAULT_MAPPING.level((0, 10)) == [0, 4] and DEFAULT_MAPPING.level([]) == []
    assert DEFAULT_MAPPING.level(np.array([[1.0, 2.0], [8.0, 9.0]])) == [[0, 1], [4, 4]]
    # Half to even, as np.rint: 1.5 → 2 (light), 2.5 → 2 (light), 3.5 → 4 (moderate).
    assert DEFAULT_MAPPING.level([1.5, 2.5, 3.5, 4.5]) == [1, 1, 2, 2]
    ratings = np.random.default_rng(1).uniform(0, 10, 5000)
    ratings[:21] = np.arange(0, 10.5, 0.5)  # every half step
    want = np.asarray(DEFAULT_MAPPING._lookup)[np.rint(ratings).astype(np.int64)]
    assert_array_equal(DEFAULT_MAPPING.level(ratings), want)
    for bad in (np.nan, np.inf, -0.6, 10.6, [3.0, np.nan], "5", None):
        with pytest.raises(ValueError, match="Borg ratings must be within 0–10, got"):
            DEFAULT_MAPPING.level(bad)


# ---------------------------------------------------- scalar callables for the optics


def test_scalar_callables_agree_with_numpy_interp():
    truth = session(typical_subject(), seed=9)
    t = np.random.default_rng(0).uniform(-5.0, truth.duration_s + 5.0, 2000)
    t = np.concatenate([t, truth.t_s[::97], [truth.t_s[0], truth.t_s[-1]]])
    tissue = truth.tissue()
    for fn, values in (
        (tissue.hbo2_um, truth.hbo2_um),
        (tissue.hhb_um, truth.hhb_um),
        (truth.led_drift, truth.coupling),
        (truth.ambient, truth.ambient_v),
    ):
        got = np.array([fn(float(x)) for x in t])
        assert_allclose(got, np.interp(t, truth.t_s, values), rtol=1e-12, atol=1e-12)
        assert isinstance(fn(1.0), float)
    shifted = truth.tissue(start_s=100.0).hbo2_um
    assert shifted(100.0 + 12.34) == pytest.approx(tissue.hbo2_um(12.34), abs=1e-12)


def test_truth_drives_the_simulated_board():
    truth = session(typical_subject(), seed=1)
    board = build_board(
        tissue=truth.tissue(),
        led_drift=truth.led_drift,
        ambient_v=truth.ambient,
        dpf=truth.dpf,
        with_oled=False,
    )
    # 750 nm is the HHb-weighted wavelength: less light comes back as HHb rises.
    rest_v = board.optics.light_v(750.0, 10.0)
    hold_v = board.optics.light_v(750.0, 20.0 + 60.0)
    assert hold_v < 0.8 * rest_v
    # The subject's DPF reaches the optics: a longer path absorbs more.
    longer = build_board(
        tissue=truth.tissue(), led_drift=truth.led_drift, dpf=truth.dpf + 1.0, with_oled=False
    )
    assert longer.optics.light_v(810.0, 10.0) < board.optics.light_v(810.0, 10.0)
