"""The seeded bootstrap, on numbers checkable by hand and by its behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from pipelines.common.confidence_intervals import bootstrap_intervals


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


def test_given_more_images_of_the_same_mix_when_bootstrapped_then_the_interval_narrows():
    y = np.array([0, 0, 1, 1, 2, 2, 3, 4, 5, 6])
    pred = np.array([0, 1, 1, 1, 2, 0, 3, 3, 5, 6])

    few = bootstrap_intervals(y, pred, n_classes=7, n_resamples=400, seed=3)
    many = bootstrap_intervals(
        np.tile(y, 20), np.tile(pred, 20), n_classes=7, n_resamples=400, seed=3
    )

    for metric in ("accuracy", "macro_f1"):
        assert few[metric].estimate == pytest.approx(many[metric].estimate)
        assert many[metric].high - many[metric].low < (few[metric].high - few[metric].low) / 2
        assert 0.0 <= few[metric].low <= few[metric].estimate <= few[metric].high <= 1.0


def test_given_one_resample_when_bootstrapped_then_its_macro_f1_is_a_possible_score():
    """One resample's macro-F1 is the F1 of some multiset of the scored pairs: between the
    worst and best a subset can score, and the same pairs give the same number."""
    y = np.array([0, 0, 1, 1, 2, 2, 3, 4])
    pred = np.array([0, 1, 1, 1, 2, 0, 3, 3])

    one = bootstrap_intervals(y, pred, n_classes=7, n_resamples=1, seed=3)["macro_f1"]

    assert one.low == one.high and 0.0 <= one.low <= 1.0
    assert bootstrap_intervals(y, pred, n_classes=7, n_resamples=1, seed=3)["macro_f1"] == one


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
