"""The emotion gate: every floor must hold and the champion must not be better."""

from __future__ import annotations

import pytest

from pipelines.fer.gate import FerChampionEvidence, decide_fer_promotion
from senim.config import FerGateParams

GATE = FerGateParams(min_accuracy=0.5, min_macro_f1=0.4, champion_tolerance=0.01)


def test_given_good_metrics_and_no_champion_when_decided_then_promoted_with_reasons():
    decision = decide_fer_promotion({"accuracy": 0.6, "macro_f1": 0.5}, GATE, None)
    assert decision.passed and decision.label == "promoted"
    assert any("no champion yet" in reason for reason in decision.reasons)


@pytest.mark.parametrize(
    ("metrics", "failed"),
    [
        ({"accuracy": 0.49, "macro_f1": 0.5}, "accuracy 0.4900 >= 0.5: FAILED"),
        ({"accuracy": 0.6, "macro_f1": 0.39}, "macro_f1 0.3900 >= 0.4: FAILED"),
        ({"accuracy": 0.6}, "macro_f1 missing >= 0.4: FAILED"),
    ],
)
def test_given_a_floor_missed_when_decided_then_rejected_naming_it(metrics, failed):
    decision = decide_fer_promotion(metrics, GATE, None)
    assert not decision.passed and failed in decision.reasons


def test_given_a_better_champion_when_decided_then_rejected_within_tolerance_promoted():
    champion = FerChampionEvidence(version="3", accuracy=0.70)
    worse = decide_fer_promotion({"accuracy": 0.68, "macro_f1": 0.5}, GATE, champion)
    close = decide_fer_promotion({"accuracy": 0.695, "macro_f1": 0.5}, GATE, champion)
    assert not worse.passed and "worse than champion" in worse.summary()
    assert close.passed


STRICT = FerGateParams(min_accuracy=0.0, min_macro_f1=0.0, champion_tolerance=0.0)


@pytest.mark.parametrize(
    ("stored", "decimals"),
    [(0.6214285714285714, None), (0.621429, 6)],  # a full-precision tag; an older rounded one
    ids=["full-precision", "rounded-tag"],
)
def test_given_the_same_model_as_the_champion_when_gated_at_zero_tolerance_then_a_tie_passes(
    stored, decimals
):
    """The reported bug: 0.6214 vs champion 0.6214 'worse than champion' (the tag had been
    rounded to 6 places, the challenger was not)."""
    champion = FerChampionEvidence("1", stored, decimals)
    decision = decide_fer_promotion({"accuracy": 0.6214285714285714, "macro_f1": 0.6}, STRICT,
                                    champion)  # fmt: skip
    assert decision.passed, decision.reasons
    assert not decide_fer_promotion({"accuracy": 0.62142, "macro_f1": 0.6}, STRICT,
                                    champion).passed  # fmt: skip


def test_given_a_tagged_figure_when_read_back_then_every_digit_survives():
    from pipelines.common.metric_values import metric_tag, tag_decimals

    value = 0.6214285714285714
    assert float(metric_tag(value)) == value and tag_decimals("0.621429") == 6
    assert tag_decimals(metric_tag(1e-7)) is None
