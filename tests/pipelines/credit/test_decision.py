"""Score -> decision: inclusive thresholds, review strictly between, cautious on ties."""

from __future__ import annotations

import math

import pytest

from pipelines.credit.decision import decide
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
