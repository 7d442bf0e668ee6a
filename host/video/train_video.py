"""Train and test the video model on kinematics files: seed 000 §IV, and a split by person.

    python -m host video train --data DIR --out RUN [--arch bilstm|lstm] [--split windows|workers]

``DIR`` holds ``.kin.h5`` files with Borg ratings (the simulated workers of
``python -m hwsim.worker_dataset``, or real sessions extracted and rated the same way).
Windows and labels are :mod:`host.video.model_inputs`'s. Two splits:

- ``windows``: the seed's 8:1:1 over all windows pooled (§IV). Windows of one session, which
  overlap by 350 of their 450 frames, land on both sides, so the test set holds near copies
  of training windows: this flatters a model.
- ``workers``: whole people held out (the ``worker_id`` of the file's metadata, or the file
  name): 10 % of the people test, 10 % validate (at least one each), the rest train.

Training follows the seed (batch 32, Adam from 1e-4 cut by 90 % every 10 epochs, 50 epochs)
unless ``--epochs``, ``--windows-per-epoch`` or ``--learning-rate`` say otherwise: each epoch
draws that many training windows at random (all of them by default). Every choice is kept
in the model's metadata and the test metrics beside it. The run folder gets the model
(:mod:`host.video.model_file`) and ``metrics.json``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from host.video.features_file import SUFFIX, read_features
from host.video.model_inputs import Standardiser, labelled_windows, window_arrays
from host.video.model_spec import (
    BATCH_SIZE,
    EPOCHS,
    FATIGUE_BORG,
    LEARNING_RATE,
    LR_DROP,
    LR_DROP_EVERY_EPOCHS,
)
from host.video.pipeline import VideoFeatures
from host.video.track import VideoError

SPLITS = ("windows", "workers")
ARCHITECTURES = {"bilstm": True, "lstm": False}
#: Seed 000 §IV: train, validation, test.
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
#: Windows scored at once when validating and testing (memory: 14 MB each).
EVAL_BATCH = 8
#: Windows per gradient computation; a batch of 32 (the seed's) is reached by accumulating
#: the gradients of batch / MICRO_BATCH of them (measured: a batch of 32 at once took
#: 14 GB of memory here, 8 at once about a quarter).
MICRO_BATCH = 8
#: Validation windows scored after each epoch (a fixed random subset: scoring all of a
#: person's ~520 windows would take longer than the epoch).
VALIDATION_WINDOWS = 128


@dataclass
class Windows:
    """Windows drawn from the sessions: which session, first model frame, label."""

    session: np.ndarray
    start: np.ndarray
    label: np.ndarray

    def take(self, index: np.ndarray) -> Windows:
        return Windows(self.session[index], self.start[index], self.label[index])

    def __len__(self) -> int:
        return len(self.start)


def person_of(vf: VideoFeatures, path: Path) -> str:
    """The person a session belongs to: ``worker_id`` in its metadata, else the file's stem."""
    worker = vf.track.metadata.get("worker_id")
    return f"worker{int(worker):02d}" if worker is not None else path.name.split("_")[0]


def load_sessions(folder: Path, say=print) -> tuple[list[Path], list[VideoFeatures]]:
    """Every kinematics file in ``folder`` (sorted), read and checked to carry ratings."""
    paths = sorted(folder.glob(f"*{SUFFIX}"))
    if not paths:
        raise VideoError(folder, f"holds no {SUFFIX} files: give --data a folder of them")
    sessions = []
    for i, path in enumerate(paths, 1):
        vf = read_features(path)
        if len(vf.track.borg_rating) == 0:
            raise VideoError(path, "has no Borg ratings: its windows cannot be labelled")
        sessions.append(vf)
        say(f"read {i}/{len(paths)}: {path.name} ({vf.track.duration_s / 60:.1f} min)")
    return paths, sessions


def all_windows(sessions: list[VideoFeatures]) -> Windows:
    parts = [labelled_windows(vf) for vf in sessions]
    return Windows(
        np.concatenate([np.full(len(s), i) for i, (s, _) in enumerate(parts)]),
        np.concatenate([s for s, _ in parts]),
        np.concatenate([lab for _, lab in parts]),
    )


