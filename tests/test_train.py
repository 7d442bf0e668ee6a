"""Training and evaluation: no leakage, honest normalisation, a complete model bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device import features as ft
from host import train
from host import windows as hw


def synthetic_windows(n_subjects: int = 6, per_subject: int = 40, seed: int = 0) -> hw.Windows:
    rng = np.random.default_rng(seed)
    n = n_subjects * per_subject
    labels = np.tile(np.arange(5), n // 5 + 1)[:n]
    seq = rng.normal(size=(n, ft.WINDOW_SAMPLES, len(ft.CHANNELS))) + labels[:, None, None]
    seq[:, 0, 0] = np.arange(n)  # a marker: window i carries i in its first value
    groups = np.repeat([f"S{i:02d}" for i in range(n_subjects)], per_subject).astype(object)
    protocols = np.full(n, "upper_limb", dtype=object)
    return hw.Windows(
        seq, hw.window_statistics(seq), labels, np.arange(n, dtype=float), groups, protocols
    )


def test_subject_wise_folds_never_share_a_subject():
    w = synthetic_windows()
    for tr, te in train.folds("subject", w.labels, w.groups, 3, seed=1):
        assert not set(w.groups[tr]) & set(w.groups[te])
        assert len(tr) + len(te) == len(w.labels)
    # The seed's stratified folds do put one person on both sides: why both are reported.
    leaks = [
        set(w.groups[tr]) & set(w.groups[te])
        for tr, te in train.folds("stratified", w.labels, w.groups, 3, seed=1)
    ]
    assert all(leaks)


def test_a_leaking_splitter_is_caught(monkeypatch):
    import sklearn.model_selection as ms

    class LeakyGroupKFold:
        def __init__(self, *args, **kwargs):
            pass

        def split(self, idx, labels, groups):
            half = len(idx) // 2
            yield idx[: half + 5], idx[half:]  # windows of one subject on both sides

    monkeypatch.setattr(ms, "GroupKFold", LeakyGroupKFold)
    w = synthetic_windows()
    with pytest.raises(AssertionError, match="subjects on both sides of a fold"):
        train.folds("subject", w.labels, w.groups, 2, seed=0)


def test_validation_comes_from_training_subjects_only():
    w = synthetic_windows(n_subjects=8)
    for tr, te in train.folds("subject", w.labels, w.groups, 4, seed=2):
        fit, val = train.validation_split(tr, "subject", w.labels, w.groups, 0.25, seed=3)
        assert set(fit) | set(val) == set(tr) and not set(fit) & set(val)
        assert not set(w.groups[val]) & set(w.groups[fit])  # other subjects, for early stopping
        assert not set(val) & set(te)


def test_normalisation_is_fitted_on_training_windows_only(monkeypatch):
    w = synthetic_windows()
    seen: list[np.ndarray] = []
    original = hw.fit_normaliser

    def spy(sequences, stats):
        seen.append(sequences[:, 0, 0].copy())  # the markers of the windows it was given
        return original(sequences, stats)

    monkeypatch.setattr(train, "fit_normaliser", spy)
    tr, te = train.folds("subject", w.labels, w.groups, 3, seed=0)[0]
    fit, val = train.validation_split(tr, "subject", w.labels, w.groups, 0.2, seed=0)
    res = train.fit_and_predict("random_forest", w, fit, val, te, train.TINY, seed=0)
    assert len(seen) == 1
    assert set(seen[0].astype(int)) == set(fit)
    assert not set(seen[0].astype(int)) & set(te)
    assert res.probabilities.shape == (len(te), 5)


def test_unknown_model_names_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        train.TrainConfig(models=("fusion", "xgboost"))


def test_tiny_training_run_writes_a_complete_labelled_bundle(tiny_training):
    config, lines, out = tiny_training["config"], tiny_training["log"], tiny_training["result"]
    tmp_path = tiny_training["root"]
    meta = json.loads((tmp_path / "models" / "model.json").read_text())
    assert meta["provenance"]["data"] == ["simulated"]
    assert "SIMULATED" in meta["provenance"]["note"]
    assert set(meta["metrics"]) == {"label", "stratified", "subject"}
    assert meta["metrics"]["label"].startswith("simulated")
    assert meta["classes"] == ["none", "light", "moderate", "high", "exhausted"]
    assert meta["borg_mapping"]["max_borg"] == [1, 3, 5, 7, 10]
    assert ft.Normaliser.from_dict(meta["normalisation"])  # loads back
    assert meta["training"]["seed"] == config.seed and meta["tool_versions"]["keras"]
    md = (tmp_path / "reports" / "comparison.md").read_text()
    assert "SIMULATED data" in md and "Random Forest" in md and "pytest tiny run" in md
    assert (tmp_path / "reports" / "confusion_fusion_subject.png").stat().st_size > 1000
    assert any("final fusion model" in line for line in lines)

    import keras

    model = keras.saving.load_model(tmp_path / "models" / "fusion.keras")
    assert model.input_shape == [(None, 100, 12), (None, 60)]  # with the context channels
    # The decision offsets tuned on the validation subjects are recorded (host.decision).
    offsets = meta["training"]["decision_offsets"]
    assert len(offsets) == 5 and offsets[0] == 0.0
    assert out["results"]["fusion"]["subject"]["n_windows"] > 0
