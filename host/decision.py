"""Per-level offsets of the fusion model's decision, tuned for macro-F1.

A network trained with balanced weights and soft ordinal labels (:mod:`host.models`)
still leans toward some levels: on the subject-wise folds of issue 19 it called 52 % of
the "high" windows "exhausted". Adding an offset ``o_k`` to the logit of each level
moves the argmax without retraining: ``argmax_k(log p_k + o_k)``. The offsets are chosen
on the early-stopping validation windows (never the test fold) by coordinate ascent of
macro-F1, the seed's figure of merit, and folded into the bias of the softmax layer
(``softmax(Wx + b + o)`` is exactly ``p · exp(o)`` renormalised), so the shipped Keras,
ONNX and RKNN models, and the device, compute the tuned decision with no extra step.

This is the "threshold moving" of cost-sensitive learning (Elkan 2001, "The foundations
of cost-sensitive learning", IJCAI 973–978; Lipton, Elkan & Naryanaswamy 2014,
"Optimal thresholding of classifiers to maximize F1 measure", ECML PKDD 225–239).
"""

from __future__ import annotations

import numpy as np

#: Offsets tried for each level (natural-log units of probability): ±1.5 in steps of
#: 0.1. An assumption; a wider range fits the few validation subjects too closely.
OFFSET_GRID = np.round(np.arange(-1.5, 1.51, 0.1), 2)
#: Passes of coordinate ascent over the levels (each pass tries every grid value for
#: every level but the first, whose offset stays 0: only differences matter).
PASSES = 3


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    from sklearn.metrics import f1_score

    return float(
        f1_score(y_true, y_pred, average="macro", labels=list(range(n_classes)), zero_division=0)
    )


def decide(probabilities: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Levels chosen with offsets: (n, k) probabilities, (k,) offsets → (n,) levels."""
    logp = np.log(np.clip(np.asarray(probabilities, dtype=float), 1e-12, None))
    return np.argmax(logp + np.asarray(offsets, dtype=float), axis=1)


def tune_offsets(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Offsets (k,) maximising macro-F1 of :func:`decide` on validation windows.

    Args:
        probabilities: (n, k) the model's output on validation windows.
        labels: (n,) their true levels, 0 to k - 1.

    Returns:
        (k,) float32 offsets, the first 0; all 0 if nothing improves macro-F1, or if a
        level has no validation window (its F1 would count as 0 whatever the offsets,
        and the search would push that level away: a wearer's exhaustion never shown).

    Raises:
        ValueError: shapes that do not match, no windows, labels outside 0 to k - 1, or
            probabilities that are not finite.
    """
    probabilities = np.asarray(probabilities, dtype=float)
    labels = np.asarray(labels)
    if (
        probabilities.ndim != 2
        or labels.ndim != 1
        or len(probabilities) != len(labels)
        or not len(labels)
        or probabilities.shape[1] < 2
    ):
        raise ValueError(
            f"need (n, k) probabilities and (n,) labels with n > 0 and k >= 2, got "
            f"{probabilities.shape} and {labels.shape}"
        )
    n_classes = probabilities.shape[1]
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be whole levels 0 to {n_classes - 1}")
    if not np.all(np.isfinite(probabilities)):
        raise ValueError("probabilities must be finite")
    offsets = np.zeros(n_classes)
    if len(np.unique(labels)) < n_classes:
        return offsets.astype(np.float32)
    best = _macro_f1(labels, decide(probabilities, offsets), n_classes)
    for _ in range(PASSES):
        improved = False
        for k in range(1, n_classes):
            for value in OFFSET_GRID:
                trial = offsets.copy()
                trial[k] = value
                score = _macro_f1(labels, decide(probabilities, trial), n_classes)
                if score > best + 1e-9:
                    best, offsets, improved = score, trial, True
        if not improved:
            break
    return offsets.astype(np.float32)


def fold_into_model(model, offsets: np.ndarray, layer: str = "probabilities") -> None:
    """Add ``offsets`` to the bias of the softmax layer ``layer`` of a Keras model.

    Raises:
        ValueError: the layer's bias is not of the offsets' length.
    """
    dense = model.get_layer(layer)
    kernel, bias = dense.get_weights()
    offsets = np.asarray(offsets, dtype=bias.dtype)
    if offsets.shape != bias.shape:
        raise ValueError(f"{len(offsets)} offsets for a layer of {bias.shape[0]} outputs")
    dense.set_weights([kernel, bias + offsets])
