"""Turn a 0-100 credit score into the approve / review / reject decision of params.yaml.

Both thresholds are inclusive: a score at ``approve_min_score`` is approved, a score at
``reject_max_score`` is rejected, and everything strictly between goes to a credit
officer for review. Where the two thresholds coincide, that one score is rejected: when
the configuration cannot tell, the cautious answer wins.
"""

from __future__ import annotations

import math
from typing import Literal

from senim.config import ScoringParams

Decision = Literal["approve", "review", "reject"]
DECISIONS: tuple[Decision, ...] = ("approve", "review", "reject")

# Scores are computed as 100 * E[code] / 5; float rounding may overshoot 0 or 100 slightly.
_SCORE_SLACK = 1e-6


def decide(score: float, scoring: ScoringParams) -> Decision:
    """``reject`` at or below ``reject_max_score``, ``approve`` at or above
    ``approve_min_score``, otherwise ``review``; a non-finite or off-scale score is an error."""
    if not math.isfinite(score) or not -_SCORE_SLACK <= score <= 100 + _SCORE_SLACK:
        raise ValueError(f"score must be a finite number between 0 and 100, got {score!r}")
    if score <= scoring.reject_max_score:
        return "reject"
    if score >= scoring.approve_min_score:
        return "approve"
    return "review"
