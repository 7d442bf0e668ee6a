"""The simulated cohort: recorded through the device's chain, saved as SNIRF, analysed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from host.dataset import load_dataset
from host.lmm import fit_table, format_table, load_feature_table
from host.session import DatasetError
from host.snirf_reader import read_session
from host.snirf_writer import write_session
from hwsim import cohort
from hwsim.protocols import PROTOCOLS


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    lines: list[str] = []
    files = cohort.generate_cohort(out, n_subjects=2, seed=11, jobs=2, progress=lines.append)
    return out, files, lines


def test_plan_covers_subjects_protocols_and_sides():
    specs = cohort.plan(1, 50)
    # the seed's 50 subjects: both fatigue protocols on both sides, and the cuff
    # occlusion, quiet sitting and light work on one side each (issue 19)
    assert len(specs) == 50 * (2 * 2 + 3)
    assert {s.protocol for s in specs} == set(PROTOCOLS)
    assert len({s.filename for s in specs}) == len(specs)
    with pytest.raises(ValueError, match="unknown protocol 'plank'"):
        cohort.plan(1, 1, protocols=["plank"])


def test_cohort_files_progress_and_provenance(tiny_cohort):
    out, files, lines = tiny_cohort
    assert sorted(f.name for f in files) == sorted(f.name for f in out.glob("*.snirf"))
    assert len(files) == 14 and len(lines) == 14 and lines[-1].startswith("[ 14/14]")
    data = load_dataset(out)
    assert data.provenance == frozenset({"simulated"})
    rec = read_session(files[0])
    assert rec.metadata["simulator"] == cohort.SIMULATOR_VERSION
    assert rec.metadata["conversions_lost"] == 0


def test_a_session_is_reproducible_from_its_seed():
    spec = cohort.plan(5, 1, protocols=["upper_limb"])[0]
    a, _ = cohort.record_session(spec)
    b, _ = cohort.record_session(spec)
    np.testing.assert_array_equal(a.intensity_v, b.intensity_v)
    np.testing.assert_array_equal(a.borg, b.borg)
    other, _ = cohort.record_session(cohort.SessionSpec(6, 0, "upper_limb", "left"))
    assert not np.array_equal(a.intensity_v[:100], other.intensity_v[:100])


def test_recorded_haemoglobin_follows_the_simulated_truth(monkeypatch):
    spec = cohort.SessionSpec(3, 0, "upper_limb", "left")
    # The chain's accuracy, not the probe's: the probe's coupling is held at 1 (no motion
    # artefacts, hwsim.artefacts), which a single-distance device cannot tell from blood.
    moving = cohort.simulate_truth(spec)
    still = dataclasses.replace(moving, coupling=np.ones_like(moving.coupling))
    monkeypatch.setattr(cohort, "simulate_truth", lambda _spec: still)
    rec, truth = cohort.record_session(spec)
    # The device recovers the change it saw, scaled only by the subject's true DPF
    # (the device assumes 4.0): ΔHbO2_measured ≈ ΔHbO2_true · DPF_true / 4.
    true_d_hbo2 = np.interp(rec.t_s, truth.t_s, truth.hbo2_um - truth.hbo2_um[0])
    expected = true_d_hbo2 * truth.dpf / 4.0
    ok = rec.flags == 0
    baseline_offset = np.mean((rec.d_hbo2_um - expected)[rec.t_s < 20])
    err = rec.d_hbo2_um[ok] - expected[ok] - baseline_offset
    assert np.percentile(np.abs(err), 95) < 1.0  # µM, against changes of tens of µM
    assert np.ptp(expected) > 10


def test_lmm_table_runs_on_the_cohort(tiny_cohort):
    out, _, _ = tiny_cohort
    features = load_feature_table(out)
    rows = fit_table(features)
    assert len(rows) == 16 and rows == sorted(rows, key=lambda r: (r.p_value, -abs(r.z)))
    text = format_table(rows, features)
    assert "of 14 sessions, 2 subjects (simulated data)" in text and "HHb_mean" in text
    assert "note: with 2 subjects (fewer than 5)" in text
    hhb = next(r for r in rows if r.feature == "HHb_mean")
    assert hhb.coef > 0 and hhb.p_value < 1e-6  # HHb rises with fatigue, as in the seed


def test_lmm_falls_back_where_the_gradient_meets_a_singular_matrix(tiny_cohort, monkeypatch):
    # Found in CI: with few subjects, statsmodels' L-BFGS gradient inverted a singular
    # matrix and `host lmm` ended in a traceback. Powell's method takes over; a feature no
    # method fits is listed as such, last.
    import statsmodels.api as sm

    out, _, _ = tiny_cohort
    features = load_feature_table(out)
    fit = sm.MixedLM.fit
    refuse = {"lbfgs"}

    def singular(self, *args, method="lbfgs", **kwargs):
        if method in refuse:
            raise np.linalg.LinAlgError("Singular matrix")
        return fit(self, *args, method=method, **kwargs)

    monkeypatch.setattr(sm.MixedLM, "fit", singular)
    rows = fit_table(features)
    hhb = next(r for r in rows if r.feature == "HHb_mean")
    assert hhb.coef > 0 and hhb.p_value < 1e-6  # Powell's fit: the same finding
    refuse.add("powell")
    rows = fit_table(features)
    assert all(np.isnan(r.p_value) for r in rows)
    assert "| HHb_mean | – | – | not fitted (singular) |" in format_table(rows, features)


def test_a_cohort_is_not_written_over_an_earlier_one(tiny_cohort, tmp_path):
    """A smaller cohort over a larger one would leave the old sessions for lmm and train to
    read (issue 20): refused before anything is simulated, or replaced with a message."""
    out, files, _ = tiny_cohort
    folder = tmp_path / "cohort"
    folder.mkdir()
    for f in files:  # the earlier, larger cohort: 2 subjects
        (folder / f.name).write_bytes(f.read_bytes())
    simulated: list[str] = []
    with pytest.raises(DatasetError, match=r"already holds 14 session file\(s\).*--replace"):
        cohort.generate_cohort(folder, n_subjects=1, seed=3, jobs=1, progress=simulated.append)
    assert simulated == [] and len(list(folder.glob("*.snirf"))) == 14
    lines: list[str] = []
    new = cohort.generate_cohort(
        folder,
        n_subjects=1,
        seed=3,
        jobs=1,
        protocols=["upper_limb"],
        progress=lines.append,
        replace=True,
    )
    assert lines[0] == f"removed 14 earlier session file(s) from {folder} (--replace)"
    assert sorted(folder.glob("*.snirf")) == sorted(new) and len(new) == 2
    # A person's recording (or anything not simulated) is never deleted by --replace.
    human = read_session(new[0])
    human.provenance = "human"
    write_session(folder / "P01_upper_limb_left.snirf", human)
    (folder / "broken.snirf").write_bytes(b"not HDF5")
    with pytest.raises(DatasetError, match=r"2 file\(s\) here are not .*P01_upper_limb_left"):
        cohort.generate_cohort(folder, n_subjects=1, seed=3, jobs=1, replace=True)
    assert len(list(folder.glob("*.snirf"))) == 4


def test_lmm_refuses_one_subject(tiny_cohort, tmp_path):
    out, files, _ = tiny_cohort
    for f in files[:4]:  # S01's four sessions
        (tmp_path / f.name).write_bytes(f.read_bytes())
    with pytest.raises(DatasetError, match="holds clean windows of 1 subject .S01.; .* at least 2"):
        load_feature_table(tmp_path)
