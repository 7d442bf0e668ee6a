"""Scores of a late fusion, subject-wise: folds by person, the fit, the metrics, intervals.

:mod:`hwsim.fusion_study`'s evaluation, apart from the simulation that feeds it. Windows
of one person are correlated (they overlap, and share the person's physiology and
movement), so every split and every interval here is by subject (issue 16: "a split by
worker, because windows of one person on both sides of a split flatter a model"):

- :func:`subject_folds`: a cross-validation whose folds are made of whole subjects;
- :func:`out_of_fold`: a logistic regression on the two models' log-odds, fitted on the
  other folds and applied to each fold;
- :func:`score`: :func:`host.video.train_video.metrics` (accuracy, F1 of "fatigued",
  macro-F1 at p ≥ 0.5: the figures of the video model's own table) and the ROC AUC;
- :func:`bootstrap_ci`: percentile intervals of :func:`quick_scores` (the same figures,
  faster) resampling whole subjects (Efron & Tibshirani 1993, *An Introduction to the
  Bootstrap*, ch. 13; resampling clusters, not windows, as for any clustered data: Field &
  Welsh 2007, JRSS B 69:369).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["bootstrap_ci", "logit", "out_of_fold", "quick_scores", "score", "subject_folds"]

#: Folds of the subject-wise cross-validation, at most (assumption: 5, the NIRS model's
#: own subject-wise evaluation's number, models/model.json training.folds); fewer with
#: fewer subjects.
MAX_FOLDS = 5
#: Bootstrap resamples of subjects for the 95 % intervals (Efron & Tibshirani 1993 §19.3:
#: about 1000 or more for percentile intervals, where 25–200 do for a standard error).
BOOTSTRAP = 1000
CI_PERCENTILES = (2.5, 97.5)
#: The scores of every method, in the table's order.
SCORES = ("accuracy", "macro_f1", "f1_fatigued", "auc")
#: p is clipped to [LOGIT_EPS, 1 − LOGIT_EPS] before its log-odds (assumption: keeps a
#: saturated softmax finite; 1e-6 is ±13.8 in log-odds).
LOGIT_EPS = 1e-6


def subject_folds(subjects: Sequence[str], max_folds: int = MAX_FOLDS) -> list:
    """(train, test) index arrays of a cross-validation by subject (GroupKFold).

    Each subject's windows (both arms) are in exactly one test fold and never in that
    fold's training part. Folds: ``min(max_folds, number of subjects)``.

    Raises:
        ValueError: Fewer than 2 subjects: nothing to train on that is not tested on.
    """
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(subjects)
    n = len(set(groups.tolist()))
    if n < 2:
        raise ValueError(f"a subject-wise split needs 2 or more subjects, got {n}")
    folds = GroupKFold(n_splits=min(max_folds, n))
    return list(folds.split(np.zeros(len(groups)), groups=groups))


def out_of_fold(
    x: np.ndarray, labels: np.ndarray, folds: list
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Logistic regression's out-of-fold p from the log-odds of ``x`` (n, 2), each fold's fit.

    A fold whose training part holds one class only gets that part's share of fatigued
    windows as its p (no regression can be fitted); its entry says so.
    """
    from sklearn.linear_model import LogisticRegression

    p = np.full(len(labels), np.nan)
    x = logit(x)
    fits = []
    for train, test in folds:
        if len(np.unique(labels[train])) < 2:
            p[test] = float(labels[train].mean())
            fits.append({"test_windows": len(test), "note": "one class in training: constant"})
            continue
        model = LogisticRegression().fit(x[train], labels[train])
        p[test] = model.predict_proba(x[test])[:, 1]
        fits.append(
            {
                "test_windows": len(test),
                "coef_nirs": float(model.coef_[0, 0]),
                "coef_video": float(model.coef_[0, 1]),
                "intercept": float(model.intercept_[0]),
            }
        )
    return p, fits


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 − p)) of p clipped to [:data:`LOGIT_EPS`, 1 − :data:`LOGIT_EPS`]."""
    p = np.clip(np.asarray(p, dtype=float), LOGIT_EPS, 1.0 - LOGIT_EPS)
    return np.log(p / (1.0 - p))


def score(labels: np.ndarray, p: np.ndarray) -> dict[str, object]:
    """host.video.train_video's metrics at p ≥ 0.5 and the ROC AUC (NaN with one class)."""
    from sklearn.metrics import roc_auc_score

    from host.video.train_video import metrics

    out = metrics(labels, p)
    out["auc"] = float(roc_auc_score(labels, p)) if len(np.unique(labels)) == 2 else math.nan
    return out


def quick_scores(labels: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """:data:`SCORES` as :func:`score` gives them, from counts and ranks (no scikit-learn).

    The bootstrap's: :func:`score` costs about 11 ms a call here, mostly scikit-learn's
    input checks, and the bootstrap calls it thousands of times. The same definitions:
    F1 of a class 2·TP / (2·TP + FP + FN), 0 when that is 0/0; macro-F1 the mean over the
    classes in the labels or the predictions (scikit-learn's ``average="macro"``); the AUC
    as the Mann–Whitney U over n₁·n₀ with ties counted half (Hanley & McNeil 1982,
    Radiology 143:29), NaN with one class. Checked against :func:`score` in the tests.
    """
    from scipy.stats import rankdata

    y = np.asarray(labels) == 1
    hit = np.asarray(p) >= 0.5
    tp, fp = int(np.sum(y & hit)), int(np.sum(~y & hit))
    fn, tn = int(np.sum(y & ~hit)), int(np.sum(~y & ~hit))
    f1 = {1: (tp, fp + fn), 0: (tn, fn + fp)}
    present = [c for c in (0, 1) if (c == 1 and (y.any() or hit.any()))
               or (c == 0 and ((~y).any() or (~hit).any()))]  # fmt: skip
    per_class = {c: 2 * t / (2 * t + e) if 2 * t + e else 0.0 for c, (t, e) in f1.items()}
    n1, n0 = tp + fn, tn + fp
    auc = math.nan
    if n1 and n0:
        ranks = rankdata(p)
        auc = (float(ranks[y].sum()) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return {
        "accuracy": (tp + tn) / len(y),
        "macro_f1": float(np.mean([per_class[c] for c in present])),
        "f1_fatigued": per_class[1],
        "auc": auc,
    }


def bootstrap_ci(
    labels: np.ndarray,
    p: np.ndarray,
    subjects: np.ndarray,
    rng: np.random.Generator,
    n: int = BOOTSTRAP,
) -> dict[str, list[float]]:
    """95 % percentile intervals of :data:`SCORES`, resampling whole subjects.

    The predictions are held fixed (the fusion is not refitted per resample). A resample
    with one class gives no AUC and is left out of the AUC's interval only.
    """
    names = np.unique(subjects)
    where = {s: np.flatnonzero(subjects == s) for s in names}
    drawn: dict[str, list[float]] = {k: [] for k in SCORES}
    for _ in range(n):
        take = np.concatenate([where[s] for s in rng.choice(names, len(names))])
        for key, value in quick_scores(labels[take], p[take]).items():
            if value == value:
                drawn[key].append(float(value))
    return {
        k: [float(v) for v in np.percentile(d, CI_PERCENTILES)] if d else [math.nan, math.nan]
        for k, d in drawn.items()
    }
