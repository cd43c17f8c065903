"""Log one retraining to MLflow: a parent run, a nested run per candidate, the best model.

Reviewers compare candidates in the MLflow UI, so everything they need is here: params,
grouped-CV metrics, per-band reports, plots, the comparison table and the Great
Expectations Data Docs, all tagged with the data version and git commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.common.lineage import Lineage, flatten_params
from pipelines.common.metric_values import finite_metrics
from pipelines.common.mlflow_store import ensure_experiment, mlflow_client
from pipelines.credit.evaluation import CandidateEvaluation, Comparison
from pipelines.credit.model_serialization import skops_trusted_types
from pipelines.credit.training_matrix import TrainingMatrix
from senim.config import Params
from senim.environment import Stores


@dataclass(frozen=True)
class RetrainingRun:
    parent_run_id: str
    candidate_run_ids: dict[str, str]
    model_uri: str  # the best candidate's logged model
    experiment_id: str


def log_retraining(
    comparison: Comparison,
    matrix: TrainingMatrix,
    *,
    params: Params,
    stores: Stores,
    lineage: Lineage,
    docs_dir: Path | None,
) -> RetrainingRun:
    import mlflow

    mlflow_client(stores)
    experiment_id = ensure_experiment(
        stores,
        params.registry.experiment,
        "Corporate credit rating bands from financial ratios: one parent run per retraining, "
        "a nested run per candidate.",
    )
    candidate_runs: dict[str, str] = {}
    with mlflow.start_run(experiment_id=experiment_id, run_name="retrain-credit") as parent:
        mlflow.set_tags({**lineage.tags(), "senim.job": "retrain-credit", "best": comparison.best})
        mlflow.log_params(flatten_params(params))
        mlflow.log_metrics(
            {f"best.{k}": v for k, v in finite_metrics(comparison.best_evaluation.metrics).items()}
        )
        if comparison.beats_baseline is not None:
            mlflow.set_tag("beats_thesis_baseline", str(comparison.beats_baseline).lower())
        for path in comparison.files.values():
            mlflow.log_artifact(str(path), artifact_path="comparison")
        if docs_dir is not None and Path(docs_dir).is_dir():
            mlflow.log_artifacts(str(docs_dir), artifact_path="data_docs")
        model_uri = ""
        for name, evaluation in comparison.evaluations.items():
            with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=True) as run:
                candidate_runs[name] = run.info.run_id
                _log_candidate(evaluation, comparison, lineage)
                if name == comparison.best:
                    model_uri = _log_model(evaluation, matrix)
    return RetrainingRun(
        parent_run_id=parent.info.run_id,
        candidate_run_ids=candidate_runs,
        model_uri=model_uri,
        experiment_id=experiment_id,
    )


def _log_candidate(
    evaluation: CandidateEvaluation, comparison: Comparison, lineage: Lineage
) -> None:
    import mlflow

    mlflow.set_tags(
        {
            **lineage.tags(),
            "family": evaluation.family,
            "candidate": evaluation.name,
            "selected": str(evaluation.name == comparison.best).lower(),
            "cv_folds_fingerprint": comparison.folds_fingerprint,
        }
    )
    mlflow.log_params({f"hp.{k}": v for k, v in evaluation.hyperparams.items()})
    mlflow.log_metrics(finite_metrics(evaluation.metrics))
    for fold, score in enumerate(evaluation.fold_scores):
        mlflow.log_metric("fold_macro_f1", score, step=fold)
    for path in evaluation.artifacts.values():
        mlflow.log_artifact(str(path), artifact_path="evaluation")


def _model_kwargs(evaluation: CandidateEvaluation, matrix: TrainingMatrix) -> dict[str, Any]:
    """Signature, input example and trusted types: identical for logged and saved copies."""
    from mlflow.models import infer_signature

    example = matrix.features.head(5)
    return {
        "signature": infer_signature(example, evaluation.fitted.predict_proba(example)),
        "input_example": example,
        "pyfunc_predict_fn": "predict_proba",
        "skops_trusted_types": skops_trusted_types(evaluation.fitted),
        "pip_requirements": model_requirements(),
        "metadata": {
            "family": evaluation.family,
            "hyperparams": json.dumps(evaluation.hyperparams),
        },
    }


# The modules loading the pipeline imports; pinned by the distribution that installed
# each here (xgboost comes from ``xgboost-cpu``, the build without CUDA libraries).
MODEL_MODULES = ("sklearn", "imblearn", "xgboost", "numpy", "pandas", "scipy", "skops")


def model_requirements() -> list[str]:
    """Exact pins of what loading the pipeline needs, instead of MLflow's slow inference."""
    from importlib.metadata import packages_distributions, version

    providers = packages_distributions()
    return [
        f"{distribution}=={version(distribution)}"
        for module in MODEL_MODULES
        for distribution in providers[module][:1]
    ]


def _log_model(evaluation: CandidateEvaluation, matrix: TrainingMatrix) -> str:
    import mlflow

    info = mlflow.sklearn.log_model(
        evaluation.fitted, name="model", **_model_kwargs(evaluation, matrix)
    )
    return info.model_uri


def save_model_copy(evaluation: CandidateEvaluation, matrix: TrainingMatrix, path: Path) -> Path:
    """The best model as an MLflow model folder: the DVC pipeline's reproducible output."""
    import shutil

    import mlflow

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    mlflow.sklearn.save_model(evaluation.fitted, str(path), **_model_kwargs(evaluation, matrix))
    return path