def split(
    windows: Windows, people: list[str], how: str, rng: np.random.Generator
) -> tuple[Windows, Windows, Windows, dict[str, list[str]]]:
    """Train, validation and test windows by ``how`` (see the module docstring)."""
    if how == "windows":
        order = rng.permutation(len(windows))
        n_train = int(round(SPLIT_FRACTIONS[0] * len(order)))
        n_val = int(round(SPLIT_FRACTIONS[1] * len(order)))
        parts = np.split(order, [n_train, n_train + n_val])
        return (*(windows.take(np.sort(p)) for p in parts), {})
    names = sorted(set(people))
    if len(names) < 3:
        raise VideoError("--split workers", f"needs 3 or more people, the data has {len(names)}")
    names = [names[i] for i in rng.permutation(len(names))]
    n_test = max(1, math.ceil(SPLIT_FRACTIONS[2] * len(names)))
    n_val = max(1, math.ceil(SPLIT_FRACTIONS[1] * len(names)))
    groups = {
        "test": names[:n_test],
        "validation": names[n_test : n_test + n_val],
        "train": names[n_test + n_val :],
    }
    person = np.array([people[s] for s in windows.session])
    take = {k: windows.take(np.flatnonzero(np.isin(person, v))) for k, v in groups.items()}
    return take["train"], take["validation"], take["test"], groups


def batches(sessions, windows: Windows, standardiser: Standardiser, size: int):
    """(inputs, labels) of consecutive ``size``-window batches of ``windows``."""
    for i in range(0, len(windows), size):
        part = windows.take(np.arange(i, min(i + size, len(windows))))
        voxels, wavelets = [], []
        for s in np.unique(part.session):
            mine = part.session == s
            v, w = window_arrays(sessions[s], part.start[mine], standardiser)
            voxels.append(v)
            wavelets.append(w)
        order = np.argsort(np.argsort(part.session, kind="stable"), kind="stable")
        inputs = {
            "voxels": np.concatenate(voxels)[order],
            "wavelets": np.concatenate(wavelets)[order],
        }
        yield inputs, part.label.astype(np.float32)


def scores(network, sessions, windows: Windows, standardiser: Standardiser) -> np.ndarray:
    """The network's fatigue probability of each window, in order."""
    out = [
        np.asarray(network.predict_on_batch(x)).reshape(-1)
        for x, _ in batches(sessions, windows, standardiser, EVAL_BATCH)
    ]
    return np.concatenate(out) if out else np.zeros(0)


