"""Late fusion of the NIRS model and the video model on simulated elbow holds, subject-wise.

Issue 16 point 4: "a late fusion of the two models' outputs is evaluated on such sessions
against each model alone (simulated, subject-wise)". For each of --subjects simulated
subjects and each arm (--sides) of the upper-limb protocol (seed 003 §3.3.1.1), the main
job (hwsim.wearable.run_wearable) plays the session: the device's own app runs the NIRS
model (--models-dir) once a second on the simulated board, and the subject's simulated
body (hwsim.body) is filmed and written as a kinematics file beside the record. The video
model (--video-model, host.video.model_file) then scores that file's windows (450 frames
every 100 at 15 frames/s: 30 s every 6.7 s). Per video window:

- p_video: the video model's probability of "fatigued";
- p_nirs: the NIRS model's probability of "fatigued" (Borg >= 7: P(exhausted) + 1/2
  P(high) under the default mapping, fatigued_weights), averaged over the window's seconds
  that have a level (a window with none is left out and counted);
- label: 1 when the subject's last Borg report at the window's last frame is >= 7 (seed
  000 §IV's split, label_at_end).

Fusions of [p_nirs, p_video]: their plain mean (no training), and a logistic regression
(scikit-learn, defaults) on their log-odds (a stacked, Platt-style calibration: Platt 1999,
"Probabilistic outputs for support vector machines"; on the raw p, both within 0-1, the
default L2 penalty shrank the weights so far that no window reached 0.5), fitted out of
fold with the folds made of whole subjects (hwsim.fusion_scores.subject_folds): no person
is on both sides of a fold, and a person's two arms stay together. Every method is scored
on the same windows: accuracy, macro-F1 and F1 of "fatigued" at p >= 0.5 and the ROC AUC,
with 95 % bootstrap intervals resampling subjects (hwsim.fusion_scores).

Written into --out: fusion.md (the table), fusion.json (everything, every window's row
too) and sessions/ (each session's record and kinematics file, about 3 MB each). Everything
here is SIMULATED: the NIRS model was trained on simulated subjects, the video model on
simulated workers doing assembly work (seed 000): it has never seen an elbow hold.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from device.argtypes import existing_dir, non_negative_int, output_dir
from device.errors import DeviceError
from device.labels import FatigueMapping
from host.model_folder import BUNDLED_MODELS
from host.session import DatasetError
from host.video.analyse import BUNDLED_VIDEO_MODEL
from host.video.model_spec import FATIGUE_BORG
from host.video.track import VideoError
from hwsim.fusion_scores import (
    BOOTSTRAP,
    MAX_FOLDS,
    SCORES,
    bootstrap_ci,
    out_of_fold,
    quick_scores,
    score,
    subject_folds,
)

__all__ = [
    "Row",
    "borg_at",
    "check_video_inputs",
    "fatigued_weights",
    "label_at_end",
    "session_rows",
    "study",
    "table",
]

#: Default seed. The study's subjects are the main job's (``sim-0``, ``sim-1`` …, seeded by
#: number in :mod:`hwsim.session_seed`), the NIRS model's training cohort's are seeded by
#: code (``S01`` …), so no seed makes them the same people; 2026 is kept so that the
#: results in docs/video_fusion.md can be made again.
DEFAULT_SEED = 2026
#: Sides of the upper-limb protocol (seed 003 §3.3.1.1: one arm, then the other).
SIDES = ("left", "right")
#: The methods, in the table's order.
METHODS = ("NIRS alone", "video alone", "mean of both", "logistic regression")
#: The sensitivity rows: the NIRS model alone with another reading of "fatigued".
#: The Borg splits of the first two (FATIGUE_BORG ∓ 1, tested: under the default mapping the
#: whole of "high" and "exhausted", or "exhausted" alone).
NIRS_VARIANTS = (
    "NIRS P(Borg>=6) (default mapping: P(high)+P(exhausted))",
    "NIRS P(Borg>=8) (default mapping: P(exhausted))",
    "NIRS at the window's last second only",
)
VARIANT_BORG = (6, 8)


@dataclass(frozen=True)
class Row:
    """One video window of one session (times in s on the device clock)."""

    subject: str
    side: str
    start_s: float
    end_s: float
    p_video: float
    p_nirs: float
    #: The NIRS model's level probabilities averaged over the window's seconds.
    nirs_levels: tuple[float, ...]
    nirs_seconds: int
    #: ``p_nirs`` of the window's last second with a level alone.
    p_nirs_last: float
    borg_at_end: float
    label: int


def fatigued_weights(mapping: FatigueMapping, borg: int | None = None) -> np.ndarray:
    """Per level, the share of its whole Borg steps at or above ``borg`` (default:
    :data:`host.video.model_spec.FATIGUE_BORG`), shape (n_levels,).

    ``p_nirs = weights · level probabilities``. With the default mapping (0–1 none, 2–3
    light, 4–5 moderate, 6–7 high, 8–10 exhausted) and Borg 7 this is
    ``P(exhausted) + ½ P(high)``: the split at 7 falls inside "high", whose two steps are
    taken as equally likely (assumption; the sensitivity rows bracket it with
    P(high) + P(exhausted), Borg ≥ 6, and P(exhausted), Borg ≥ 8).
    """
    borg = FATIGUE_BORG if borg is None else borg
    weights, low = [], 0
    for high in mapping.max_borg:
        steps = np.arange(low, high + 1)
        weights.append(float(np.mean(steps >= borg)))
        low = high + 1
    return np.asarray(weights)


def borg_at(borg_t_s: np.ndarray, borg_rating: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """The last Borg report at or before ``t_s`` (sample and hold), the shape of ``t_s``.

    Before the first report the first rating counts (as ``hwsim.borg``'s ``rating_at``).
    """
    t = np.asarray(borg_t_s, dtype=float)
    rating = np.asarray(borg_rating, dtype=float)
    i = np.searchsorted(t, np.asarray(t_s, dtype=float), side="right") - 1
    return rating[np.clip(i, 0, len(rating) - 1)]


def label_at_end(borg_t_s: np.ndarray, borg_rating: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    """1 where the Borg rating at a window's last frame ``end_s`` is ≥ 7 (seed 000 §IV's
    split, :data:`host.video.model_spec.FATIGUE_BORG`), else 0; int64, the shape of
    ``end_s``. A window that straddles the onset counts as fatigued once it ends after it
    (the seed's training cuts such windows out instead: :mod:`host.video.model_inputs`).
    """
    return (borg_at(borg_t_s, borg_rating, end_s) >= FATIGUE_BORG).astype(np.int64)


def session_rows(
    subject: str,
    side: str,
    reports: Sequence,
    windows,
    borg_t_s: np.ndarray,
    borg_rating: np.ndarray,
    weights: np.ndarray,
) -> tuple[list[Row], int]:
    """The rows of one session, and how many windows had no NIRS second with a level.

    ``reports``: the session's :class:`device.app.SecondReport` (``t_s``, ``level``,
    ``probabilities``); ``windows``: its :class:`host.video.model_file.WindowProbabilities`.
    """
    t = np.array([r.t_s for r in reports if r.level is not None and r.probabilities], float)
    probs = np.array(
        [r.probabilities for r in reports if r.level is not None and r.probabilities], float
    ).reshape(len(t), len(weights))
    ratings = borg_at(borg_t_s, borg_rating, windows.end_s)
    labels = label_at_end(borg_t_s, borg_rating, windows.end_s)
    rows, empty = [], 0
    for k, (start, end, p_video) in enumerate(
        zip(windows.start_s, windows.end_s, windows.p_fatigued)
    ):
        inside = (t >= start) & (t <= end)
        if not inside.any():
            empty += 1
            continue
        levels = probs[inside].mean(axis=0)
        rows.append(
            Row(
                subject, side, float(start), float(end), float(p_video),
                float(levels @ weights), tuple(float(v) for v in levels),
                int(inside.sum()), float(probs[inside][-1] @ weights), float(ratings[k]),
                int(labels[k]),
            )
        )  # fmt: skip
    return rows, empty


def check_video_inputs(names: Sequence[str], levels: int, folder: Path) -> None:
    """Raise VideoError unless the video model takes the kinematics the body's files hold
    (:data:`host.video.kinematics.FEATURE_NAMES` × :data:`host.video.wavelets.LEVELS`):
    checked before any session is played, not after the first."""
    from host.video.kinematics import FEATURE_NAMES
    from host.video.wavelets import LEVELS

    names = tuple(names)
    if levels != LEVELS:
        problem = f"takes {levels} wavelet levels; the kinematics files have {LEVELS}"
    elif len(names) != len(FEATURE_NAMES):
        problem = f"takes {len(names)} features; the kinematics files have {len(FEATURE_NAMES)}"
    elif names != FEATURE_NAMES:
        k = next(i for i, (a, b) in enumerate(zip(names, FEATURE_NAMES)) if a != b)
        problem = (
            f"feature {k} is {names[k]!r}; the kinematics files' is {FEATURE_NAMES[k]!r} "
            "(host.video.kinematics.FEATURE_NAMES)"
        )
    else:
        return
    raise VideoError(folder, f"the video model {problem}")


def _collect(args, say: Callable[[str], None]) -> tuple[list[Row], int, dict, FatigueMapping]:
    """Play every session and score its windows: rows, dropped windows, the models' facts,
    the NIRS model's mapping."""
    from device.inference import load_model
    from host.video.features_file import read_features
    from host.video.model_file import load_video_model
    from hwsim.wearable import run_wearable, subject_code

    video = load_video_model(args.video_model)  # ModelFileError: one line, before any work
    check_video_inputs(
        video.feature_names, video.meta["inputs"]["wavelet_levels"], args.video_model
    )
    nirs = load_model(args.models_dir, backend="onnx")
    mapping, classes = nirs.mapping, tuple(nirs.classes)
    described = nirs.describe()
    nirs.close()
    if classes != mapping.names:
        raise DeviceError(f"{args.models_dir}: classes {classes} are not its mapping's levels")
    weights = fatigued_weights(mapping)
    if args.out.exists() and any(args.out.iterdir()):  # earlier results are never replaced
        raise VideoError(args.out, "is not empty: give --out a new or empty folder")
    args.out.mkdir(parents=True, exist_ok=True)  # the models are good: now write
    say(f"NIRS: {described}")
    say(f"video: {video.describe()}")
    rows: list[Row] = []
    dropped = 0
    for i in range(args.subjects):
        t0 = time.perf_counter()
        counts = []
        for side in args.sides:
            code = subject_code(i)
            folder = args.out / "sessions" / f"{code}-{side}"
            run = run_wearable(
                side=side, subject=i, seed=args.seed, models_dir=args.models_dir, out=folder,
                emit=lambda line, c=code: say(f"{c}: {line}") if line.startswith("note") else None,
            )  # fmt: skip
            windows = video.window_probabilities(read_features(run.body.kinematics))
            borg = run.truth.borg
            got, empty = session_rows(
                code, side, run.reports, windows, borg.t_s, borg.rating, weights
            )
            rows += got
            dropped += empty
            counts.append(f"{side} {len(got)} windows")
        say(
            f"subject {i + 1}/{args.subjects} ({subject_code(i)}): {', '.join(counts)} "
            f"({time.perf_counter() - t0:.0f} s)"
        )
    models = {
        "nirs": {"folder": str(args.models_dir), "describe": described, "classes": classes},
        "video": {
            "folder": str(args.video_model),
            "describe": video.describe(),
            "sha256": video.meta["artefacts"][video.meta["keras_file"]]["sha256"],
            "training_data": video.meta.get("training", {}).get("data", []),
        },
        "nirs_fatigued_weights": weights.tolist(),
        "nirs_mapping": mapping.to_dict(),
    }
    return rows, dropped, models, mapping


