"""The late-fusion study (hwsim.fusion_study, hwsim.fusion_scores) on simulated subjects.

The run at the end plays two simulated subjects' left-arm sessions through the main job
with a video model made here (random weights: its p means nothing, the rows' plumbing
does). Everything here is simulated.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from device.labels import DEFAULT_MAPPING, FatigueMapping
from host.video.model_file import WindowProbabilities
from host.video.track import VideoError
from hwsim import fusion_study as fs
from hwsim.fusion_scores import SCORES, out_of_fold, quick_scores, score, subject_folds

SEED = 2026
MODELS = Path(__file__).resolve().parents[1] / "models"


# ---- the label rule and the NIRS model's "fatigued" ------------------------------------------


def test_label_is_the_borg_report_at_the_window_end_at_least_7() -> None:
    borg_t_s = np.array([0.0, 30.0, 60.0, 100.0])
    rating = np.array([1.0, 5.0, 7.0, 4.0])
    end_s = np.array([-1.0, 29.9, 59.9, 60.0, 99.9, 100.0, 500.0])
    assert fs.label_at_end(borg_t_s, rating, end_s).tolist() == [0, 0, 0, 1, 1, 0, 0]
    assert fs.borg_at(borg_t_s, rating, end_s).tolist() == [1, 1, 5, 7, 7, 4, 4]
    # 6.99 is not 7: the split is at 7 itself.
    assert fs.label_at_end([0.0], [6.99], [1.0]).tolist() == [0]


def test_nirs_fatigued_weights_under_the_default_and_other_mappings() -> None:
    # 0-1 none, 2-3 light, 4-5 moderate, 6-7 high, 8-10 exhausted: Borg 7 splits "high".
    assert fs.fatigued_weights(DEFAULT_MAPPING).tolist() == [0, 0, 0, 0.5, 1]
    assert fs.fatigued_weights(DEFAULT_MAPPING, 6).tolist() == [0, 0, 0, 1, 1]
    assert fs.fatigued_weights(DEFAULT_MAPPING, 8).tolist() == [0, 0, 0, 0, 1]
    two = FatigueMapping(names=("fresh", "tired"), max_borg=(6, 10))
    assert fs.fatigued_weights(two).tolist() == [0, 1]
    assert fs.VARIANT_BORG == (fs.FATIGUE_BORG - 1, fs.FATIGUE_BORG + 1) == (6, 8)
    three = FatigueMapping(names=("a", "b", "c"), max_borg=(5, 8, 10))
    np.testing.assert_allclose(fs.fatigued_weights(three), [0, 2 / 3, 1])


def _report(t_s: float, probs: tuple[float, ...] | None) -> SimpleNamespace:
    return SimpleNamespace(t_s=t_s, level=None if probs is None else 0, probabilities=probs or ())


def test_session_rows_average_the_seconds_with_a_level_inside_each_window() -> None:
    low, high = (1.0, 0, 0, 0, 0), (0, 0, 0, 0.5, 0.5)  # p(fatigued) 0 and 0.75
    reports = [_report(t, None if t <= 20 else (low if t < 40 else high)) for t in range(1, 61)]
    windows = WindowProbabilities(
        start_s=np.array([0.0, 10.0, 30.0]),
        end_s=np.array([19.9, 29.9, 49.9]),
        p_fatigued=np.array([0.2, 0.3, 0.9]),
    )
    weights = fs.fatigued_weights(DEFAULT_MAPPING)
    rows, empty = fs.session_rows(
        "sim-9", "right", reports, windows, np.array([0.0, 45.0]), np.array([2.0, 8.0]), weights
    )
    assert empty == 1  # 0-19.9 s: calibration, no level
    assert [(r.start_s, r.nirs_seconds, r.label) for r in rows] == [(10.0, 9, 0), (30.0, 20, 1)]
    # 30-49.9 s: seconds 30..39 low (10 of them), 40..49 high (10): mean 0.375.
    assert rows[1].p_nirs == pytest.approx(0.375)
    assert rows[1].p_nirs_last == pytest.approx(0.75)
    assert rows[1].p_video == 0.9 and rows[1].borg_at_end == 8.0
    assert rows[1].nirs_levels == pytest.approx((0.5, 0, 0, 0.25, 0.25))


# ---- subject-wise folds and the fit ----------------------------------------------------------


def test_folds_never_put_a_subject_on_both_sides() -> None:
    rng = np.random.default_rng(1)
    subjects = np.array(
        [f"sim-{s}" for s in range(7) for _side in range(2) for _ in range(rng.integers(5, 20))]
    )
    folds = subject_folds(subjects)
    assert len(folds) == 5
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(subjects)))  # each window tested once
    for train, test in folds:
        assert not set(subjects[train]) & set(subjects[test])
        assert len(np.union1d(train, test)) == len(subjects)
    assert len(subject_folds(subjects[subjects < "sim-3"])) == 3  # fewer subjects, fewer folds
    with pytest.raises(ValueError, match="2 or more subjects, got 1"):
        subject_folds(["sim-0"] * 10)


def test_the_fusion_of_a_fold_does_not_see_its_labels() -> None:
    rng = np.random.default_rng(2)
    subjects = np.repeat([f"sim-{s}" for s in range(4)], 30)
    labels = rng.integers(0, 2, len(subjects))
    x = np.clip(
        0.5 + 0.3 * (labels[:, None] - 0.5) + rng.normal(0, 0.2, (len(labels), 2)), 0.01, 0.99
    )
    folds = subject_folds(subjects)
    p, fits = out_of_fold(x, labels, folds)
    _, test = folds[0]
    flipped = labels.copy()
    flipped[test] = 1 - flipped[test]
    p2, _ = out_of_fold(x, flipped, folds)
    np.testing.assert_array_equal(p[test], p2[test])
    assert not np.array_equal(p, p2)  # the other folds trained on the flipped labels
    assert all(f["coef_nirs"] > 0 and f["coef_video"] > 0 for f in fits)


def test_the_bootstraps_quick_scores_are_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    cases = []
    for n in (5, 40, 300):
        labels = rng.integers(0, 2, n)
        p = np.round(np.clip(0.5 + 0.2 * (labels - 0.5) + rng.normal(0, 0.25, n), 0, 1), 2)
        cases.append((labels, p))  # rounded: ties, which the AUC counts half
    cases += [
        (np.zeros(6, int), np.linspace(0, 1, 6)),  # one class: no AUC
        (np.ones(6, int), np.full(6, 0.2)),  # every window missed: F1 0
        (np.zeros(6, int), np.full(6, 0.2)),  # one class, all right: macro over one class
        (np.array([0, 1, 1, 0]), np.array([0.5, 0.5, 0.9, 0.1])),  # p = 0.5 is "fatigued"
    ]
    for labels, p in cases:
        want, got = score(labels, p), quick_scores(labels, p)
        for key in SCORES:
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-12, err_msg=key)


# ---- the command ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def video_model(tmp_path_factory) -> Path:
    """A video model folder load_video_model accepts: the seed's network, random weights."""
    from host.video.fatigue_net import build_video_model
    from host.video.kinematics import FEATURE_NAMES
    from host.video.model_file import input_metadata, write_video_model
    from host.video.model_inputs import Standardiser
    from host.video.wavelets import LEVELS

    folder = tmp_path_factory.mktemp("video_model")
    n = len(FEATURE_NAMES)
    meta = {
        "architecture": "cnn_bilstm",
        "provenance": "simulated",
        "inputs": input_metadata(
            list(FEATURE_NAMES), LEVELS, Standardiser(np.zeros(n), np.ones(n))
        ),
    }
    write_video_model(folder, build_video_model(n, LEVELS), meta)
    return folder


