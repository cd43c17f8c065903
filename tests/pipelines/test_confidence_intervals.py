"""Fold t-intervals and the seeded bootstrap, on numbers checkable by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from pipelines.confidence_intervals import bootstrap_intervals, credit_fold_intervals


def _one_hot(pred: np.ndarray) -> np.ndarray:
    proba = np.zeros((pred.size, 6))
    proba[np.arange(pred.size), pred] = 1.0
    return proba


def test_given_three_folds_when_interval_taken_then_mean_and_t_half_width_match_hand_values():
    # fold accuracies 1.0, 0.5, 0.75: mean 0.75, sd 0.25, t(0.975, 2) = 4.302653
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
    pred = np.array([0, 1, 2, 3, 0, 1, 0, 0, 0, 1, 2, 0])
    folds = [(np.array([], int), np.arange(0, 4)), (np.array([], int), np.arange(4, 8))]
    folds.append((np.array([], int), np.arange(8, 12)))

    intervals = credit_fold_intervals(y, _one_hot(pred), folds)

    accuracy = intervals["accuracy"]
    half = 4.302653 * 0.25 / np.sqrt(3)
    assert accuracy.estimate == pytest.approx(0.75)
    assert accuracy.low == pytest.approx(0.75 - half, abs=1e-5)
    assert accuracy.high == pytest.approx(0.75 + half, abs=1e-5)
    assert accuracy.method == "t over 3 folds"


def test_given_no_folds_when_interval_taken_then_clear_error():
    with pytest.raises(ValueError, match="folds is empty"):
        credit_fold_intervals(np.array([0]), _one_hot(np.array([0])), [])


def test_given_same_seed_when_bootstrapped_twice_then_same_interval_and_other_seed_differs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 200)
    pred = np.where(rng.random(200) < 0.6, y, rng.integers(0, 7, 200))

    first = bootstrap_intervals(y, pred, n_classes=7, n_resamples=300, seed=11)
    again = bootstrap_intervals(y, pred, n_classes=7, n_resamples=300, seed=11)
    other = bootstrap_intervals(y, pred, n_classes=7, n_resamples=300, seed=12)

    assert first == again
    assert first["accuracy"].low != other["accuracy"].low
    assert first["accuracy"].estimate == pytest.approx((y == pred).mean())
    macro = f1_score(y, pred, labels=list(range(7)), average="macro", zero_division=0)
    assert first["macro_f1"].estimate == pytest.approx(macro)
    for interval in first.values():
        assert interval.low <= interval.estimate <= interval.high


def test_given_all_correct_when_bootstrapped_then_interval_collapses_to_one():
    y = np.array([0, 1, 2, 3, 4, 5, 6])

    intervals = bootstrap_intervals(y, y, n_classes=7, n_resamples=50, seed=0)

    assert intervals["accuracy"].low == intervals["accuracy"].high == 1.0


def test_given_resampled_macro_f1_then_it_matches_sklearn_on_that_resample():
    # one resample with seed 3: recompute it by hand with sklearn
    y = np.array([0, 0, 1, 1, 2, 2, 3, 4])
    pred = np.array([0, 1, 1, 1, 2, 0, 3, 3])
    picks = np.random.default_rng(3).integers(0, y.size, size=(1, y.size))[0]

    intervals = bootstrap_intervals(y, pred, n_classes=7, n_resamples=1, seed=3)

    labels = list(range(7))
    expected = f1_score(y[picks], pred[picks], labels=labels, average="macro", zero_division=0)
    assert intervals["macro_f1"].low == pytest.approx(expected)


@pytest.mark.parametrize(
    ("y", "pred", "message"),
    [
        ([], [], "empty"),
        ([0, 1], [0], "equal 1-D shapes"),
        ([0, 9], [0, 1], "y_true holds labels outside 0..6"),
    ],
)
def test_given_bad_labels_when_bootstrapped_then_error_names_the_problem(y, pred, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_intervals(np.array(y, int), np.array(pred, int), n_classes=7)