def study(
    rows: list[Row],
    mapping: FatigueMapping,
    *,
    bootstrap: int,
    seed: int,
    max_folds: int = MAX_FOLDS,
) -> dict:
    """Every method's scores (with intervals) on ``rows``, the folds and the fits.

    ``mapping``: the NIRS model's (its levels are the order of ``Row.nirs_levels``).
    """
    subjects = np.array([r.subject for r in rows])
    labels = np.array([r.label for r in rows], dtype=np.int64)
    x = np.array([[r.p_nirs, r.p_video] for r in rows])
    levels = np.array([r.nirs_levels for r in rows])
    folds = subject_folds(subjects, max_folds)
    p_lr, fits = out_of_fold(x, labels, folds)
    predictions = {
        METHODS[0]: x[:, 0],
        METHODS[1]: x[:, 1],
        METHODS[2]: x.mean(axis=1),
        METHODS[3]: p_lr,
        NIRS_VARIANTS[0]: levels @ fatigued_weights(mapping, VARIANT_BORG[0]),
        NIRS_VARIANTS[1]: levels @ fatigued_weights(mapping, VARIANT_BORG[1]),
        NIRS_VARIANTS[2]: np.array([r.p_nirs_last for r in rows]),
    }
    rng = np.random.default_rng([seed, 16])
    results = {}
    for name, p in predictions.items():
        results[name] = score(labels, p)
        results[name]["subjects"] = len(np.unique(subjects))
        # Within each fold, on its own subjects: pooled out-of-fold p mixes the folds'
        # regressions, each on its own scale, which the pooled AUC above pays for.
        results[name]["auc_per_fold"] = [quick_scores(labels[t], p[t])["auc"] for _, t in folds]
        if bootstrap:
            results[name]["ci95"] = bootstrap_ci(labels, p, subjects, rng, bootstrap)
    by_label = {
        str(k): {
            "windows": int((labels == k).sum()),
            "p_video_mean": float(x[labels == k, 1].mean()) if (labels == k).any() else math.nan,
            "p_video_sd": float(x[labels == k, 1].std()) if (labels == k).any() else math.nan,
            "p_nirs_mean": float(x[labels == k, 0].mean()) if (labels == k).any() else math.nan,
        }
        for k in (0, 1)
    }
    return {
        "results": results,
        "by_label": by_label,
        "folds": [sorted(set(subjects[test].tolist())) for _, test in folds],
        "logistic_fits": fits,
    }


