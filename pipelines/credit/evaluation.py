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
from pipelines.credit.tuning import TuningResult, fit_final
from senim.config import Params

BASELINE_NAME = "thesis_baseline"


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
    fitted: Any  # imblearn Pipeline fitted on all rows
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
        return "xgboost", {k.removeprefix("model__"): v for k, v in result.best_params.items()}
    return result.family, dict(result.best_params)


def evaluate_candidate(
    result: TuningResult, matrix: TrainingMatrix, params: Params, out_dir: Path
) -> CandidateEvaluation:
    family, hyperparams = recipe(result)
    y, proba = matrix.bands, result.oof_proba
    metrics = credit_metrics.classification_metrics(y, proba)
    spread = fold_metric_spread(result.fold_scores)
    metrics.update(
        cv_macro_f1_mean=spread["mean"],
        cv_macro_f1_std=spread["std"],
        cv_macro_f1_ci_low=spread["ci_low"],
        cv_macro_f1_ci_high=spread["ci_high"],
        seconds=result.seconds,
    )
    fitted = fit_final(
        family,
        hyperparams,
        matrix.features,
        matrix.bands,
        knn_neighbors=params.features.knn_neighbors,
        smote_k=params.smote.k_neighbors,
        seed=params.tuning.seed,
    )
    from models.credit_candidates import feature_importance

    evaluation = CandidateEvaluation(
        name=result.family,
        family=family,
        hyperparams=hyperparams,
        metrics=metrics,
        fold_scores=list(result.fold_scores),
        per_band=credit_metrics.per_band_report(y, proba),
        confusion=credit_metrics.confusion(y, proba),
        calibration=credit_metrics.calibration_table(y, proba),
        importance=feature_importance(fitted),
        fitted=fitted,
    )
    evaluation.artifacts = _write_candidate_reports(evaluation, Path(out_dir) / result.family)
    return evaluation


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
) -> Comparison:
    """Rank candidates; the baseline is a reference, never a registration candidate."""
    results = {name: ev.metrics for name, ev in evaluations.items()}
    table = credit_reports.comparison_table(
        results,
        selection_metric=selection_metric,
        baseline=BASELINE_NAME if BASELINE_NAME in evaluations else None,
    )
    eligible = {n: ev for n, ev in evaluations.items() if n != BASELINE_NAME}
    if not eligible:
        raise ValueError("no candidate model to compare: every family was skipped")
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
