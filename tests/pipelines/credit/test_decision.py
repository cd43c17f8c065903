"""Score -> decision: inclusive thresholds, review strictly between, cautious on ties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.credit.decision import confidence, decide
from senim.config import ScoringParams

SCORING = ScoringParams(approve_min_score=60, reject_max_score=40)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, "reject"),
        (40.0, "reject"),
        (40.01, "review"),
        (50.0, "review"),
        (59.99, "review"),
        (60.0, "approve"),
        (100.0, "approve"),
    ],
)
def test_given_a_score_when_deciding_then_both_thresholds_are_inclusive(score, expected):
    assert decide(score, SCORING) == expected


def test_given_equal_thresholds_when_the_score_sits_on_them_then_it_is_rejected():
    tied = ScoringParams(approve_min_score=50, reject_max_score=50)
    assert [decide(s, tied) for s in (49.9, 50.0, 50.1)] == ["reject", "reject", "approve"]


@pytest.mark.parametrize("score", [math.nan, math.inf, -1.0, 100.5])
def test_given_an_off_scale_score_when_deciding_then_it_is_an_error(score):
    with pytest.raises(ValueError, match="between 0 and 100"):
        decide(score, SCORING)


def test_given_float_rounding_at_the_ends_when_deciding_then_it_is_tolerated():
    assert decide(100.0 + 1e-12, SCORING) == "approve"
    assert decide(-1e-12, SCORING) == "reject"


def test_given_a_probability_row_when_asking_confidence_then_it_is_the_top_probability():
    assert confidence(np.array([0.1, 0.2, 0.5, 0.1, 0.05, 0.05])) == pytest.approx(0.5)
    assert confidence([1.0, 3.0]) == pytest.approx(0.75)  # renormalised


@pytest.mark.parametrize("row", [[], [[0.5, 0.5]], [0.5, math.nan], [-0.1, 1.1], [0.0, 0.0]])
def test_given_a_bad_probability_row_when_asking_confidence_then_it_is_an_error(row):
    with pytest.raises(ValueError, match="proba_row"):
        confidence(row)