@pytest.fixture(scope="module")
def study_run(video_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("fusion")
    argv = ["--subjects", "2", "--sides", "left", "--out", str(out), "--bootstrap", "20"]
    argv += ["--video-model", str(video_model), "--models-dir", str(MODELS), "--seed", str(SEED)]
    return out, argv


def test_study_rows_and_table(study_run, capsys) -> None:
    from host.video.features_file import read_features
    from host.video.model_inputs import frame_step, window_starts
    from hwsim.wearable import wear_board

    out, argv = study_run
    assert fs.main(argv) == 0
    said = capsys.readouterr().out
    assert "subject 1/2 (sim-0): left" in said and "subject 2/2 (sim-1): left" in said
    report = json.loads((out / "fusion.json").read_text())
    rows = report["rows"]
    assert report["settings"]["provenance"] == "simulated"
    assert {(r["subject"], r["side"]) for r in rows} == {("sim-0", "left"), ("sim-1", "left")}
    for code, subject in (("sim-0", 0), ("sim-1", 1)):
        mine = [r for r in rows if r["subject"] == code]
        (kin,) = (out / "sessions" / f"{code}-left").glob("*.kin.h5")
        vf = read_features(kin)
        step = frame_step(vf.track.fps)
        n_windows = len(window_starts((vf.track.n_frames + step - 1) // step))
        assert len(mine) == n_windows  # no window lacks a NIRS second (calibration 20 s)
        truth, _ = wear_board(subject=subject, side="left", seed=SEED)
        for r in mine:
            assert 0.0 <= r["p_video"] <= 1.0 and 0.0 <= r["p_nirs"] <= 1.0
            assert r["end_s"] - r["start_s"] == pytest.approx(449 * step / vf.track.fps)
            assert 1 <= r["nirs_seconds"] <= 30
            assert r["label"] == int(truth.borg.rating_at(r["end_s"]) >= 7)
    assert 0 < sum(r["label"] for r in rows) < len(rows)  # both classes: every score defined
    for name in (*fs.METHODS, *fs.NIRS_VARIANTS):
        result = report["results"][name]
        assert result["windows"] == len(rows) and result["subjects"] == 2
        assert 0.0 <= result["auc"] <= 1.0 and len(result["ci95"]["accuracy"]) == 2
        assert len(result["auc_per_fold"]) == len(report["folds"])
    assert report["folds"] == [["sim-1"], ["sim-0"]] or report["folds"] == [["sim-0"], ["sim-1"]]
    table = (out / "fusion.md").read_text()
    assert "SIMULATED" in table and table.count("| logistic regression |") == 1


def _one_error_line(capsys, code: int) -> str:
    said = capsys.readouterr()
    assert code == 2
    lines = said.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), said.err
    return lines[0]


def test_a_video_model_that_does_not_match_its_metadata_is_one_line(
    study_run, video_model, tmp_path, capsys
) -> None:
    _out, argv = study_run
    bad = tmp_path / "bad"
    shutil.copytree(video_model, bad)
    (keras_file,) = bad.glob("*.keras")
    keras_file.write_bytes(keras_file.read_bytes() + b"\0")
    argv = [*argv, "--video-model", str(bad), "--out", str(tmp_path / "o")]
    line = _one_error_line(capsys, fs.main(argv))
    assert keras_file.name in line and "sha256 differs" in line
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_video_model_metadata_missing_or_for_other_features_is_one_line(
    study_run, video_model, tmp_path, capsys
) -> None:
    _out, argv = study_run
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _one_error_line(capsys, fs.main([*argv, "--video-model", str(empty)]))
    assert "video_model.json" in line and "no such file" in line

    other = tmp_path / "other"
    shutil.copytree(video_model, other)
    meta_path = other / "video_model.json"
    meta = json.loads(meta_path.read_text())
    meta["inputs"]["feature_names"] = meta["inputs"]["feature_names"][::-1]
    meta_path.write_text(json.dumps(meta))
    argv = [*argv, "--video-model", str(other), "--out", str(tmp_path / "o")]
    line = _one_error_line(capsys, fs.main(argv))
    assert str(other) in line and "feature 0 is" in line
    assert not (tmp_path / "o").exists()


def test_check_video_inputs_names_what_differs() -> None:
    from host.video.kinematics import FEATURE_NAMES
    from host.video.wavelets import LEVELS

    fs.check_video_inputs(FEATURE_NAMES, LEVELS, Path("m"))  # the body's own: accepted
    with pytest.raises(VideoError, match="takes 5 wavelet levels; the kinematics files have 6"):
        fs.check_video_inputs(FEATURE_NAMES, 5, Path("m"))
    with pytest.raises(VideoError, match="takes 3 features; the kinematics files have 87"):
        fs.check_video_inputs(FEATURE_NAMES[:3], LEVELS, Path("m"))


def test_a_nirs_models_folder_without_its_model_is_one_line(study_run, tmp_path, capsys):
    _out, argv = study_run
    line = _one_error_line(capsys, fs.main([*argv, "--models-dir", str(tmp_path)]))
    assert str(tmp_path / "model.json") in line and "not found" in line


@pytest.mark.parametrize("n", ["1", "0", "two"])
def test_fewer_than_two_subjects_is_refused_before_any_work(n, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        fs.main(["--subjects", n, "--out", str(tmp_path / "o")])
    assert stop.value.code == 2
    assert "argument --subjects: must be a whole number >= 2" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_help_says_simulated_and_every_default(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        fs.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "SIMULATED" in text and "``" not in text and ":func:`" not in text
    options = [o for o in text.split("options:")[1].split("\n  -")[1:] if not o.startswith("h,")]
    assert len(options) == 7
    assert all("default" in " ".join(o.split()) for o in options), options
