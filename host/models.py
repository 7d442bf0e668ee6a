"""The Keras models: the seed's fusion model and its deep baselines.

Each model is defined in one readable function; every hyperparameter is named
once, here. Seed 003 §3.2.4 and Fig. 8 give the fusion architecture:
Conv1D(32, 3) → max-pool → LSTM(32) → global average pool on the 100 × 8
sequence; a regularised Dense branch on the 40 statistics; concatenate → Dense →
softmax over five levels; sparse categorical cross-entropy, Adam at 1e-3. Since issue
19 the fusion model's targets are soft ordinal labels (:func:`soft_labels`) and it
takes the context channels too (a 100 × 12 sequence and 60 statistics,
:mod:`device.features`); the seed's baselines take the seed's 100 × 8 and 40.

The LSTMs are unrolled (``unroll=True``): a rolled Keras LSTM exports to an ONNX
``Loop``, which rknn-toolkit2 refuses as a dynamic graph (docs/architecture.md, "Why these
versions").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np
from keras import layers, regularizers

from device.features import (
    CHANNELS,
    N_SAMPLE_STATISTICS,
    N_STATISTICS,
    SAMPLE_CHANNELS,
    WINDOW_SAMPLES,
)

N_CLASSES = 5
CONV_FILTERS = 32
CONV_KERNEL = 3
POOL_SIZE = 2
LSTM_UNITS = 32
STATS_UNITS = 32
STATS_L2 = 1e-3
STATS_DROPOUT = 0.3
FUSION_UNITS = 32
FUSION_DROPOUT = 0.2
LEARNING_RATE = 1e-3
#: The fusion model learns the levels as ordered (issue 19): its targets are soft labels,
#: a Gaussian over the five levels around the true one with this standard deviation
#: (levels), so that calling "high" for "exhausted" costs less than calling "none". A
#: label-distribution form of ordinal regression (Geng 2016, "Label distribution
#: learning", IEEE TKDE 28:1734–1748); the width is an assumption. The output is still
#: five probabilities, so the device and the NPU models are unchanged.
ORDINAL_SIGMA = 0.6
# The Transformer baseline.
ATTENTION_HEADS = 2
ATTENTION_KEY_DIM = 16
MODEL_DIM = 32


def soft_labels(levels: np.ndarray, sigma: float = ORDINAL_SIGMA) -> np.ndarray:
    """Targets of an ordinal fit: (n,) integer levels → (n, 5) rows summing to 1, each a
    Gaussian over the levels centred on the true one (see :data:`ORDINAL_SIGMA`)."""
    levels = _check_levels(levels)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 levels, got {sigma!r}")
    k = np.arange(N_CLASSES)
    w = np.exp(-0.5 * ((k[None, :] - levels[:, None]) / sigma) ** 2)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def _check_levels(levels: np.ndarray) -> np.ndarray:
    """``levels`` as a 1-D integer array of levels 0 to N_CLASSES - 1, or ValueError."""
    arr = np.asarray(levels)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"levels must be a 1-D array of whole levels, got {arr.dtype} {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= N_CLASSES):
        raise ValueError(f"levels must be 0 to {N_CLASSES - 1}, got {arr.min()} to {arr.max()}")
    return arr


def balanced_weights(levels: np.ndarray) -> np.ndarray:
    """Per-window weights ``n / (k · n_level)`` over the k levels present: each level's
    windows weigh as much in all as any other's (scikit-learn's "balanced" rule)."""
    levels = _check_levels(levels)
    present, counts = np.unique(levels, return_counts=True)
    per_level = dict(zip(present.tolist(), (len(levels) / (len(present) * counts)).tolist()))
    return np.asarray([per_level[v] for v in levels.tolist()], dtype=np.float32)


def _compile(model: keras.Model, *, ordinal: bool = False) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss="categorical_crossentropy" if ordinal else "sparse_categorical_crossentropy",
        metrics=["categorical_accuracy" if ordinal else "accuracy"],
        # XLA made these small models 6-12x slower per window on this CPU (measured).
        jit_compile=False,
    )
    return model


def _inputs(context: bool = False) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The sequence and statistics inputs: every channel with ``context``, else the
    seed's eight (the first of :data:`device.features.CHANNELS`)."""
    channels, n_stats = (
        (CHANNELS, N_STATISTICS) if context else (SAMPLE_CHANNELS, N_SAMPLE_STATISTICS)
    )
    sequence = keras.Input((WINDOW_SAMPLES, len(channels)), name="sequence")
    statistics = keras.Input((n_stats,), name="statistics")
    return sequence, statistics


