"""Scoring emotion predictions: metrics equal sklearn's, absent emotions, bad inputs, figures."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score

from pipelines.fer.evaluation import (
    confusion_matrix_figure,
    evaluate_fer,
    per_class_table,
    training_curves_figure,
)
from pipelines.fer.schema import EMOTIONS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
Y_TRUE = np.array([0, 0, 1, 2, 3, 3, 3, 4, 5, 6, 6, 2, 5, 4])
Y_PRED = np.array([0, 3, 1, 2, 3, 3, 6, 4, 5, 6, 0, 4, 5, 4])


def _proba_for(pred: np.ndarray, seed: int = 0) -> np.ndarray:
    """Random probability rows whose argmax is ``pred``."""
    rng = np.random.default_rng(seed)
    proba = rng.uniform(0.0, 0.5, size=(len(pred), 7))
    proba[np.arange(len(pred)), pred] = 1.0
    return proba / proba.sum(axis=1, keepdims=True)


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 5_000


def test_given_hand_made_predictions_when_evaluated_then_metrics_equal_sklearn():
    metrics = evaluate_fer(Y_TRUE, _proba_for(Y_PRED))

    labels = list(range(7))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(Y_TRUE, Y_PRED, labels=labels, average="macro", zero_division=0)
    )
    assert metrics["weighted_f1"] == pytest.approx(
        f1_score(Y_TRUE, Y_PRED, labels=labels, average="weighted", zero_division=0)
    )
    per_precision = precision_score(Y_TRUE, Y_PRED, labels=labels, average=None, zero_division=0)
    per_f1 = f1_score(Y_TRUE, Y_PRED, labels=labels, average=None, zero_division=0)
    for k, name in enumerate(EMOTIONS):
        assert metrics[f"precision_{name}"] == pytest.approx(per_precision[k])
        assert metrics[f"f1_{name}"] == pytest.approx(per_f1[k])
        assert metrics[f"support_{name}"] == int((Y_TRUE == k).sum())
    assert metrics["confusion"] == confusion_matrix(Y_TRUE, Y_PRED, labels=labels).tolist()
    assert metrics["recall_Angry"] == pytest.approx(0.5)
    assert metrics["accuracy"] == pytest.approx(10 / 14)


def test_given_an_emotion_absent_from_y_true_when_evaluated_then_it_scores_zero_quietly():
    y_true = np.array([0, 0, 2, 3, 3, 4, 5, 6])  # no Disgust
    y_pred = np.array([0, 1, 2, 3, 3, 4, 5, 6])  # one predicted Disgust all the same

    with _no_warnings():
        metrics = evaluate_fer(y_true, _proba_for(y_pred))

    assert metrics["support_Disgust"] == 0
    assert metrics["precision_Disgust"] == 0.0
    assert metrics["recall_Disgust"] == 0.0
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=list(range(7)), average="macro", zero_division=0)
    )
    assert all(math.isfinite(v) for k, v in metrics.items() if k != "confusion")
    assert np.array(metrics["confusion"]).shape == (7, 7)


def test_given_predictions_when_tabulated_then_one_row_per_emotion_matching_the_metrics():
    proba = _proba_for(Y_PRED)

    table = per_class_table(Y_TRUE, proba)
    metrics = evaluate_fer(Y_TRUE, proba)

    assert list(table.index) == list(EMOTIONS)
    assert list(table.columns) == ["precision", "recall", "f1", "support"]
    assert table.loc["Sad", "recall"] == pytest.approx(metrics["recall_Sad"])
    assert int(table["support"].sum()) == len(Y_TRUE)


@pytest.mark.parametrize(
    ("y_true", "proba", "problem"),
    [
        (np.zeros(3, dtype=int), np.full((4, 7), 1 / 7), "3 labels but proba has 4 rows"),
        (np.zeros(3, dtype=int), np.full((3, 6), 1 / 6), "shape"),
        (np.zeros((3, 1), dtype=int), np.full((3, 7), 1 / 7), "1-D"),
        (np.array([0, 7, 1]), np.full((3, 7), 1 / 7), "outside 0..6"),
        (np.array([0.5, 1, 2]), np.full((3, 7), 1 / 7), "integer"),
        (np.zeros(0, dtype=int), np.zeros((0, 7)), "zero images"),
    ],
)
def test_given_mismatched_inputs_when_evaluated_then_value_error_names_it(y_true, proba, problem):
    with pytest.raises(ValueError, match=problem):
        evaluate_fer(y_true, proba)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_given_non_finite_probabilities_when_evaluated_then_value_error(bad):
    proba = np.full((3, 7), 1 / 7)
    proba[1, 2] = bad

    with pytest.raises(ValueError, match="finite: row 1"):
        evaluate_fer(np.array([0, 1, 2]), proba)


def test_given_negative_probabilities_when_evaluated_then_value_error():
    proba = np.full((3, 7), 1 / 7)
    proba[0, 0] = -0.1

    with pytest.raises(ValueError, match="non-negative"):
        per_class_table(np.array([0, 1, 2]), proba)


def test_given_predictions_when_the_confusion_figure_is_drawn_then_a_png_is_written(tmp_path):
    path = confusion_matrix_figure(
        Y_TRUE, _proba_for(Y_PRED), tmp_path / "figs" / "confusion.png", "Test confusion"
    )

    assert path == tmp_path / "figs" / "confusion.png"
    assert _is_png(path)
    assert [p.name for p in path.parent.iterdir()] == ["confusion.png"]  # no temp file left


def test_given_an_absent_emotion_when_the_confusion_figure_is_drawn_then_it_still_works(tmp_path):
    y_true = np.array([0, 2, 3, 4, 5, 6])
    with _no_warnings():
        path = confusion_matrix_figure(y_true, _proba_for(y_true), tmp_path / "c.png", "No Disgust")

    assert _is_png(path)


def test_given_a_history_when_curves_are_drawn_then_a_png_is_written(tmp_path):
    history = {
        "loss": [1.9, 1.5, 1.2],
        "accuracy": [0.2, 0.4, 0.55],
        "val_loss": [1.8, 1.6, 1.5],
        "val_accuracy": [0.25, 0.38, 0.45],
        "lr": [1e-3, 5e-4, 1e-4],
    }

    path = training_curves_figure(history, tmp_path / "curves.png", "Test curves")

    assert _is_png(path)


def test_given_a_history_without_validation_when_curves_are_drawn_then_training_only(tmp_path):
    history = {"loss": [1.9], "accuracy": [0.2], "val_loss": [math.nan], "val_accuracy": [math.nan]}

    assert _is_png(training_curves_figure(history, tmp_path / "curves.png", "Train only"))


def test_given_an_empty_or_ragged_history_when_curves_are_drawn_then_value_error(tmp_path):
    with pytest.raises(ValueError, match="no epochs"):
        training_curves_figure({"loss": []}, tmp_path / "a.png", "empty")
    with pytest.raises(ValueError, match="val_loss"):
        training_curves_figure({"loss": [1.0, 0.9], "val_loss": [1.0]}, tmp_path / "b.png", "x")


@contextmanager
def _no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
