"""Training and honest evaluation of the fatigue model and the seed's baselines.

Two cross-validations on the same windows:

- ``stratified``: the seed's 5-fold stratified split of windows. Windows of one
  person (and overlapping windows of one trial) land on both sides, so this
  leaks; it is reported because the seed reports it.
- ``subject``: GroupKFold by subject: no subject is in training and test at once.
  This is what a new wearer would see.

In every fold the normalisation is fitted on the fold's training windows only, and
early stopping watches a validation part carved from the training side (other
subjects for the subject-wise scheme), never the test fold.

``python -m host train --dataset data/cohort`` runs both cross-validations for the
fusion model and the baselines, writes the comparison (Markdown, CSV, plot,
confusion matrices) to ``reports/`` of a new model folder and the final model, trained
on all windows, to that folder (:mod:`host.train_cli`, :mod:`host.model_folder`).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from device.features import (
    CHANNELS,
    MODEL_RATE_HZ,
    N_SAMPLE_STATISTICS,
    N_STATISTICS,
    SAMPLE_CHANNELS,
    STEP_SAMPLES,
    WINDOW_SAMPLES,
    Normaliser,
    statistic_names,
)
from device.labels import FatigueMapping
from host.dataset import load_dataset
from host.model_folder import artefact_entry, utc_now
from host.train_report import metrics, non_fatigue_low_share, write_reports
from host.windows import (
    Windows,
    channel_array,
    concat_windows,
    cut_windows,
    fit_normaliser,
    normalise,
)

SCHEMES = ("stratified", "subject")
CLASSIC_MODELS = (
    "random_forest",
    "bagged_trees",
    "boosted_trees",
    "rbf_svm",
    "cubic_svm",
    "quadratic_svm",
    "boosted_trees_context",
)
#: Models that see the context channels (device.features): the fusion model, and one
#: control, the best seed baseline given them too, so that the table shows how much of
#: the fusion model's lead is the context and how much the network.
CONTEXT_MODELS = ("fusion", "boosted_trees_context")
DEEP_MODEL_NAMES = ("fusion", "lstm", "cnn", "transformer")
DISPLAY_NAMES = {
    "fusion": "Fusion CNN-LSTM + MLP (ours)",
    "lstm": "LSTM",
    "cnn": "CNN",
    "transformer": "Transformer",
    "random_forest": "Random Forest",
    "bagged_trees": "Bagged Trees",
    "boosted_trees": "Boosted Trees (gradient)",
    "rbf_svm": "RBF-SVM",
    "cubic_svm": "Cubic SVM (deg 3)",
    "quadratic_svm": "Quadratic SVM (deg 2)",
    "boosted_trees_context": "Boosted Trees + context channels (control)",
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; recorded in model.json."""

    seed: int = 2025
    folds: int = 5
    max_epochs: int = 25
    patience: int = 4  # EarlyStopping on validation loss
    lr_patience: int = 2  # ReduceLROnPlateau
    #: 256 trains these small models 1.6x faster per window than 64 on this CPU (measured).
    batch_size: int = 256
    val_fraction: float = 0.15
    #: SVMs scale with the square of the training set: they see a random subset of at
    #: most this many training windows per fold (neighbouring windows overlap 90 %).
    svm_max_train: int = 5000
    #: Samples between the windows training and evaluation take (30: one every 3 s; the
    #: wearable predicts every second, but neighbouring windows overlap by 90 %, and a
    #: third of them trains as well in a third of the time: issue 19's 30-minute budget).
    window_step_samples: int = 3 * STEP_SAMPLES
    models: tuple[str, ...] = DEEP_MODEL_NAMES + CLASSIC_MODELS

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(DEEP_MODEL_NAMES + CLASSIC_MODELS)
        if unknown:
            raise ValueError(
                f"unknown model(s) {sorted(unknown)}; choose from "
                f"{list(DEEP_MODEL_NAMES + CLASSIC_MODELS)}"
            )
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if self.window_step_samples < 1:
            raise ValueError(f"window_step_samples must be >= 1, got {self.window_step_samples}")


#: For the tests: seconds, not minutes.
TINY = TrainConfig(
    folds=2,
    max_epochs=2,
    patience=1,
    batch_size=64,
    svm_max_train=300,
    models=("fusion", "cnn", "random_forest"),
)


# -- data ---------------------------------------------------------------------------------------


@dataclass
class WindowSet:
    """All windows of a dataset plus what training must record about it."""

    windows: Windows
    mapping: FatigueMapping
    provenance: frozenset[str]
    n_sessions: int
    source: str