def _cell(result: dict, key: str) -> str:
    value = result[key]
    ci = result.get("ci95", {}).get(key)
    text = "–" if value != value else f"{value:.3f}"
    return text if ci is None or ci[0] != ci[0] else f"{text} [{ci[0]:.2f}, {ci[1]:.2f}]"


def table(report: dict) -> str:
    """The Markdown report: the comparison table, the sensitivity rows, the video's p."""
    res = report["results"]
    head = "| SIMULATED | windows | subjects | accuracy | macro-F1 | F1 fatigued | AUC |\n"
    rule = "|---|---:|---:|---:|---:|---:|---:|\n"

    def line(name: str) -> str:
        r = res[name]
        cells = " | ".join(_cell(r, k) for k in SCORES)
        return f"| {name} | {r['windows']} | {r['subjects']} | {cells} |\n"

    s = report["settings"]
    lab = report["by_label"]
    fits = [f for f in report["logistic_fits"] if "coef_video" in f]
    coefs = (
        f"logistic regression weights on the log-odds (mean over {len(fits)} folds): NIRS "
        f"{np.mean([f['coef_nirs'] for f in fits]):+.2f}, video "
        f"{np.mean([f['coef_video'] for f in fits]):+.2f}, intercept "
        f"{np.mean([f['intercept'] for f in fits]):+.2f}"
        if fits
        else "no fold could fit a logistic regression (one class)"
    )
    fold_auc = ", ".join(
        f"{m} {np.nanmean(res[m]['auc_per_fold']):.3f}"
        if np.isfinite(res[m]["auc_per_fold"]).any()
        else f"{m} –"
        for m in METHODS
    )
    return (
        f"# Late fusion of the NIRS and video models: SIMULATED\n\n"
        f"{s['subjects']} simulated subjects (seed {s['seed']}), sides {', '.join(s['sides'])}, "
        f"upper-limb protocol (seed 003 §3.3.1.1); video model `{s['video_model']}`, NIRS "
        f"model `{s['models_dir']}`. Label: Borg ≥ {FATIGUE_BORG} at the window's end. "
        f"Folds by subject: {len(report['folds'])}. Threshold 0.5; [95 % bootstrap over "
        f"subjects, {s['bootstrap']} resamples].\n\n"
        + head + rule + "".join(line(m) for m in METHODS)
        + "\nSensitivity: the NIRS model alone with another reading of \"fatigued\".\n\n"
        + head + rule + "".join(line(m) for m in NIRS_VARIANTS)
        + f"\nVideo p: {lab['0']['p_video_mean']:.3f} ± {lab['0']['p_video_sd']:.3f} on "
        f"{lab['0']['windows']} not-fatigued windows, {lab['1']['p_video_mean']:.3f} ± "
        f"{lab['1']['p_video_sd']:.3f} on {lab['1']['windows']} fatigued ones (mean ± SD); "
        f"{coefs}. AUC within each fold's own subjects, mean over the folds (pooled "
        f"out-of-fold p mixes the folds' regressions, each on its own scale): {fold_auc}. "
        f"Windows with no NIRS level (calibration): {report['dropped_windows']}, left out.\n"
    )  # fmt: skip


