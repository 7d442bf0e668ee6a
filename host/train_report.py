"""The comparison a training run writes: metrics, tables, plots and confusion matrices.

Besides accuracy and macro-F1 (the seed's figures), issue 19 asks for what a coach would
read: how far a wrong level is from the truth (mean absolute level error, share within
one level) and whether sessions in which nobody tires stay low: the share of windows of
a passive cuff occlusion and of light dynamic work classified "none" or "light".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from device.features import STEP_SAMPLES
from host.session import NON_FATIGUE_PROTOCOLS

if TYPE_CHECKING:
    from host.train import TrainConfig, WindowSet

#: Levels that count as "none or light" (the first two of the five).
LOW_LEVELS = 2
#: The sessions of the issue's row: a passive cuff occlusion and light dynamic work.
LOW_ROW_PROTOCOLS = ("cuff_occlusion", "light_work")


def metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 5) -> dict:
    """Accuracy, macro-F1, per-class recall, the confusion matrix, mean absolute level
    error (levels) and the share of windows within one level of the truth."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    labels = list(range(n_classes))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)
        ),
        "recall": [
            float(r)
            for r in recall_score(y_true, y_pred, average=None, labels=labels, zero_division=0)
        ],
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "mae_level": float(np.mean(np.abs(np.asarray(y_pred) - np.asarray(y_true)))),
        "within_one": float(np.mean(np.abs(np.asarray(y_pred) - np.asarray(y_true)) <= 1)),
        "n_windows": int(len(y_true)),
    }


def non_fatigue_low_share(y_pred: np.ndarray, protocols: np.ndarray) -> dict:
    """Share of the windows of each session kind in which nobody tires that are predicted
    none or light, and of the cuff occlusions and light work together (None: none there).

    Args:
        y_pred: (n,) predicted levels.
        protocols: (n,) each window's protocol.

    Returns:
        ``{"low_share": {protocol: share, ...}, "low_share_row": share}``.
    """
    y_pred, protocols = np.asarray(y_pred), np.asarray(protocols)
    if y_pred.shape != protocols.shape:
        raise ValueError(f"{y_pred.shape} predictions but {protocols.shape} protocols")
    low = y_pred < LOW_LEVELS
    shares = {
        p: float(low[protocols == p].mean())
        for p in NON_FATIGUE_PROTOCOLS
        if (protocols == p).any()
    }
    row = np.isin(protocols, LOW_ROW_PROTOCOLS)
    return {"low_share": shares, "low_share_row": float(low[row].mean()) if row.any() else None}


#: The comparison's columns: (key in a row, heading, the scheme's metric it comes from).
COLUMNS = (
    ("stratified_accuracy", "stratified acc", "stratified", "accuracy"),
    ("stratified_macro_f1", "stratified macro-F1", "stratified", "macro_f1"),
    ("subject_accuracy", "subject-wise acc", "subject", "accuracy"),
    ("subject_macro_f1", "subject-wise macro-F1", "subject", "macro_f1"),
    ("subject_mae_level", "subject-wise MAE (levels)", "subject", "mae_level"),
    ("subject_within_one", "subject-wise within one", "subject", "within_one"),
    ("subject_low_share_row", "cuff + light work: none/light", "subject", "low_share_row"),
)


def comparison_rows(results: dict[str, dict[str, dict]]) -> list[dict]:
    """One row per model: :data:`COLUMNS` of its cross-validations (NaN when not run)."""
    from host.train import DISPLAY_NAMES

    rows = []
    for name, by_scheme in results.items():
        row = {"model": DISPLAY_NAMES[name]}
        for key, _, scheme, metric in COLUMNS:
            value = by_scheme.get(scheme, {}).get(metric)
            row[key] = np.nan if value is None else float(value)
        rows.append(row)
    return rows


def _cell(value: float | None) -> str:
    """A figure of the table; "–" where there is none (no cuff or light-work sessions)."""
    return "–" if value is None or value != value else f"{value:.3f}"


def write_reports(
    results: dict[str, dict[str, dict]],
    data: WindowSet,
    config: TrainConfig,
    out: Path,
    *,
    command: str,
) -> dict[str, Path]:
    """Comparison table (Markdown, CSV), bar plot and confusion matrices."""
    from matplotlib.figure import Figure

    from host.train import DISPLAY_NAMES

    out.mkdir(parents=True, exist_ok=True)
    rows = comparison_rows(results)
    provenance = ", ".join(sorted(data.provenance)).upper()
    n_subjects = len(set(data.windows.groups))
    header = (
        f"Model comparison on {provenance} data: {data.n_sessions} sessions of {n_subjects} "
        f"subjects, {len(data.windows.labels)} windows of 10 s (one every "
        f"{config.window_step_samples / STEP_SAMPLES:g} s).\n"  # STEP_SAMPLES: one second
        f"Stratified = the seed's stratified CV over windows ({config.folds} folds; the seed "
        f"has 5; leaks across subjects); "
        f"subject-wise = GroupKFold by subject ({config.folds} folds). MAE: mean absolute "
        f"error of the level (0–4); within one: share of windows at most one level off; "
        f"cuff + light work: share of the windows of passive cuff occlusions and light "
        f"dynamic work (nobody tires) predicted none or light.\n"
        f"Made by: `{command}`\n"
    )
    lines = [
        header,
        "| model | " + " | ".join(c[1] for c in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for r in rows:
        lines.append(f"| {r['model']} | " + " | ".join(_cell(r[c[0]]) for c in COLUMNS) + " |")
    md = out / "comparison.md"
    md.write_text("\n".join(lines) + "\n")
    csv = out / "comparison.csv"
    keys = ["model", *(c[0] for c in COLUMNS)]
    csv.write_text(
        "\n".join([",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows])
        + "\n"
    )

    fig = Figure(figsize=(10, 4.5), constrained_layout=True)
    ax = fig.subplots()
    x = np.arange(len(rows))
    for i, (scheme, colour) in enumerate((("stratified", "#9ab"), ("subject", "#c44"))):
        ax.bar(
            x + (i - 0.5) * 0.38,
            [r.get(f"{scheme}_macro_f1", 0) for r in rows],
            0.38,
            label=f"{scheme} CV",
            color=colour,
        )
    ax.set_xticks(x, [r["model"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("macro-F1")
    ax.set_ylim(0, 1)
    ax.set_title(f"Fatigue level, 5 classes ({provenance} data)")
    ax.legend()
    plot = out / "comparison.png"
    fig.savefig(plot, dpi=110)

    paths = {"markdown": md, "csv": csv, "plot": plot}
    for name, by_scheme in results.items():
        for scheme, m in by_scheme.items():
            paths[f"confusion_{name}_{scheme}"] = _confusion_png(
                m,
                data.mapping.names,
                out / f"confusion_{name}_{scheme}.png",
                f"{DISPLAY_NAMES[name]}, {scheme} CV ({provenance} data)",
            )
    return paths


def _confusion_png(m: dict, names: tuple[str, ...], path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    cm = np.asarray(m["confusion"], dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(5, 4.4), constrained_layout=True)
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n({int(cm[i, j])})",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (from Borg CR10)")
    ax.set_title(f"{title}\nacc {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}", fontsize=9)
    fig.savefig(path, dpi=110)
    return path