def metrics(labels: np.ndarray, p: np.ndarray) -> dict[str, float | int | list]:
    """Accuracy, F1 of the fatigued class, macro-F1 and the confusion matrix at p ≥ 0.5."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    predicted = (p >= 0.5).astype(int)
    return {
        "windows": int(len(labels)),
        "fatigued_share": float(labels.mean()) if len(labels) else math.nan,
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1_fatigued": float(f1_score(labels, predicted, zero_division=0)),
        "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
        "confusion": confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    }


def train(
    data: Path,
    out: Path,
    *,
    arch: str = "bilstm",
    how: str = "workers",
    epochs: int = EPOCHS,
    windows_per_epoch: int | None = None,
    learning_rate: float = LEARNING_RATE,
    batch_size: int = BATCH_SIZE,
    seed: int = 2025,
    say=print,
) -> dict:
    """Train one model and test it; write it to ``out``; return its metadata."""
    import keras

    from host.video.fatigue_net import build_video_model
    from host.video.features_file import _versions
    from host.video.model_file import CLASSES, input_metadata, write_video_model

    t0 = time.perf_counter()
    paths, sessions = load_sessions(data, say)
    people = [person_of(vf, p) for vf, p in zip(sessions, paths, strict=True)]
    rng = np.random.default_rng(seed)
    windows = all_windows(sessions)
    train_w, val_w, test_w, groups = split(windows, people, how, rng)
    for name, part in (("training", train_w), ("test", test_w)):
        if len(part) == 0 or part.label.min() == part.label.max():
            kinds = "no windows" if len(part) == 0 else f"only label {int(part.label[0])}"
            whose = groups.get("train" if name == "training" else "test")
            hint = (
                f" (the {name} people: {', '.join(whose)}; another --seed draws others, "
                "--split windows pools everyone)"
                if whose
                else ""
            )
            raise VideoError(
                data,
                f"the {name} windows hold {kinds} (fatigued = Borg ≥ {FATIGUE_BORG}){hint}: "
                "a model needs both; give sessions long enough to reach it (the simulated "
                "workers need 20–45 min) and more people",
            )
    train_sessions = sorted(set(train_w.session.tolist()))
    standardiser = Standardiser.fit([sessions[i] for i in train_sessions])
    say(
        f"windows: {len(train_w)} train, {len(val_w)} validation, {len(test_w)} test "
        f"({how} split; {int(windows.label.sum())} of {len(windows)} fatigued)"
    )
    keras.utils.set_random_seed(seed)
    vf0 = sessions[0]
    network = build_video_model(
        len(vf0.feature_names), vf0.n_levels, bidirectional=ARCHITECTURES[arch]
    )
    network.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate,
            gradient_accumulation_steps=(
                batch_size // MICRO_BATCH if batch_size > MICRO_BATCH else None
            ),
        ),
        loss="binary_crossentropy",
        jit_compile=False,
    )
    if len(val_w) > VALIDATION_WINDOWS:
        val_w = val_w.take(np.sort(rng.choice(len(val_w), VALIDATION_WINDOWS, replace=False)))
    per_epoch = len(train_w) if windows_per_epoch is None else min(windows_per_epoch, len(train_w))
    best, best_loss, history = network.get_weights(), math.inf, []
    t_first = time.perf_counter()
    for epoch in range(epochs):
        rate = learning_rate * LR_DROP ** (epoch // LR_DROP_EVERY_EPOCHS)
        network.optimizer.learning_rate = rate
        chosen = train_w.take(np.sort(rng.choice(len(train_w), per_epoch, replace=False)))
        chosen = chosen.take(rng.permutation(len(chosen)))
        losses = []
        micro = min(batch_size, MICRO_BATCH)
        for x, y in batches(sessions, chosen, standardiser, micro):
            losses.append(float(np.ravel(network.train_on_batch(x, y))[0]))
            if epoch == 0 and len(losses) == 1:  # the cost of this machine, said once
                per_window = (time.perf_counter() - t_first) / micro
                say(
                    f"first batch: {per_window:.2f} s per window; {epochs} "
                    f"epoch{'s' if epochs != 1 else ''} × "
                    f"{per_epoch} windows take about "
                    f"{_duration(per_window * per_epoch * epochs)} at this pace"
                )
        p_val = scores(network, sessions, val_w, standardiser)
        eps = 1e-7
        val_loss = float(
            -np.mean(
                val_w.label * np.log(p_val + eps) + (1 - val_w.label) * np.log(1 - p_val + eps)
            )
        )
        val_acc = float(np.mean((p_val >= 0.5) == val_w.label))
        loss = float(np.mean(losses))
        if not (math.isfinite(loss) and math.isfinite(val_loss)):
            raise VideoError(
                "--learning-rate",
                f"the training diverged (loss {loss:g}, validation loss "
                f"{val_loss:g} in epoch {epoch + 1}): nothing written; give a smaller "
                f"--learning-rate than {learning_rate:g}",
            )
        history.append({"epoch": epoch + 1, "loss": loss, "val_loss": val_loss})
        say(
            f"epoch {epoch + 1}/{epochs}: loss {loss:.3f}, validation loss "
            f"{val_loss:.3f}, accuracy {val_acc:.3f} (rate {rate:.0e}, "
            f"{time.perf_counter() - t0:.0f} s)"
        )
        if val_loss < best_loss:
            best, best_loss = network.get_weights(), val_loss
    network.set_weights(best)
    say(f"testing on {len(test_w)} windows")
    test = metrics(test_w.label, scores(network, sessions, test_w, standardiser))
    provenance = sorted({vf.track.provenance for vf in sessions})
    meta = {
        "architecture": network.name,
        "source": "seed 000 §III-C (CNN–Bi-LSTM) / its CNN-LSTM comparison",
        "provenance": "simulated" if provenance == ["simulated"] else ", ".join(provenance),
        "classes": list(CLASSES),
        "label_rule": f"fatigued when the Borg CR10 rating has reached {FATIGUE_BORG}",
        "inputs": input_metadata(list(vf0.feature_names), vf0.n_levels, standardiser),
        "training": {
            "data": [p.name for p in paths],
            "split": how,
            "groups": groups,
            "windows": {"train": len(train_w), "validation": len(val_w), "test": len(test_w)},
            "epochs": epochs,
            "windows_per_epoch": per_epoch,
            "batch_size": batch_size,
            "micro_batch": MICRO_BATCH,
            "validation_windows_scored": len(val_w),
            "learning_rate": learning_rate,
            "seed": seed,
            "best_validation_loss": best_loss,
            "history": history,
            "seconds": round(time.perf_counter() - t0, 1),
        },
        "metrics": {"test": test},
        "versions": {**_versions("simulated"), "keras": keras.__version__},
    }
    write_video_model(out, network, meta)
    return meta


def _duration(seconds: float) -> str:
    """``seconds`` as '3 min' or '23.1 h'."""
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def describe_result(meta: dict[str, Any], out: Path) -> str:
    """One line: the test figures of a model :func:`train` made, and where it is."""
    test, how = meta["metrics"]["test"], meta["training"]["split"]
    majority = max(test["fatigued_share"], 1 - test["fatigued_share"])
    return (
        f"test ({how} split, {meta['provenance']}): accuracy {test['accuracy']:.3f} (always "
        f"the more common class: {majority:.3f}), F1 {test['f1_fatigued']:.3f}, macro-F1 "
        f"{test['macro_f1']:.3f} on {test['windows']} windows → {out}"
    )
