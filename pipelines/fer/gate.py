"""The emotion model's promotion gate: floors from ``fer.gate`` and "no worse than the
champion's accuracy on the same evaluation images" (``pipelines.release.gate`` decides)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.release.gate import ChampionScore, Floor, GateDecision, decide
from senim.config import FerGateParams


@dataclass(frozen=True)
class FerChampionEvidence:
    """The current champion's accuracy on the SAME evaluation images as the challenger."""

    version: str
    accuracy: float
    decimals: int | None = None  # as the figure was stored (see ChampionScore)

    def score(self) -> ChampionScore:
        return ChampionScore(
            self.version, "accuracy", self.accuracy, "the same images", self.decimals
        )


def decide_fer_promotion(
    metrics: dict[str, float], gate: FerGateParams, champion: FerChampionEvidence | None
) -> GateDecision:
    floors = (
        Floor("accuracy", ">=", gate.min_accuracy),
        Floor("macro_f1", ">=", gate.min_macro_f1),
    )
    return decide(metrics, floors, champion and champion.score(), gate.champion_tolerance)
