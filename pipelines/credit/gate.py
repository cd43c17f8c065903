"""The credit model's promotion gate: the floors in ``gate``, "no worse than the
champion's macro-F1 on the same grouped folds" (``pipelines.release.gate`` decides), and
the behavioural checks (``pipelines.credit.behaviour``): a failed one blocks promotion."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.credit.behaviour import BehaviourReport
from pipelines.release.gate import ChampionScore, Floor, GateDecision, decide
from senim.config import GateParams


@dataclass(frozen=True)
class ChampionEvidence:
    """The current champion, scored on the SAME grouped folds as the challenger."""

    version: str
    macro_f1: float
    decimals: int | None = None  # as the figure was stored (see ChampionScore)

    def score(self) -> ChampionScore:
        return ChampionScore(
            self.version, "macro_f1", self.macro_f1, "the same folds", self.decimals
        )


def decide_promotion(
    metrics: dict[str, float],
    gate: GateParams,
    champion: ChampionEvidence | None,
    behaviour: BehaviourReport | None = None,
) -> GateDecision:
    """Passes only when every threshold holds, the champion is not better and the model
    passes its behavioural checks (``pipelines.credit.behaviour``), when they ran."""
    floors = (
        Floor("macro_f1", ">=", gate.min_macro_f1),
        Floor("balanced_accuracy", ">=", gate.min_balanced_accuracy),
        Floor("within_one_band_accuracy", ">=", gate.min_within_one_band_accuracy),
        Floor("mean_abs_band_error", "<=", gate.max_mean_abs_band_error),
    )
    decision = decide(metrics, floors, champion and champion.score(), gate.champion_tolerance)
    if behaviour is None:
        return decision
    if behaviour.passed:
        note = f"behaviour: all {len(behaviour.checks)} checks passed"
        return GateDecision(passed=decision.passed, reasons=[*decision.reasons, note])
    return GateDecision(passed=False, reasons=[*decision.reasons, *behaviour.reasons()])
