"""host.train_report: the figures issue 19 asks of every model beside accuracy and F1."""

from __future__ import annotations

import numpy as np
import pytest

from host.train_report import COLUMNS, comparison_rows, metrics, non_fatigue_low_share


def test_level_error_and_within_one_of_known_predictions():
    truth = np.array([0, 1, 2, 3, 4, 4])
    pred = np.array([0, 2, 0, 3, 1, 4])  # errors 0, 1, 2, 0, 3, 0
    m = metrics(truth, pred)
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["mae_level"] == pytest.approx(6 / 6)
    assert m["within_one"] == pytest.approx(4 / 6)


def test_share_of_non_fatigue_windows_called_none_or_light():
    protocols = np.array(
        ["cuff_occlusion"] * 4 + ["light_work"] * 4 + ["quiet_sitting"] * 2 + ["upper_limb"] * 2,
        dtype=object,
    )
    pred = np.array([0, 1, 3, 4, 1, 1, 1, 2, 0, 0, 4, 4])
    got = non_fatigue_low_share(pred, protocols)
    assert got["low_share"] == {"cuff_occlusion": 0.5, "light_work": 0.75, "quiet_sitting": 1.0}
    assert got["low_share_row"] == pytest.approx(5 / 8)  # the row: cuff + light work
    none = non_fatigue_low_share(pred[-2:], protocols[-2:])
    assert none == {"low_share": {}, "low_share_row": None}  # a fatigue-only dataset


def test_a_row_without_the_non_fatigue_sessions_says_nan_not_zero():
    results = {"fusion": {"subject": {**metrics(np.array([0, 1]), np.array([0, 1])),
                                      "low_share_row": None}}}  # fmt: skip
    row = comparison_rows(results)[0]
    assert row["subject_accuracy"] == 1.0 and np.isnan(row["subject_low_share_row"])
    assert np.isnan(row["stratified_accuracy"])  # that scheme did not run
    assert [c[0] for c in COLUMNS][-1] == "subject_low_share_row"


def test_soft_ordinal_labels_put_weight_on_the_neighbours_only():
    from host.models import ORDINAL_SIGMA, soft_labels

    targets = soft_labels(np.array([0, 2, 4]))
    assert targets.shape == (3, 5) and np.allclose(targets.sum(axis=1), 1.0)
    assert targets.argmax(axis=1).tolist() == [0, 2, 4]
    middle = targets[1]
    assert middle[1] == pytest.approx(middle[3]) and middle[1] < middle[2]
    assert middle[0] < middle[1]  # two levels off weighs less than one
    assert middle[1] / middle[2] == pytest.approx(np.exp(-0.5 / ORDINAL_SIGMA**2), rel=1e-5)


def test_balanced_weights_make_every_level_weigh_the_same_in_all():
    from host.models import DEEP_MODELS, balanced_weights

    levels = np.array([0] * 6 + [1] * 3 + [4] * 1)
    w = balanced_weights(levels)
    totals = [w[levels == k].sum() for k in (0, 1, 4)]
    assert np.allclose(totals, totals[0]) and w.sum() == pytest.approx(len(levels))
    assert DEEP_MODELS["fusion"].balanced and not DEEP_MODELS["transformer"].balanced


@pytest.mark.parametrize(
    ("levels", "said"),
    [([0, 5], "levels must be 0 to 4"), ([0.5, 1.0], "whole levels"), ([[0, 1]], "1-D")],
)
def test_ordinal_targets_and_weights_refuse_levels_that_are_not_levels(levels, said):
    from host.models import balanced_weights, soft_labels

    for make in (soft_labels, balanced_weights):
        with pytest.raises(ValueError, match=said):
            make(np.asarray(levels))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        soft_labels(np.array([1]), sigma=0.0)
