"""The seed's Table 1: which NIRS features track fatigue across subjects.

For each candidate feature (HHb, ΔtHb, SmO2 and OI, each as the window's min, mean,
max and change from the session's first window) a linear mixed-effects model

    fatigue_level ~ 1 + z(feature),   random intercept per subject

is fitted with statsmodels' MixedLM on the every-second 10 s windows of the
dataset (the same windows the model is trained on). The feature is z-scored over
the dataset, so a coefficient is "fatigue levels per standard deviation".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.features import CHANNELS
from host.dataset import load_dataset
from host.session import DatasetError
from host.windows import channel_array, cut_windows

#: The random intercept per subject needs subjects to vary between: with one, the model
#: has nothing to separate from the residual. Below :data:`FEW_SUBJECTS` the between-subject
#: variance is poorly estimated (B. Bolker et al., "GLMM FAQ": random effects with fewer
#: than about 5-6 levels), and the table says so.
MIN_SUBJECTS = 2
FEW_SUBJECTS = 5

#: (label as in the seed's table, channel in device.features.CHANNELS)
SIGNALS = (("HHb", "d_hhb_um"), ("ΔtHb", "d_thb_um"), ("SmO2", "smo2_pct"), ("OI", "oi_um"))
KINDS = ("min", "mean", "max", "from_first")


@dataclass
class FeatureTable:
    """One row per window: features, label, subject."""

    features: dict[str, np.ndarray]
    level: np.ndarray
    subject: np.ndarray
    provenance: set[str]
    n_sessions: int = 0


#: statsmodels' optimisers tried in turn for each feature (see :func:`fit_table`).
FIT_METHODS = ("lbfgs", "powell")


@dataclass(frozen=True)
class LmmRow:
    feature: str
    coef: float
    z: float  # Wald statistic; ranks features when p underflows to 0
    p_value: float
    n_windows: int


def load_feature_table(folder: Path) -> FeatureTable:
    """Windows of every session in ``folder`` with the candidate features.

    Raises:
        host.session.DatasetError: The folder or a file in it cannot be read, a file does
            not hold the model's wavelengths (:func:`host.dataset.load_dataset`), no
            session has a clean 10 s window, or the windows come from fewer than
            :data:`MIN_SUBJECTS` subjects.
    """
    dataset = load_dataset(folder)
    columns: dict[str, list[np.ndarray]] = {f"{s}_{k}": [] for s, _ in SIGNALS for k in KINDS}
    levels, subjects = [], []
    for rec in dataset.records:
        ch = channel_array(d_od=rec.d_od, d_hbo2_um=rec.d_hbo2_um, d_hhb_um=rec.d_hhb_um)
        w = cut_windows(ch, rec.level, rec.t_s, group=rec.subject_id, flags=rec.flags)
        if not len(w.labels):
            continue
        for label, channel in SIGNALS:
            x = w.sequences[:, :, CHANNELS.index(channel)]
            mean = x.mean(axis=1)
            columns[f"{label}_min"].append(x.min(axis=1))
            columns[f"{label}_mean"].append(mean)
            columns[f"{label}_max"].append(x.max(axis=1))
            columns[f"{label}_from_first"].append(mean - mean[0])
        levels.append(w.labels)
        subjects.append(w.groups)
    if not levels:
        raise DatasetError(folder, "no clean 10 s window in any session")
    subject = np.concatenate(subjects).astype(str)
    n_subjects = len(set(subject))
    if n_subjects < MIN_SUBJECTS:
        raise DatasetError(
            folder,
            f"holds clean windows of {n_subjects} subject ({subject[0]}); the model's random "
            f"intercept per subject needs at least {MIN_SUBJECTS} (python -m hwsim.cohort "
            f"--subjects {FEW_SUBJECTS} makes a small simulated cohort)",
        )
    return FeatureTable(
        {k: np.concatenate(v) for k, v in columns.items()},
        np.concatenate(levels).astype(float),
        subject,
        dataset.provenance,
        len(dataset.records),
    )


def fit_table(table: FeatureTable) -> list[LmmRow]:
    """Fit one MixedLM per feature; rows sorted by p-value, then by |z|."""
    import statsmodels.api as sm

    rows = []
    for name, x in table.features.items():
        z = (x - x.mean()) / x.std()
        exog = sm.add_constant(z)
        model = sm.MixedLM(table.level, exog, groups=table.subject)
        fit = None
        # L-BFGS first (fast); where its gradient meets a singular matrix (few subjects, a
        # random-intercept variance at ~0), Powell's method, which needs no gradient.
        for method in FIT_METHODS:
            with warnings.catch_warnings():
                # Singular covariance and convergence notes: the fixed effect still holds.
                warnings.simplefilter("ignore")
                try:
                    fit = model.fit(method=method)
                    break
                except np.linalg.LinAlgError:
                    continue
        if fit is None:
            rows.append(LmmRow(name, math.nan, math.nan, math.nan, len(z)))
            continue
        rows.append(
            LmmRow(name, float(fit.params[1]), float(fit.tvalues[1]), float(fit.pvalues[1]), len(z))
        )
    return sorted(rows, key=lambda r: (math.isnan(r.p_value), r.p_value, -abs(r.z)))


def _p(p_value: float) -> str:
    """A p-value as text; 0.0 means it underflowed double precision."""
    if math.isnan(p_value):
        return "not fitted (singular)"
    return "< 1e-300" if p_value == 0.0 else f"{p_value:.3g}"


def format_table(rows: list[LmmRow], table: FeatureTable) -> str:
    """Markdown table, labelled with the data's provenance, sessions and subjects."""
    label = ", ".join(sorted(table.provenance)) or "unknown provenance"
    n_subjects = len(set(table.subject))
    lines = [
        f"LMM: fatigue level ~ z(feature) + (1 | subject), {rows[0].n_windows} windows "
        f"of {table.n_sessions} sessions, {n_subjects} subjects ({label} data)",
    ]
    if n_subjects < FEW_SUBJECTS:
        lines.append(
            f"note: with {n_subjects} subjects (fewer than {FEW_SUBJECTS}) the between-subject "
            "variance is poorly estimated; read the p-values with care"
        )
    lines += [
        "",
        "| feature | coef (levels per SD) | z | p-value |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r.feature} | – | – | {_p(r.p_value)} |"
        if math.isnan(r.coef)
        else f"| {r.feature} | {r.coef:+.4f} | {r.z:+.1f} | {_p(r.p_value)} |"
        for r in rows
    ]
    return "\n".join(lines)
