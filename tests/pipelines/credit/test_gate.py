from pipelines.credit.gate import ChampionEvidence, decide_promotion
from senim.config import GateParams

GATE = GateParams(
    min_macro_f1=0.5,
    min_balanced_accuracy=0.5,
    min_within_one_band_accuracy=0.8,
    max_mean_abs_band_error=0.8,
    champion_tolerance=0.01,
)
GOOD = {
    "macro_f1": 0.6,
    "balanced_accuracy": 0.6,
    "within_one_band_accuracy": 0.9,
    "mean_abs_band_error": 0.5,
}


def test_given_no_champion_and_thresholds_met_when_gated_then_promoted():
    decision = decide_promotion(GOOD, GATE, None)
    assert decision.passed and decision.label == "promoted"
    assert any("no champion yet: nothing to compare against" in r for r in decision.reasons)


def test_given_no_champion_and_low_macro_f1_when_gated_then_rejected_with_reason():
    decision = decide_promotion({**GOOD, "macro_f1": 0.4}, GATE, None)
    assert not decision.passed
    assert any(r.startswith("macro_f1 0.4000 >= 0.5: FAILED") for r in decision.reasons)


def test_given_mae_above_limit_when_gated_then_rejected():
    assert not decide_promotion({**GOOD, "mean_abs_band_error": 0.9}, GATE, None).passed


def test_given_missing_metric_when_gated_then_rejected_not_crashed():
    metrics = dict(GOOD)
    del metrics["balanced_accuracy"]
    decision = decide_promotion(metrics, GATE, None)
    assert not decision.passed
    assert any("balanced_accuracy missing" in r for r in decision.reasons)


def test_given_champion_better_beyond_tolerance_when_gated_then_rejected():
    decision = decide_promotion(GOOD, GATE, ChampionEvidence(version="3", macro_f1=0.62))
    assert not decision.passed
    assert any("worse than champion" in r and "v3" in r for r in decision.reasons)


def test_given_champion_better_within_tolerance_when_gated_then_promoted():
    assert decide_promotion(GOOD, GATE, ChampionEvidence(version="3", macro_f1=0.605)).passed


def test_given_challenger_beats_champion_but_fails_threshold_when_gated_then_rejected():
    metrics = {**GOOD, "within_one_band_accuracy": 0.7}
    assert not decide_promotion(metrics, GATE, ChampionEvidence(version="1", macro_f1=0.1)).passed


def test_given_the_same_recipe_as_the_champion_when_gated_at_zero_tolerance_then_a_tie_passes():
    strict = GATE.model_copy(update={"champion_tolerance": 0.0})
    exact = 0.6123456789012345
    for champion in (ChampionEvidence("2", exact), ChampionEvidence("2", round(exact, 6), 6)):
        decision = decide_promotion({**GOOD, "macro_f1": exact}, strict, champion)
        assert decision.passed, decision.reasons
    worse = decide_promotion({**GOOD, "macro_f1": 0.6123}, strict, ChampionEvidence("2", exact))
    assert not worse.passed