def load_windows(folder: Path, *, progress: bool = False, step: int = STEP_SAMPLES) -> WindowSet:
    """Cut every session of a dataset folder into model windows (grouped by subject), a
    window every ``step`` samples."""
    dataset = load_dataset(folder, progress=progress)
    parts = []
    for rec in dataset.records:
        ch = channel_array(d_od=rec.d_od, d_hbo2_um=rec.d_hbo2_um, d_hhb_um=rec.d_hhb_um)
        parts.append(
            cut_windows(
                ch,
                rec.level,
                rec.t_s,
                group=rec.subject_id,
                protocol=rec.protocol,
                flags=rec.flags,
                step=step,
            )
        )
    first = dataset.records[0]
    mapping = FatigueMapping(names=tuple(first.level_names), max_borg=tuple(first.borg_thresholds))
    return WindowSet(
        concat_windows(parts), mapping, dataset.provenance, len(dataset.records), str(folder)
    )


# -- folds --------------------------------------------------------------------------------------


def folds(
    scheme: str, labels: np.ndarray, groups: np.ndarray, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs for a scheme; subject-wise folds share no subject."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    idx = np.arange(len(labels))
    if scheme == "stratified":
        split = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(idx, labels)
    elif scheme == "subject":
        n_subjects = len(set(groups))
        if n_subjects < n_folds:
            raise ValueError(f"subject-wise CV needs >= {n_folds} subjects, have {n_subjects}")
        split = GroupKFold(n_folds, shuffle=True, random_state=seed).split(idx, labels, groups)
    else:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    out = [(np.asarray(tr), np.asarray(te)) for tr, te in split]
    if scheme == "subject":
        for tr, te in out:
            shared = set(groups[tr]) & set(groups[te])
            if shared:  # a guard, not a hope: leakage would make every figure meaningless
                raise AssertionError(f"subjects on both sides of a fold: {sorted(shared)}")
    return out


def validation_split(
    train: np.ndarray,
    scheme: str,
    labels: np.ndarray,
    groups: np.ndarray,
    fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Carve an early-stopping validation part out of the training indices only."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

    if scheme == "subject" and len(set(groups[train])) >= 2:
        splitter = GroupShuffleSplit(1, test_size=fraction, random_state=seed)
        fit, val = next(splitter.split(train, labels[train], groups[train]))
    else:
        splitter = StratifiedShuffleSplit(1, test_size=fraction, random_state=seed)
        fit, val = next(splitter.split(train, labels[train]))
    return train[fit], train[val]


# -- one model on one split ------------------------------------------------------------------------


@dataclass
class FitResult:
    probabilities: np.ndarray  # (n_test, 5)
    epochs: int
    seconds: float
    model: object = None
    normaliser: Normaliser | None = None
    #: (5,) decision offsets folded into the model (:mod:`host.decision`), or None.
    offsets: np.ndarray | None = None


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # a new model per fold retraces by design


def fit_and_predict(
    name: str,
    w: Windows,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    test_idx: np.ndarray,
    config: TrainConfig,
    seed: int,
) -> FitResult:
    """Train ``name`` on ``fit_idx`` (early stopping on ``val_idx``), predict ``test_idx``.

    The normaliser sees the fitting windows only.
    """
    t0 = time.perf_counter()
    norm = fit_normaliser(w.sequences[fit_idx], w.stats[fit_idx])
    seq, st = normalise(norm, w.sequences, w.stats)
    if name not in CONTEXT_MODELS:  # the seed's channels: the first 8 and 40 (channel-major)
        seq, st = seq[..., : len(SAMPLE_CHANNELS)], st[:, :N_SAMPLE_STATISTICS]
    y = w.labels
    if name in DEEP_MODEL_NAMES:
        _quiet_tf()
        import keras

        from host.models import DEEP_MODELS, balanced_weights, soft_labels

        keras.utils.set_random_seed(seed)
        spec = DEEP_MODELS[name]
        model = spec.build()

        def inputs(i: np.ndarray) -> list[np.ndarray] | np.ndarray:
            return [seq[i], st[i]] if spec.uses_stats else seq[i]

        def targets(i: np.ndarray) -> np.ndarray:
            return soft_labels(y[i]) if spec.ordinal else y[i]

        def weights(i: np.ndarray) -> np.ndarray | None:
            return balanced_weights(y[i]) if spec.balanced else None

        history = model.fit(
            inputs(fit_idx),
            targets(fit_idx),
            sample_weight=weights(fit_idx),
            validation_data=(inputs(val_idx), targets(val_idx), weights(val_idx)),
            epochs=config.max_epochs,
            batch_size=config.batch_size,
            verbose=0,
            callbacks=[
                keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True),
                keras.callbacks.ReduceLROnPlateau(patience=config.lr_patience, factor=0.5),
            ],
        )
        offsets = None
        if spec.tuned:
            from host.decision import fold_into_model, tune_offsets

            val_probs = model.predict(inputs(val_idx), batch_size=1024, verbose=0)
            offsets = tune_offsets(val_probs, y[val_idx])
            fold_into_model(model, offsets)
        probs = model.predict(inputs(test_idx), batch_size=1024, verbose=0)
        epochs = len(history.history["loss"])
        return FitResult(probs, epochs, time.perf_counter() - t0, model, norm, offsets)
    model = _classic(name, seed)
    fit_rows = fit_idx
    if name.endswith("svm") and len(fit_idx) > config.svm_max_train:
        fit_rows = np.random.default_rng(seed).choice(fit_idx, config.svm_max_train, replace=False)
    model.fit(st[fit_rows], y[fit_rows])
    probs = np.zeros((len(test_idx), 5))
    probs[np.arange(len(test_idx)), model.predict(st[test_idx])] = 1.0
    return FitResult(probs, 0, time.perf_counter() - t0, model, norm)


def _classic(name: str, seed: int):
    from sklearn.ensemble import (
        BaggingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {
        "random_forest": lambda: RandomForestClassifier(200, n_jobs=2, random_state=seed),
        "bagged_trees": lambda: BaggingClassifier(
            DecisionTreeClassifier(), n_estimators=50, n_jobs=2, random_state=seed
        ),
        "boosted_trees": lambda: HistGradientBoostingClassifier(random_state=seed),
        "boosted_trees_context": lambda: HistGradientBoostingClassifier(random_state=seed),
        "rbf_svm": lambda: SVC(kernel="rbf", random_state=seed),
        "cubic_svm": lambda: SVC(kernel="poly", degree=3, random_state=seed),
        "quadratic_svm": lambda: SVC(kernel="poly", degree=2, random_state=seed),
    }[name]()


def cross_validate(
    name: str, data: WindowSet, scheme: str, config: TrainConfig, log: Callable[[str], None]
) -> dict:
    """Out-of-fold predictions of one model under one scheme, and their metrics."""
    w = data.windows
    pred = np.full(len(w.labels), -1)
    epochs, seconds = [], 0.0
    for k, (train, test) in enumerate(folds(scheme, w.labels, w.groups, config.folds, config.seed)):
        fit_idx, val_idx = validation_split(
            train, scheme, w.labels, w.groups, config.val_fraction, config.seed + k
        )
        res = fit_and_predict(name, w, fit_idx, val_idx, test, config, config.seed + k)
        pred[test] = res.probabilities.argmax(axis=1)
        epochs.append(res.epochs)
        seconds += res.seconds
        log(
            f"  {name:14s} {scheme:10s} fold {k + 1}/{config.folds}: "
            f"acc {np.mean(pred[test] == w.labels[test]):.3f}  ({res.seconds:5.1f} s"
            + (f", {res.epochs} epochs)" if res.epochs else ")")
        )
    out = metrics(w.labels, pred)
    out.update(non_fatigue_low_share(pred, w.protocols))
    out.update(seconds=round(seconds, 1), epochs=epochs)
    return out


# -- the final model ----------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in (
        "tensorflow-cpu",
        "keras",
        "numpy",
        "scikit-learn",
        "tf2onnx",
        "onnx",
        "onnxruntime",
    ):  # not rknn-toolkit2: training does not use it; host/convert.py records its version
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def train_final(data: WindowSet, config: TrainConfig, log: Callable[[str], None]) -> FitResult:
    """The shipped fusion model: all windows, early stopping on held-out subjects."""
    w = data.windows
    every = np.arange(len(w.labels))
    fit_idx, val_idx = validation_split(
        every, "subject", w.labels, w.groups, config.val_fraction, config.seed
    )
    res = fit_and_predict("fusion", w, fit_idx, val_idx, val_idx, config, config.seed)
    acc = float(np.mean(res.probabilities.argmax(1) == w.labels[val_idx]))
    n_val = len(set(w.groups[val_idx]))
    log(
        f"  final fusion model: {res.epochs} epochs, {res.seconds:.0f} s, accuracy on its "
        f"{n_val} held-out validation subject{'' if n_val == 1 else 's'} {acc:.3f}"
        + (" (its decision offsets were tuned on them)" if res.offsets is not None else "")
    )
    return res


def model_metadata(
    data: WindowSet, config: TrainConfig, results: dict, final: FitResult, command: str
) -> dict:
    """Everything the device and a reader of model.json need to know."""
    n_subjects = len(set(data.windows.groups))
    return {
        "model": "fusion CNN-LSTM + MLP (seed 003 §3.2.4)",
        "inputs": {
            "sequence": {
                "shape": [WINDOW_SAMPLES, len(CHANNELS)],
                "channels": list(CHANNELS),
                "rate_hz": MODEL_RATE_HZ,
            },
            "statistics": {"shape": [N_STATISTICS], "names": statistic_names()},
            "window_step_samples": STEP_SAMPLES,
        },
        "classes": list(data.mapping.names),
        "borg_mapping": data.mapping.to_dict(),
        "normalisation": final.normaliser.to_dict(),
        "provenance": {
            "data": sorted(data.provenance),
            "note": "trained and evaluated on SIMULATED subjects (hwsim); no human recordings"
            if data.provenance == {"simulated"}
            else "includes human recordings",
            "dataset": data.source,
            "sessions": data.n_sessions,
            "subjects": n_subjects,
            "windows": int(len(data.windows.labels)),
        },
        "metrics": {
            "label": f"{', '.join(sorted(data.provenance))} data, out-of-fold",
            **{
                scheme: {k: v for k, v in m.items() if k != "epochs"}
                for scheme, m in results.get("fusion", {}).items()
            },
        },
        "training": {
            **asdict(config),
            "final_epochs": final.epochs,
            # Added to the softmax layer's bias, already in fusion.keras (host.decision).
            "decision_offsets": None if final.offsets is None else final.offsets.tolist(),
            "command": command,
        },
        "tool_versions": _versions(),
        "created": utc_now(),  # UTC, when this model.json was written
        "artefacts": {},
    }


def _low_note(m: dict) -> str:
    share = m.get("low_share_row")
    return "" if share is None else f"; cuff + light work none/light {share:.1%} (subject-wise)"


def run(
    dataset: Path,
    *,
    models_dir: Path,
    reports_dir: Path,
    config: TrainConfig,
    command: str,
    log: Callable[[str], None] = print,
) -> dict:
    """The whole job: CV of every model in both schemes, reports, final model, model.json."""
    t0 = time.perf_counter()
    data = load_windows(dataset, step=config.window_step_samples)
    w = data.windows
    log(
        f"{len(w.labels)} windows from {data.n_sessions} sessions of {len(set(w.groups))} "
        f"subjects ({', '.join(sorted(data.provenance))}); "
        f"windows per level {np.bincount(w.labels, minlength=5).tolist()}"
    )
    results: dict[str, dict[str, dict]] = {}
    for name in config.models:
        results[name] = {
            scheme: cross_validate(name, data, scheme, config, log) for scheme in SCHEMES
        }
        log(
            f"{DISPLAY_NAMES[name]}: "
            + ", ".join(
                f"{s} acc {m['accuracy']:.3f} macro-F1 {m['macro_f1']:.3f} "
                f"MAE {m['mae_level']:.2f}"
                for s, m in results[name].items()
            )
            + _low_note(results[name]["subject"])
        )
    ranked = sorted(results, key=lambda n: -results[n]["subject"]["macro_f1"])
    log(
        "subject-wise macro-F1 (what a new wearer would see), best first: "
        + ", ".join(f"{DISPLAY_NAMES[n]} {results[n]['subject']['macro_f1']:.3f}" for n in ranked)
    )
    paths = write_reports(results, data, config, reports_dir, command=command)
    final = train_final(data, config, log)
    models_dir.mkdir(parents=True, exist_ok=True)
    keras_path = models_dir / "fusion.keras"
    final.model.save(keras_path)
    meta = model_metadata(data, config, results, final, command)
    meta["artefacts"][keras_path.name] = artefact_entry(keras_path)
    (models_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    log(
        f"wrote {keras_path}, {models_dir / 'model.json'} and {len(paths)} report files in "
        f"{reports_dir} ({time.perf_counter() - t0:.0f} s in all)"
    )
    return {"results": results, "reports": paths, "metadata": meta}


def main_args(argv: list[str] | None = None) -> int:
    """``python -m host train`` (options and checks: :mod:`host.train_cli`)."""
    from host.train_cli import main

    return main(argv)
