"""Behavioural checks of a trained credit model, run in the promotion gate.

Metrics say how often a model is right; these say whether it behaves the way a credit
officer would accept (Made-With-ML's ``tests/model``, Ribeiro et al.'s CheckList):

- **Invariance**: what identifies a company (``Name``, ``Symbol``) and the order rows
  arrive in change nothing: every score and band is identical.
- **Directional expectations** that finance agrees on (``DIRECTIONAL_EXPECTATIONS``):
  raising profitability never makes a company a worse credit on average, raising
  leverage never makes it a better one. Each ratio of a sample of training companies is
  moved by its inter-quartile range; the mean score may move the wrong way by at most
  ``behaviour.directional_tolerance`` points (trees step, so single rows may wobble).
- **Minimum functionality** on clear cases: a prototype company per band (the median
  ratios of that band's training rows, the commonest sector, the default agency, the
  latest rating date) must be scored in band order, the strongest at least
  ``behaviour.min_prototype_gap`` points above the weakest.

A failed check blocks promotion with its reason.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.credit.metrics import score_from_proba
from pipelines.credit.predict import final_predictions, transformed_inputs
from pipelines.credit.rating_bands import BANDS
from pipelines.credit.schema import AGENCY, DATE, MODEL_COLUMNS, NAME, RATIO_COLUMNS, SECTOR, SYMBOL
from senim.config import BehaviourParams


@dataclass(frozen=True)
class Expectation:
    ratio: str
    direction: int  # +1: higher is a better credit; -1: higher is a worse one
    why: str


DIRECTIONAL_EXPECTATIONS: tuple[Expectation, ...] = (
    Expectation("returnOnAssets", +1, "more profit per unit of assets"),
    Expectation("netProfitMargin", +1, "more of each unit of revenue kept as profit"),
    Expectation("operatingProfitMargin", +1, "more operating profit per unit of revenue"),
    Expectation("debtRatio", -1, "more of the assets financed by liabilities"),
)

# Rank agreement the band prototypes' scores must reach with the band order.
_MIN_PROTOTYPE_RANK_CORRELATION = 0.8
_SAME = 1e-9


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: str  # invariance | directional | minimum_functionality
    passed: bool
    detail: str


@dataclass(frozen=True)
class BehaviourReport:
    checks: tuple[CheckResult, ...]

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed)

    @property
    def passed(self) -> bool:
        return not self.failures

    def reasons(self) -> list[str]:
        """One line per failed check, as the gate reports it."""
        return [f"behaviour: {c.name} failed: {c.detail}" for c in self.failures]

    def to_json(self) -> str:
        return json.dumps([asdict(c) for c in self.checks], indent=2)

    def to_markdown(self) -> str:
        lines = ["| check | kind | result | detail |", "| --- | --- | --- | --- |"]
        for c in self.checks:
            result = "pass" if c.passed else "FAIL"
            lines.append(f"| {c.name} | {c.kind} | {result} | {c.detail} |")
        return "\n".join(lines) + "\n"


def _scored(model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    proba, bands = final_predictions(model, transformed_inputs(model, frame))
    return score_from_proba(proba), bands


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    chosen = np.random.default_rng(seed).choice(len(frame), size=rows, replace=False)
    return frame.iloc[np.sort(chosen)].reset_index(drop=True)


def check_behaviour(
    model: Any,
    frame: pd.DataFrame,
    bands: np.ndarray,
    params: BehaviourParams,
    *,
    default_agency: str,
    seed: int = 0,
) -> BehaviourReport:
    """Run every check on ``model`` with ``frame`` (training rows: MODEL_COLUMNS plus
    Name and Symbol where present) and their true band codes ``bands``."""
    frame = frame.reset_index(drop=True)
    sample = _sample(frame, params.sample_rows, seed)
    inputs = sample.loc[:, list(MODEL_COLUMNS)]
    scores, named = _scored(model, inputs)
    checks = [
        *_invariance(model, sample, scores, named, seed),
        *_directional(model, frame, inputs, scores, params.directional_tolerance),
        _minimum_functionality(model, frame, bands, params.min_prototype_gap, default_agency),
    ]
    return BehaviourReport(tuple(checks))


def _invariance(model, sample, scores, named, seed) -> list[CheckResult]:
    renamed = sample.copy()
    renamed[NAME] = [f"Renamed company {i}" for i in range(len(sample))]
    renamed[SYMBOL] = [f"ZZ{i}" for i in range(len(sample))]
    scores_renamed, named_renamed = _scored(model, renamed)
    order = np.random.default_rng(seed + 1).permutation(len(sample))
    scores_shuffled, named_shuffled = _scored(
        model, sample.loc[:, list(MODEL_COLUMNS)].iloc[order].reset_index(drop=True)
    )
    unshuffled = np.empty_like(scores_shuffled)
    unshuffled[order] = scores_shuffled
    bands_unshuffled = np.empty_like(named_shuffled)
    bands_unshuffled[order] = named_shuffled
    results = []
    for name, other_scores, other_bands, what in (
        ("name_and_symbol_invariance", scores_renamed, named_renamed, "renamed companies"),
        ("row_order_invariance", unshuffled, bands_unshuffled, "shuffled rows"),
    ):
        moved = np.abs(other_scores - scores)
        changed = int(np.sum((moved > _SAME) | (other_bands != named)))
        results.append(
            CheckResult(
                name,
                "invariance",
                changed == 0,
                f"{changed} of {len(sample)} {what} changed score or band "
                f"(largest move {moved.max():.2e} points)",
            )
        )
    return results


def _directional(model, frame, inputs, scores, tolerance) -> list[CheckResult]:
    results = []
    for expectation in DIRECTIONAL_EXPECTATIONS:
        column = expectation.ratio
        values = frame[column].astype(float)
        step = float(values.quantile(0.75) - values.quantile(0.25))
        if not np.isfinite(step) or step <= 0:
            step = float(values.abs().median()) or 1.0
        moved = inputs.copy()
        moved[column] = moved[column].astype(float) + step
        moved_scores, _ = _scored(model, moved)
        mean_change = float(np.mean(moved_scores - scores))
        wrong_way = -expectation.direction * mean_change
        verb = "raise" if expectation.direction > 0 else "lower"
        results.append(
            CheckResult(
                f"higher_{column}",
                "directional",
                wrong_way <= tolerance,
                f"{column} up by {step:.4g} ({expectation.why}) should not {_opposite(verb)} "
                f"the score: mean change {mean_change:+.2f} points over {len(inputs)} "
                f"companies (tolerance {tolerance:g})",
            )
        )
    return results


def _opposite(verb: str) -> str:
    return "lower" if verb == "raise" else "raise"


def _prototypes(frame: pd.DataFrame, bands: np.ndarray, default_agency: str) -> pd.DataFrame:
    present = sorted(set(np.asarray(bands).tolist()))
    sector = frame[SECTOR].mode().iloc[0]
    dates = pd.to_datetime(frame[DATE], format="%m/%d/%Y", errors="coerce")
    latest = dates.max()
    date = f"{latest.month}/{latest.day}/{latest.year}" if pd.notna(latest) else None
    rows = []
    for code in present:
        medians = frame.loc[np.asarray(bands) == code, list(RATIO_COLUMNS)].median()
        rows.append({**medians.to_dict(), SECTOR: sector, AGENCY: default_agency, DATE: date})
    return pd.DataFrame(rows, index=[BANDS[c] for c in present])[list(MODEL_COLUMNS)]


def _minimum_functionality(model, frame, bands, min_gap, default_agency) -> CheckResult:
    from scipy.stats import spearmanr

    prototypes = _prototypes(frame, bands, default_agency)
    scores, _ = _scored(model, prototypes)
    gap = float(scores[-1] - scores[0])  # strongest band present less weakest
    rank = float(spearmanr(np.arange(len(scores)), scores).statistic) if len(scores) > 2 else 1.0
    passed = gap >= min_gap and rank >= _MIN_PROTOTYPE_RANK_CORRELATION
    listed = ", ".join(
        f"{band} {score:.1f}" for band, score in zip(prototypes.index, scores, strict=True)
    )
    return CheckResult(
        "band_prototypes_in_order",
        "minimum_functionality",
        passed,
        f"prototype scores {listed}: {prototypes.index[-1]} leads {prototypes.index[0]} by "
        f"{gap:.1f} points (at least {min_gap:g}), rank correlation with the band order "
        f"{rank:.2f} (at least {_MIN_PROTOTYPE_RANK_CORRELATION})",
    )
