"""The emotion model's promotion gate: floors from ``fer.gate`` and "no worse than the
champion on the same evaluation images".

A pure function of evidence, like the credit gate (``pipelines.promotion_gate``), so it
can be tested exhaustively and recorded verbatim on the model version.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.promotion_gate import GateDecision
from senim.config import FerGateParams


@dataclass(frozen=True)
class FerChampionEvidence:
    """The current champion's accuracy on the SAME evaluation images as the challenger."""

    version: str
    accuracy: float


def decide_fer_promotion(
    metrics: dict[str, float], gate: FerGateParams, champion: FerChampionEvidence | None
) -> GateDecision:
    reasons: list[str] = []
    passed = True
    for metric, threshold in (("accuracy", gate.min_accuracy), ("macro_f1", gate.min_macro_f1)):
        value = metrics.get(metric)
        ok = value is not None and value >= threshold
        shown = "missing" if value is None else f"{value:.4f}"
        reasons.append(f"{metric} {shown} >= {threshold:g}: {'ok' if ok else 'FAILED'}")
        passed &= ok
    if champion is None:
        reasons.append("no champion yet: the first passing model becomes champion")
    else:
        accuracy = metrics.get("accuracy", float("-inf"))
        ok = accuracy >= champion.accuracy - gate.champion_tolerance
        reasons.append(
            f"accuracy {accuracy:.4f} vs champion v{champion.version} {champion.accuracy:.4f} "
            f"on the same images (tolerance {gate.champion_tolerance:g}): "
            f"{'ok' if ok else 'FAILED, worse than champion'}"
        )
        passed &= ok
    return GateDecision(passed=bool(passed), reasons=reasons)
