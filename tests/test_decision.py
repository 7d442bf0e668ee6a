"""host.decision: per-level offsets tuned for macro-F1 and folded into the softmax layer."""

from __future__ import annotations

import numpy as np
import pytest

from host.decision import decide, fold_into_model, tune_offsets
from host.train_report import metrics


def _leaning_to_the_last_level(n_per_level: int = 200, seed: int = 0):
    """Probabilities of a model that knows the level but adds a fixed push toward 4."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(5), n_per_level)
    logits = rng.normal(0.0, 1.0, (len(labels), 5))
    logits[np.arange(len(labels)), labels] += 2.0
    logits[:, 4] += 1.2  # the lean: "high" windows called "exhausted"
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True), labels


def test_tuned_offsets_undo_a_lean_and_raise_macro_f1():
    p, y = _leaning_to_the_last_level()
    offsets = tune_offsets(p, y)
    assert offsets[0] == 0.0
    assert offsets[4] < -0.5  # it pushes back against the lean
    before = metrics(y, p.argmax(axis=1))["macro_f1"]
    after = metrics(y, decide(p, offsets))["macro_f1"]
    assert after > before + 0.05
    # On fresh windows of the same model the offsets still help (not fitted to noise).
    p2, y2 = _leaning_to_the_last_level(seed=1)
    assert metrics(y2, decide(p2, offsets))["macro_f1"] > metrics(y2, p2.argmax(axis=1))["macro_f1"]


def test_a_model_without_lean_keeps_zero_offsets():
    y = np.repeat(np.arange(5), 10)
    p = np.full((len(y), 5), 0.05)
    p[np.arange(len(y)), y] = 0.8  # always right: nothing to gain
    assert np.all(tune_offsets(p, y) == 0.0)


def test_a_level_the_validation_windows_lack_is_not_pushed_away():
    # Found by a breaker: without level 4 among the labels, the search set its offset to
    # the grid's edge, and true "exhausted" windows were then called so 19 % of the time
    # (63 % untuned).
    p, y = _leaning_to_the_last_level()
    kept = y != 4
    assert np.all(tune_offsets(p[kept], y[kept]) == 0.0)


def test_labels_and_probabilities_outside_their_range_are_refused():
    p, y = _leaning_to_the_last_level()
    for bad in (np.where(y == 4, 7, y), np.where(y == 0, -1, y), y.astype(float)):
        with pytest.raises(ValueError, match="labels must be whole levels 0 to 4"):
            tune_offsets(p, bad)
    nan = p.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="probabilities must be finite"):
        tune_offsets(nan, y)
    with pytest.raises(ValueError, match="probabilities and"):
        tune_offsets(p, y[:, None])


def test_shapes_that_do_not_match_are_refused():
    with pytest.raises(ValueError, match="probabilities and"):
        tune_offsets(np.ones((3, 5)) / 5, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="n > 0"):
        tune_offsets(np.ones((0, 5)), np.zeros(0, dtype=int))


def test_offsets_folded_into_the_softmax_layer_give_the_tuned_decision():
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    x_in = keras.Input((6,))
    out = layers.Dense(5, activation="softmax", name="probabilities")(layers.Dense(8)(x_in))
    model = keras.Model(x_in, out)
    x = np.random.default_rng(4).normal(size=(64, 6)).astype(np.float32)
    before = model.predict(x, verbose=0)
    offsets = np.array([0.0, 0.4, -0.3, 1.0, -1.2], dtype=np.float32)
    fold_into_model(model, offsets)
    after = model.predict(x, verbose=0)
    expected = before * np.exp(offsets)
    np.testing.assert_allclose(after, expected / expected.sum(axis=1, keepdims=True), rtol=1e-4)
    np.testing.assert_array_equal(after.argmax(axis=1), decide(before, offsets))
    with pytest.raises(ValueError, match="3 offsets for a layer of 5 outputs"):
        fold_into_model(model, np.zeros(3))