def _no_nan(value: object) -> object:
    """``value`` with every NaN as None (JSON has no NaN)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def _subjects(text: str) -> int:
    """--subjects: a whole number >= 2 (the folds are made of subjects)."""
    try:
        value = int(text, 10)
    except ValueError:
        value = None
    if value is None or value < 2:
        raise argparse.ArgumentTypeError(
            f"must be a whole number >= 2 (folds by subject need two), got {text!r}"
        )
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hwsim.fusion_study",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--subjects", type=_subjects, required=True,
        help="simulated subjects, sim-0 to sim-(N-1), at least 2 (required, no default)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=output_dir, required=True,
        help="folder for fusion.md, fusion.json and sessions/, made if missing (required, "
        "no default)",
    )  # fmt: skip
    parser.add_argument(
        "--video-model", type=existing_dir, default=BUNDLED_VIDEO_MODEL,
        help="folder of the video model, host.video.model_file (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--models-dir", type=existing_dir, default=BUNDLED_MODELS,
        help="folder of the NIRS model, model.json and fusion.onnx (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=non_negative_int, default=DEFAULT_SEED,
        help="seed of the subjects (default: %(default)s; none of them is one the NIRS "
        "model trained on, whatever the seed)",
    )  # fmt: skip
    parser.add_argument(
        "--sides", nargs="+", choices=SIDES, default=list(SIDES),
        help=f"arms to simulate per subject (default: {' '.join(SIDES)})",
    )  # fmt: skip
    parser.add_argument(
        "--bootstrap", type=non_negative_int, default=BOOTSTRAP,
        help="resamples of subjects for the 95 %% intervals, 0: none (default: %(default)s)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    # TensorFlow's start-up lines (host.video.model_file loads Keras) off stderr, where the
    # one error line goes; a user's own setting wins (as host.video.cli).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.perf_counter()
    try:
        rows, dropped, models, mapping = _collect(args, say)
        report = study(rows, mapping, bootstrap=args.bootstrap, seed=args.seed)
        report["settings"] = {
            "provenance": "simulated",
            "subjects": args.subjects,
            "seed": args.seed,
            "sides": list(args.sides),
            "bootstrap": args.bootstrap,
            "video_model": str(args.video_model),
            "models_dir": str(args.models_dir),
            "label_rule": f"Borg (last report) >= {FATIGUE_BORG} at the window's last frame",
            "seconds": round(time.perf_counter() - t0, 1),
        }
        report["models"] = models
        report["dropped_windows"] = dropped
        report["rows"] = [asdict(r) for r in rows]
        (args.out / "fusion.json").write_text(json.dumps(_no_nan(report), indent=1) + "\n")
        (args.out / "fusion.md").write_text(table(report))
    except (DatasetError, VideoError, DeviceError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # ModelFileError is a DatasetError
        return 2
    print(table(report))
    say(
        f"SIMULATED: {len(rows)} windows of {args.subjects} subjects in "
        f"{time.perf_counter() - t0:.0f} s → {args.out / 'fusion.md'}, {args.out / 'fusion.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
