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
