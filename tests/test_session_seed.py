"""hwsim.session_seed: one place seeds a simulated session, for every runner (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim import cohort, wearable
from hwsim.record_stream import SimulatedRecordWearable
from hwsim.session_seed import SessionSeed


def test_the_main_job_and_the_cohort_make_the_same_session_from_the_same_names():
    truth, board = wearable.wear_board(protocol="upper_limb", side="left", subject=7, seed=2025)
    same = SessionSeed(2025, 7, "upper_limb", "left").truth()
    np.testing.assert_array_equal(truth.hbo2_um, same.hbo2_um)
    np.testing.assert_array_equal(truth.borg.rating, same.borg.rating)
    assert truth.subject.subject_id == "sim-7" and same.subject.subject_id == "7"  # labels only
    spec = cohort.SessionSpec(2025, 7, "lower_limb", "right")
    recorded = cohort.simulate_truth(spec)
    direct = SessionSeed(2025, "S08", "lower_limb", "right").truth()
    np.testing.assert_array_equal(recorded.hhb_um, direct.hhb_um)


def test_the_main_job_subject_is_not_in_the_cohort_the_bundled_model_learned_from():
    main_job = wearable.wear_board(subject=7, seed=2025)[0].subject
    for spec in cohort.plan(2025, 50, protocols=["upper_limb"])[::2]:
        assert spec.seeding.person().upper != main_job.upper, spec.subject_id


def test_a_subject_is_one_person_in_every_protocol_and_each_part_has_its_own_stream():
    arm = SessionSeed(3, 4, "upper_limb", "right")
    assert arm.person() == SessionSeed(3, 4, "light_work", "left").person()
    assert arm.person() != SessionSeed(3, 5, "upper_limb", "right").person()
    draws = {part: arm.rng(part).random(3).tolist() for part in ("session", "coupling", "adc")}
    assert len({tuple(v) for v in draws.values()}) == 3
    assert arm.rng("session").random(3).tolist() == draws["session"]  # deterministic
    assert (
        SessionSeed(3, 4, "upper_limb", "left").rng("session").random(3).tolist()
        != draws["session"]
    )


def test_the_live_stand_in_wearable_is_seeded_the_same_way():
    records = SimulatedRecordWearable("T01", 1)
    truth = SessionSeed(1, "T01", "upper_limb", "left").truth(rate_hz=records.rate_hz)
    np.testing.assert_array_equal(records.truth.hbo2_um, truth.hbo2_um)


@pytest.mark.parametrize(
    ("build", "said"),
    [
        (lambda: SessionSeed(1, 1, "plank", "left"), "unknown protocol 'plank'"),
        (lambda: SessionSeed(1, 1, "cuff_occlusion", "right"), "no side 'right'"),
        (lambda: SessionSeed(1, 1, "upper_limb", "left").rng("weather"), "part must be one of"),
        (lambda: SessionSeed(-1, 1, "upper_limb", "left"), "seed must be a whole number"),
        (lambda: SessionSeed(1.7, 1, "upper_limb", "left"), "seed must be a whole number"),
        (lambda: SessionSeed(1, 1, ["upper_limb"], "left"), "protocol must be a protocol's"),
    ],
)
def test_bad_names_are_refused_in_one_line(build, said):
    with pytest.raises(ValueError, match=said):
        build()
