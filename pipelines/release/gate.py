"""The promotion gate both families share: floors on metrics, then "no worse than the
champion on the same evaluation".

A decision is a pure function of evidence, so it can be tested exhaustively and recorded
verbatim on the model version; each family names its floors and its champion's score
(``pipelines.credit.gate``, ``pipelines.fer.gate``); moving aliases happens in
``pipelines.release.promotion``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Floor:
    """One threshold: ``metric op threshold`` must hold (``op`` is ">=" or "<=")."""

    metric: str
    op: Literal[">=", "<="]
    threshold: float


@dataclass(frozen=True)
class ChampionScore:
    """The champion's value of ``metric`` on the SAME evaluation as the challenger
    (``basis`` says which: "the same folds", "the same images"). ``decimals``: the
    precision the figure was stored with (a tag written rounded), so the challenger is
    compared at that same precision and a tie is a tie."""

    version: str
    metric: str
    value: float
    basis: str
    decimals: int | None = None


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "promoted" if self.passed else "rejected"

    def summary(self) -> str:
        return f"{self.label}: " + "; ".join(self.reasons)


def decide(
    metrics: dict[str, float],
    floors: Sequence[Floor],
    champion: ChampionScore | None,
    tolerance: float,
) -> GateDecision:
    """Passes only when every floor holds and the challenger is no more than ``tolerance``
    below the champion on the champion's metric."""
    reasons: list[str] = []
    passed = True
    for floor in floors:
        value = metrics.get(floor.metric)
        ok = value is not None and (
            value >= floor.threshold if floor.op == ">=" else value <= floor.threshold
        )
        shown = "missing" if value is None else f"{value:.4f}"
        reasons.append(
            f"{floor.metric} {shown} {floor.op} {floor.threshold:g}: {'ok' if ok else 'FAILED'}"
        )
        passed &= ok
    if champion is None:
        reasons.append("no champion yet: nothing to compare against")
    else:
        value = metrics.get(champion.metric, float("-inf"))
        compared = value if champion.decimals is None else round(value, champion.decimals)
        ok = compared >= champion.value - tolerance
        reasons.append(
            f"{champion.metric} {value:.4f} vs champion v{champion.version} "
            f"{champion.value:.4f} on {champion.basis} (tolerance {tolerance:g}): "
            f"{'ok' if ok else 'FAILED, worse than champion'}"
        )
        passed &= ok
    return GateDecision(passed=bool(passed), reasons=reasons)
