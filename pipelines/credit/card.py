"""The credit-rating model card: what the model is for, what it was trained on, how well
it does (with 95% intervals over the company-grouped folds), how it compares with the
champion and where it is weak.

Every number comes from the run's own evidence (out-of-fold metrics, fold intervals, the
fairness report, the snapshot), so a card can be checked against MLflow line by line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.common.confidence_intervals import Interval
from pipelines.common.model_card import (
    Bullets,
    ChampionFacts,
    ModelCard,
    Section,
    champion_section,
    data_lines,
    fmt,
    table,
)
from pipelines.credit.fairness import FairnessReport
from pipelines.credit.rating_bands import BANDS
from pipelines.credit.schema import NAME, SECTOR

HEADLINE_METRICS: tuple[str, ...] = (
    "macro_f1",
    "balanced_accuracy",
    "accuracy",
    "within_one_band_accuracy",
    "mean_abs_band_error",
    "expected_calibration_error",
)

INTENDED_USE = (
    "Predicts the credit rating band (A+, A, BBB, BB, B, Junk) of a manufacturing or "
    "importing company from 25 financial ratios, its sector, the rating agency whose scale "
    "is asked for and the rating year, as decision support for a credit officer: a human "
    "reviews every score before a decision is taken."
)
OUT_OF_SCOPE = (
    "Individuals or sole traders (consumer credit): the model never saw them.",
    "Automated decisions without a human in the loop.",
    "Companies whose ratios come from another accounting standard or period than the "
    "training data without revalidation.",
    "Pricing or limit setting: the model outputs a band and a 0-100 score, not a "
    "probability of default.",
)


@dataclass(frozen=True)
class CreditCardFacts:
    model_name: str
    version: str
    run_id: str
    candidate: str  # the selected candidate (family)
    data_version: str  # DVC md5 of the snapshot
    data_source: str  # params.data.source
    validation_headline: str
    validation_evaluated: int
    validation_failed: int
    frame: pd.DataFrame  # the training snapshot (Name, Sector, ...), row-aligned with bands
    bands: np.ndarray  # band codes 0 (Junk) .. 5 (A+)
    metrics: dict[str, float]  # pooled out-of-fold metrics, as logged
    intervals: dict[str, Interval]  # fold mean and 95% t-interval per metric
    per_band: pd.DataFrame  # precision, recall, f1, support per band, best first
    champion: ChampionFacts | None
    fairness: FairnessReport
    small_band_rows: int  # a band with fewer rows is called out as small


def build_credit_card(facts: CreditCardFacts) -> ModelCard:
    if len(facts.frame) != len(facts.bands):
        raise ValueError(
            f"frame has {len(facts.frame)} rows but bands has {len(facts.bands)}: "
            "they must describe the same snapshot"
        )
    return ModelCard(
        title=f"Model card: {facts.model_name} version {facts.version}",
        sections=(
            Section("Intended use", (INTENDED_USE,)),
            Section("Out-of-scope use", (Bullets(OUT_OF_SCOPE),)),
            _model_section(facts),
            _data_section(facts),
            _metrics_section(facts),
            _calibration_section(facts),
            _per_band_section(facts),
            champion_section(facts.metrics, facts.champion, HEADLINE_METRICS),
            _fairness_section(facts.fairness),
            Section("Known limitations", (Bullets(credit_limitations(facts)),)),
        ),
    )


def _model_section(facts: CreditCardFacts) -> Section:
    return Section(
        "Model",
        (
            Bullets(
                (
                    f"Registered model: {facts.model_name}, version {facts.version}",
                    f"MLflow run: {facts.run_id}",
                    f"Selected candidate: {facts.candidate}",
                )
            ),
        ),
    )


def _data_section(facts: CreditCardFacts) -> Section:
    frame = facts.frame
    codes, counts = np.unique(facts.bands, return_counts=True)
    per_band = dict(zip(codes.tolist(), counts.tolist(), strict=True))
    n = len(frame)
    band_rows = [
        (band, per_band.get(code, 0), f"{per_band.get(code, 0) / n:.1%}")
        for code, band in reversed(list(enumerate(BANDS)))
    ]
    sectors = frame.groupby(SECTOR, dropna=False)[NAME].agg(["size", "nunique"])
    sector_rows = [
        (str(sector), int(row["size"]), int(row["nunique"]))
        for sector, row in sectors.sort_values("size", ascending=False).iterrows()
    ]
    return Section(
        "Training data",
        (
            Bullets(
                (
                    *data_lines(facts),
                    f"{n} ratings of {frame[NAME].nunique()} companies in "
                    f"{frame[SECTOR].nunique()} sectors",
                )
            ),
            "Band balance:",
            table(("band", "rows", "share"), band_rows),
            "Sectors:",
            table(("sector", "rows", "companies"), sector_rows),
        ),
    )


def _metrics_section(facts: CreditCardFacts) -> Section:
    rows = []
    for name in HEADLINE_METRICS:
        interval = facts.intervals.get(name)
        rows.append(
            (
                name,
                fmt(facts.metrics.get(name)),
                fmt(interval.estimate) if interval else "n/a",
                f"[{fmt(interval.low)}, {fmt(interval.high)}]" if interval else "n/a",
            )
        )
    method = next(iter(facts.intervals.values())).method if facts.intervals else "n/a"
    return Section(
        "Metrics (company-grouped cross-validation)",
        (
            "Out-of-fold: every row predicted by a model that never saw its company. "
            f"Fold mean with a 95% Student-t interval ({method}).",
            table(("metric", "out-of-fold", "fold mean", "95% CI"), rows),
        ),
    )


def _calibration_section(facts: CreditCardFacts) -> Section:
    """Expected calibration error of the probability given to the named band (the
    published confidence), before and after calibration, with fold spreads."""
    after = facts.metrics.get("expected_calibration_error")
    after_std = facts.metrics.get("cv_expected_calibration_error_std")
    before = facts.metrics.get("expected_calibration_error_before_calibration")
    before_std = facts.metrics.get("cv_expected_calibration_error_before_calibration_std")
    if before is None:
        return Section(
            "Calibration",
            (
                f"Expected calibration error {fmt(after)} (fold std {fmt(after_std)}); "
                "this model's probabilities are its own (calibration.enabled is false).",
            ),
        )
    rows = [
        ("before calibration", fmt(before), fmt(before_std)),
        ("after calibration (published)", fmt(after), fmt(after_std)),
    ]
    return Section(
        "Calibration",
        (
            "Expected calibration error of the probability the model gives the band it "
            "names (10 bins), out-of-fold. The calibration is fitted inside each training "
            "fold on scores from company-grouped inner folds; the 0-100 score and the "
            "confidence use the calibrated probabilities.",
            table(("probabilities", "ECE", "fold std"), rows),
        ),
    )


def _per_band_section(facts: CreditCardFacts) -> Section:
    rows = [
        (band, fmt(row["precision"]), fmt(row["recall"]), fmt(row["f1"]), int(row["support"]))
        for band, row in facts.per_band.iterrows()
    ]
    return Section(
        "Per-band precision, recall and F1 (out-of-fold)",
        (table(("band", "precision", "recall", "f1", "support"), rows),),
    )


def _fairness_section(report: FairnessReport) -> Section:
    flagged = report.flagged
    summary = (
        f"{report.metric} per slice on out-of-fold predictions; overall {fmt(report.overall)}. "
        f"{len(flagged)} slice(s) more than {fmt(report.max_gap, 2)} below the overall with "
        f"at least {report.min_slice_size} rows. Full table: fairness.md / fairness.json."
    )
    if not flagged:
        return Section("Fairness slices", (summary,))
    rows = [(s.column, s.value, s.size, fmt(s.metric), fmt(s.gap)) for s in flagged]
    return Section(
        "Fairness slices",
        (summary, table(("column", "slice", "rows", report.metric, "gap"), rows)),
    )


def credit_limitations(facts: CreditCardFacts) -> tuple[str, ...]:
    """Limitations that follow from this run's facts, most serious first."""
    notes: list[str] = []
    if facts.data_source == "synthetic":
        notes.append(
            "Trained on synthetic data (data.source = synthetic): the metrics say nothing "
            "about real companies."
        )
    for s in facts.fairness.flagged:
        notes.append(
            f"{s.column} = {s.value}: {facts.fairness.metric} {fmt(s.metric)} is "
            f"{fmt(s.gap)} below the overall {fmt(facts.fairness.overall)} ({s.size} rows)."
        )
    for band, row in facts.per_band.iterrows():
        if int(row["support"]) < facts.small_band_rows:
            notes.append(
                f"Band {band} has only {int(row['support'])} rows (fewer than "
                f"{facts.small_band_rows}): its precision and recall are unreliable."
            )
    small = [s for s in facts.fairness.slices if s.size < facts.fairness.min_slice_size]
    if small:
        notes.append(
            f"{len(small)} fairness slice(s) have fewer than {facts.fairness.min_slice_size} "
            "rows and are reported but never flagged."
        )
    interval = facts.intervals.get("macro_f1")
    if interval is not None and interval.high - interval.low > 0.1:
        notes.append(
            f"macro_f1 varies widely across folds: 95% CI [{fmt(interval.low)}, "
            f"{fmt(interval.high)}] ({interval.method})."
        )
    if not notes:
        notes.append("No data-driven limitation found in this run.")
    return tuple(notes)