def build_fusion(context: bool = True) -> keras.Model:
    """The seed's CNN-LSTM + MLP fusion model (two inputs: sequence, statistics), with the
    context channels unless ``context`` is False (benchmarks/fusion_ablation.py)."""
    sequence, statistics = _inputs(context=context)
    x = layers.Conv1D(CONV_FILTERS, CONV_KERNEL, padding="same", activation="relu")(sequence)
    x = layers.MaxPooling1D(POOL_SIZE)(x)
    x = layers.LSTM(LSTM_UNITS, return_sequences=True, unroll=True)(x)
    x = layers.GlobalAveragePooling1D()(x)
    y = layers.Dense(STATS_UNITS, activation="relu", kernel_regularizer=regularizers.l2(STATS_L2))(
        statistics
    )
    y = layers.Dropout(STATS_DROPOUT)(y)
    z = layers.Concatenate()([x, y])
    z = layers.Dense(FUSION_UNITS, activation="relu")(z)
    z = layers.Dropout(FUSION_DROPOUT)(z)
    out = layers.Dense(N_CLASSES, activation="softmax", name="probabilities")(z)
    return _compile(keras.Model([sequence, statistics], out, name="fusion"), ordinal=True)


def build_lstm() -> keras.Model:
    """Baseline: an LSTM on the sequence alone."""
    sequence, _ = _inputs()
    x = layers.LSTM(LSTM_UNITS, unroll=True)(sequence)
    out = layers.Dense(N_CLASSES, activation="softmax", name="probabilities")(x)
    return _compile(keras.Model(sequence, out, name="lstm"))


def build_cnn() -> keras.Model:
    """Baseline: two Conv1D layers on the sequence alone."""
    sequence, _ = _inputs()
    x = layers.Conv1D(CONV_FILTERS, CONV_KERNEL, padding="same", activation="relu")(sequence)
    x = layers.MaxPooling1D(POOL_SIZE)(x)
    x = layers.Conv1D(CONV_FILTERS, CONV_KERNEL, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling1D()(x)
    out = layers.Dense(N_CLASSES, activation="softmax", name="probabilities")(x)
    return _compile(keras.Model(sequence, out, name="cnn"))


def build_transformer() -> keras.Model:
    """Baseline: one Transformer encoder block on the (pooled) sequence."""
    sequence, _ = _inputs()
    x = layers.MaxPooling1D(POOL_SIZE)(sequence)
    x = layers.Dense(MODEL_DIM)(x)
    attended = layers.MultiHeadAttention(ATTENTION_HEADS, ATTENTION_KEY_DIM)(x, x)
    x = layers.LayerNormalization()(x + attended)
    ff = layers.Dense(MODEL_DIM, activation="relu")(x)
    x = layers.LayerNormalization()(x + layers.Dense(MODEL_DIM)(ff))
    x = layers.GlobalAveragePooling1D()(x)
    out = layers.Dense(N_CLASSES, activation="softmax", name="probabilities")(x)
    return _compile(keras.Model(sequence, out, name="transformer"))


class DeepModel(NamedTuple):
    """How a deep model is built and trained."""

    build: Callable[[], keras.Model]
    #: It takes the statistics as a second input.
    uses_stats: bool
    #: It learns from soft ordinal labels (:func:`soft_labels`) ...
    ordinal: bool
    #: ... and with each window weighted inversely to its level's frequency
    #: (:func:`balanced_weights`), so that the rarer levels count in the loss as much as
    #: "none" (most of a session's windows) does: what macro-F1 rewards.
    balanced: bool
    #: Its per-level decision offsets are tuned on the validation windows and folded
    #: into its softmax layer (:mod:`host.decision`).
    tuned: bool = False


#: name → how it is built and trained. The baselines are the seed's, as the seed trains them
#: (on the seed's channels: host.train.CONTEXT_MODELS names the models that see more).
DEEP_MODELS = {
    "fusion": DeepModel(build_fusion, uses_stats=True, ordinal=True, balanced=True, tuned=True),
    "lstm": DeepModel(build_lstm, uses_stats=False, ordinal=False, balanced=False),
    "cnn": DeepModel(build_cnn, uses_stats=False, ordinal=False, balanced=False),
    "transformer": DeepModel(build_transformer, uses_stats=False, ordinal=False, balanced=False),
}
