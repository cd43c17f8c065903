"""Evaluate tuned candidates from their out-of-fold predictions and compare them.

All candidates (and the thesis baseline) are scored on the same company-grouped folds,
so the comparison table is a like-for-like answer to "which model, and do we beat the
thesis?". Each candidate is also refitted on every row: that fit is what gets logged,
registered and explained (feature importance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.common.confidence_intervals import fold_metric_spread
from pipelines.credit import metrics as credit_metrics
from pipelines.credit import reports as credit_reports
from pipelines.credit.training_matrix import TrainingMatrix
from pipelines.credit.tuning import (
    BASELINE_FAMILY,
    CandidateSettings,
    TuningResult,
    fit_final,
    oof_predictions,
)
from senim.config import Params

BASELINE_NAME = BASELINE_FAMILY
# Fold spreads reported beside the pooled out-of-fold metrics (``cv_<metric>_std``).
FOLD_SPREAD_METRICS: tuple[str, ...] = (
    "macro_f1",
    "within_one_band_accuracy",
    "mean_abs_band_error",
    "expected_calibration_error",
)
BEFORE_CALIBRATION = "expected_calibration_error_before_calibration"


@dataclass
class CandidateEvaluation:
    name: str
    family: str  # the model family that rebuilds it (the baseline is an XGBoost)
    hyperparams: dict[str, Any]
    metrics: dict[str, float]
    fold_scores: list[float]
    per_band: pd.DataFrame
    confusion: pd.DataFrame
    calibration: pd.DataFrame
    importance: pd.Series
    fitted: Any  # the pipeline fitted on all rows (calibrated once selected)
    oof_proba: np.ndarray | None = None  # (n_rows, 6) out-of-fold, as published
    oof_bands: np.ndarray | None = None  # (n_rows,) the band named for each row
    calibrated: bool = False
    artifacts: dict[str, Path] = field(default_factory=dict)


@dataclass
class Comparison:
    evaluations: dict[str, CandidateEvaluation]
    table: pd.DataFrame
    files: dict[str, Path]
    best: str
    selection_metric: str
    folds_fingerprint: str

    @property
    def best_evaluation(self) -> CandidateEvaluation:
        return self.evaluations[self.best]

    @property
    def beats_baseline(self) -> bool | None:
        if BASELINE_NAME not in self.evaluations:
            return None
        best = self.evaluations[self.best].metrics["macro_f1"]
        return bool(best > self.evaluations[BASELINE_NAME].metrics["macro_f1"])


def recipe(result: TuningResult) -> tuple[str, dict[str, Any]]:
    """Family and plain hyperparameters that rebuild a tuned candidate."""
    if result.family == BASELINE_NAME:
        return BASELINE_NAME, {k.removeprefix("model__"): v for k, v in result.best_params.items()}
    return result.family, dict(result.best_params)


def oof_metrics(
    y: np.ndarray,
    proba: np.ndarray,
    bands: np.ndarray,
    folds,
) -> dict[str, float]:
    """Pooled out-of-fold metrics, plus mean, std and 95% interval over folds for the
    headline ones (``cv_<metric>_mean`` / ``_std`` / ``_ci_low`` / ``_ci_high``)."""
    metrics = credit_metrics.classification_metrics(y, proba, bands)
    per_fold = [
        credit_metrics.classification_metrics(y[test], proba[test], bands[test])
        for _, test in folds
    ]
    for name in FOLD_SPREAD_METRICS:
        spread = fold_metric_spread([scores[name] for scores in per_fold])
        metrics.update(
            {
                f"cv_{name}_mean": spread["mean"],
                f"cv_{name}_std": spread["std"],
                f"cv_{name}_ci_low": spread["ci_low"],
                f"cv_{name}_ci_high": spread["ci_high"],
            }
        )
    return metrics


def evaluate_candidate(
    result: TuningResult, matrix: TrainingMatrix, params: Params, out_dir: Path, folds
) -> CandidateEvaluation:
    family, hyperparams = recipe(result)
    y, proba, bands = matrix.bands, result.oof_proba, result.oof_bands
    metrics = oof_metrics(y, proba, bands, folds)
    metrics["seconds"] = result.seconds
    fitted = fit_final(
        family,
        hyperparams,
        matrix.features,
        matrix.bands,
        settings=CandidateSettings.from_params(params),
    )
    from models.credit_candidates import feature_importance

    evaluation = CandidateEvaluation(
        name=result.family,
        family=family,
        hyperparams=hyperparams,
        metrics=metrics,
        fold_scores=list(result.fold_scores),
        per_band=credit_metrics.per_band_report(y, proba, bands),
        confusion=credit_metrics.confusion(y, proba, bands),
        calibration=credit_metrics.calibration_table(y, proba, bands=bands),
        importance=feature_importance(fitted),
        fitted=fitted,
        oof_proba=proba,
        oof_bands=bands,
    )
    evaluation.artifacts = _write_candidate_reports(evaluation, Path(out_dir) / result.family)
    return evaluation


def calibrate_selected(
    comparison: Comparison, matrix: TrainingMatrix, folds, params: Params, out_dir: Path
) -> Comparison:
    """Calibrate the selected candidate: out-of-fold probabilities from models calibrated
    inside each training fold (inner folds grouped by company), and the model refitted
    on every row with its calibration. Its metrics become the calibrated ones, with the
    calibration error before calibration kept beside them; the comparison is rewritten.
    """
    if not params.calibration.enabled:
        return comparison
    best = comparison.best_evaluation
    settings = CandidateSettings.from_params(params)
    oof = oof_predictions(
        best.family,
        best.hyperparams,
        matrix.features,
        matrix.bands,
        folds,
        settings=settings,
        groups=matrix.companies,
        calibrated=True,
    )
    y = matrix.bands
    before = best.metrics["expected_calibration_error"]
    before_std = best.metrics.get("cv_expected_calibration_error_std")
    metrics = oof_metrics(y, oof.proba, oof.bands, folds)
    metrics.update(
        {
            BEFORE_CALIBRATION: before,
            f"cv_{BEFORE_CALIBRATION}_std": before_std,
            "seconds": best.metrics.get("seconds", float("nan")),
        }
    )
    best.metrics = {k: v for k, v in metrics.items() if v is not None}
    best.fold_scores = list(oof.fold_scores)
    best.per_band = credit_metrics.per_band_report(y, oof.proba, oof.bands)
    best.confusion = credit_metrics.confusion(y, oof.proba, oof.bands)
    best.calibration = credit_metrics.calibration_table(y, oof.proba, bands=oof.bands)
    best.fitted = fit_final(
        best.family,
        best.hyperparams,
        matrix.features,
        y,
        settings=settings,
        groups=matrix.companies,
        calibrated=True,
    )
    best.oof_proba, best.oof_bands, best.calibrated = oof.proba, oof.bands, True
    best.artifacts = _write_candidate_reports(best, Path(out_dir) / "candidates" / best.name)
    return compare_candidates(
        comparison.evaluations,
        selection_metric=comparison.selection_metric,
        folds_fingerprint=comparison.folds_fingerprint,
        out_dir=out_dir,
        best=comparison.best,
    )


def _write_candidate_reports(evaluation: CandidateEvaluation, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    name = evaluation.name
    files = {
        "per_band_csv": out_dir / "per_band.csv",
        "confusion_csv": out_dir / "confusion.csv",
        "calibration_csv": out_dir / "calibration.csv",
        "importance_csv": out_dir / "feature_importance.csv",
    }
    evaluation.per_band.to_csv(files["per_band_csv"])
    evaluation.confusion.to_csv(files["confusion_csv"])
    evaluation.calibration.to_csv(files["calibration_csv"], index=False)
    evaluation.importance.rename("importance").to_csv(files["importance_csv"])
    files["confusion_png"] = credit_reports.plot_confusion(
        evaluation.confusion, out_dir / "confusion.png", f"{name}: confusion (grouped CV)"
    )
    files["calibration_png"] = credit_reports.plot_calibration(
        evaluation.calibration, out_dir / "calibration.png", f"{name}: calibration"
    )
    files["importance_png"] = credit_reports.plot_feature_importance(
        evaluation.importance, out_dir / "feature_importance.png", f"{name}: feature importance"
    )
    files["per_band_png"] = credit_reports.plot_per_band(
        evaluation.per_band, out_dir / "per_band.png", f"{name}: per-band F1"
    )
    return files


def compare_candidates(
    evaluations: dict[str, CandidateEvaluation],
    *,
    selection_metric: str,
    folds_fingerprint: str,
    out_dir: Path,
    best: str | None = None,
) -> Comparison:
    """Rank candidates; the baseline is a reference, never a registration candidate.

    ``best`` keeps an earlier selection (calibration must not change which model won).
    """
    results = {name: ev.metrics for name, ev in evaluations.items()}
    table = credit_reports.comparison_table(
        results,
        selection_metric=selection_metric,
        baseline=BASELINE_NAME if BASELINE_NAME in evaluations else None,
    )
    eligible = {n: ev for n, ev in evaluations.items() if n != BASELINE_NAME}
    if not eligible:
        raise ValueError("no candidate model to compare: every family was skipped")
    if best is None:
        best = max(eligible, key=lambda n: _sortable(eligible[n].metrics[selection_metric]))
    files = credit_reports.write_comparison(table, Path(out_dir))
    return Comparison(
        evaluations=evaluations,
        table=table,
        files=files,
        best=best,
        selection_metric=selection_metric,
        folds_fingerprint=folds_fingerprint,
    )


def _sortable(value: float) -> float:
    return -np.inf if value is None or np.isnan(value) else float(value)
