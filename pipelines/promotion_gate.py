"""The promotion gate: thresholds from ``params.yaml`` plus "no worse than champion".

The decision is a pure function of evidence so it can be tested exhaustively and
recorded verbatim on the model version; moving aliases happens elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from senim.config import GateParams


@dataclass(frozen=True)
class ChampionEvidence:
    """The current champion, scored on the SAME grouped folds as the challenger."""

    version: str
    macro_f1: float


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "promoted" if self.passed else "rejected"

    def summary(self) -> str:
        return f"{self.label}: " + "; ".join(self.reasons)


def decide_promotion(
    metrics: dict[str, float], gate: GateParams, champion: ChampionEvidence | None
) -> GateDecision:
    """Passes only when every threshold holds and the champion is not better."""
    reasons: list[str] = []
    passed = True
    checks = (
        ("macro_f1", ">=", gate.min_macro_f1),
        ("balanced_accuracy", ">=", gate.min_balanced_accuracy),
        ("within_one_band_accuracy", ">=", gate.min_within_one_band_accuracy),
        ("mean_abs_band_error", "<=", gate.max_mean_abs_band_error),
    )
    for metric, op, threshold in checks:
        value = metrics.get(metric)
        ok = value is not None and (value >= threshold if op == ">=" else value <= threshold)
        shown = "missing" if value is None else f"{value:.4f}"
        reasons.append(f"{metric} {shown} {op} {threshold:g}: {'ok' if ok else 'FAILED'}")
        passed &= ok
    if champion is None:
        reasons.append("no champion yet: the first passing model becomes champion")
    else:
        floor = champion.macro_f1 - gate.champion_tolerance
        ok = metrics.get("macro_f1", float("-inf")) >= floor
        reasons.append(
            f"macro_f1 {metrics.get('macro_f1', float('nan')):.4f} vs champion v{champion.version} "
            f"{champion.macro_f1:.4f} on the same folds (tolerance {gate.champion_tolerance:g}): "
            f"{'ok' if ok else 'FAILED, worse than champion'}"
        )
        passed &= ok
    return GateDecision(passed=bool(passed), reasons=reasons)
