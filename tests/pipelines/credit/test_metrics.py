from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.common.confidence_intervals import fold_metric_spread
from pipelines.credit.metrics import (
    calibration_table,
    classification_metrics,
    confusion,
    credit_fold_intervals,
    per_band_report,
    score_from_proba,
)

EXPECTED_KEYS = {
    "accuracy",
    "balanced_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_precision",
    "weighted_recall",
    "weighted_f1",
    "roc_auc_ovr",
    "log_loss",
    "mean_abs_band_error",
    "within_one_band_accuracy",
    "expected_calibration_error",
}


def one_hot(codes: np.ndarray) -> np.ndarray:
    proba = np.zeros((len(codes), 6))
    proba[np.arange(len(codes)), codes] = 1.0
    return proba


def all_bands(repeats: int = 4) -> np.ndarray:
    return np.tile(np.arange(6), repeats)


def test_given_perfect_predictions_when_scored_then_every_metric_is_ideal() -> None:
    y = all_bands()

    metrics = classification_metrics(y, one_hot(y))

    assert set(metrics) == EXPECTED_KEYS
    assert metrics["accuracy"] == 1.0
    assert metrics["macro_f1"] == 1.0
    assert metrics["mean_abs_band_error"] == 0.0
    assert metrics["within_one_band_accuracy"] == 1.0
    assert metrics["expected_calibration_error"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["roc_auc_ovr"] == 1.0
    assert metrics["log_loss"] == pytest.approx(0.0, abs=1e-9)


def test_given_every_prediction_one_band_off_when_scored_then_wrong_but_within_one() -> None:
    y = all_bands()
    predicted = np.where(y == 5, 4, y + 1)

    metrics = classification_metrics(y, one_hot(predicted))

    assert metrics["accuracy"] == 0.0
    assert metrics["mean_abs_band_error"] == 1.0
    assert metrics["within_one_band_accuracy"] == 1.0
    assert math.isfinite(metrics["log_loss"])


def test_given_a_band_absent_from_y_true_when_scored_then_roc_auc_uses_present_bands() -> None:
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 3, 4] * 5)  # no A+ at all
    proba = rng.dirichlet(np.ones(6), size=len(y))

    metrics = classification_metrics(y, proba)

    assert 0.0 <= metrics["roc_auc_ovr"] <= 1.0


def test_given_a_single_band_in_y_true_when_scored_then_roc_auc_is_nan_not_an_error() -> None:
    y = np.full(6, 3)

    metrics = classification_metrics(y, one_hot(y))

    assert math.isnan(metrics["roc_auc_ovr"])


def test_given_proba_of_the_wrong_width_when_scored_then_a_clear_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(np.array([0, 1]), np.full((2, 5), 0.2))


def test_given_all_mass_on_one_band_when_scored_then_a_plus_is_100_and_junk_is_0() -> None:
    scores = score_from_proba(one_hot(np.array([5, 0])))

    assert scores.tolist() == [100.0, 0.0]


def test_given_uniform_proba_when_scored_then_the_score_is_50() -> None:
    assert score_from_proba(np.full(6, 1 / 6))[0] == pytest.approx(50.0)


def test_given_mass_moving_to_better_bands_when_scored_then_the_score_never_falls() -> None:
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(6), size=200)
    better = proba.copy()
    source = rng.integers(0, 5, size=200)
    moved = better[np.arange(200), source] * 0.5
    better[np.arange(200), source] -= moved
    better[np.arange(200), source + 1] += moved

    assert np.all(score_from_proba(better) >= score_from_proba(proba))


def test_given_predictions_when_per_band_report_then_bands_are_listed_best_first() -> None:
    y = all_bands()

    report = per_band_report(y, one_hot(y))

    assert list(report.index) == ["A+", "A", "BBB", "BB", "B", "Junk"]
    assert list(report.columns) == ["precision", "recall", "f1", "support"]
    assert report["support"].sum() == len(y)


def test_given_predictions_when_confusion_then_counts_sum_to_rows_and_bands_best_first() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 6, size=50)
    proba = rng.dirichlet(np.ones(6), size=50)

    table = confusion(y, proba)

    assert table.shape == (6, 6)
    assert table.to_numpy().sum() == 50
    assert list(table.index) == list(table.columns) == ["A+", "A", "BBB", "BB", "B", "Junk"]
    assert table.loc["A+"].sum() == (y == 5).sum()


def test_given_predictions_when_calibration_table_then_every_row_lands_in_one_bin() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 6, size=40)

    table = calibration_table(y, rng.dirichlet(np.ones(6), size=40), n_bins=10)

    assert len(table) == 10
    assert table["count"].sum() == 40
    assert {"bin", "mean_confidence", "accuracy", "count"} <= set(table.columns)


def test_given_fold_scores_when_spread_then_the_interval_contains_the_mean() -> None:
    spread = fold_metric_spread([0.61, 0.58, 0.66, 0.63, 0.60])

    assert spread["mean"] == pytest.approx(0.616)
    assert spread["std"] > 0
    assert spread["ci_low"] < spread["mean"] < spread["ci_high"]


def test_given_one_fold_when_spread_then_the_interval_is_unknown() -> None:
    spread = fold_metric_spread([0.5])

    assert spread["mean"] == 0.5
    assert math.isnan(spread["ci_low"]) and math.isnan(spread["ci_high"])


def test_given_nan_inf_and_text_metrics_when_filtered_then_only_finite_numbers_remain():
    from pipelines.common.metric_values import finite_metrics

    metrics = {"macro_f1": 0.5, "auc": float("nan"), "loss": float("inf"), "n": 3, "x": "a"}
    assert finite_metrics(metrics) == {"macro_f1": 0.5, "n": 3.0}


def _one_hot_rows(pred: np.ndarray) -> np.ndarray:
    proba = np.zeros((pred.size, 6))
    proba[np.arange(pred.size), pred] = 1.0
    return proba


def test_given_three_folds_when_interval_taken_then_mean_and_t_half_width_match_hand_values():
    # fold accuracies 1.0, 0.5, 0.75: mean 0.75, sd 0.25, t(0.975, 2) = 4.302653
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
    pred = np.array([0, 1, 2, 3, 0, 1, 0, 0, 0, 1, 2, 0])
    folds = [(np.array([], int), np.arange(0, 4)), (np.array([], int), np.arange(4, 8))]
    folds.append((np.array([], int), np.arange(8, 12)))

    intervals = credit_fold_intervals(y, _one_hot_rows(pred), folds)

    accuracy = intervals["accuracy"]
    half = 4.302653 * 0.25 / np.sqrt(3)
    assert accuracy.estimate == pytest.approx(0.75)
    assert accuracy.low == pytest.approx(0.75 - half, abs=1e-5)
    assert accuracy.high == pytest.approx(0.75 + half, abs=1e-5)
    assert accuracy.method == "t over 3 folds"


def test_given_no_folds_when_interval_taken_then_clear_error():
    with pytest.raises(ValueError, match="folds is empty"):
        credit_fold_intervals(np.array([0]), _one_hot_rows(np.array([0])), [])
