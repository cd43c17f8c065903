"""Prefect flow ``retrain-fer``: load → validate (GX) → clean → version (DVC) → train ours
and the paper's baseline → evaluate on PublicTest → TFLite exports → MLflow → registry
(``fer-emotion``, alias ``challenger``) → gate (``champion``).

Each task calls the one implementation of its stage in ``pipelines/``. Data is validated
before it replaces the tracked snapshot; the snapshot keeps every image, and cleaning
(blank images, Training copies of evaluation images) happens on the way to training.
TensorFlow is imported by the training tasks only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipelines import credit_registry
from pipelines.credit_tracking import lineage_for
from pipelines.data_versioning import version_snapshot
from pipelines.fer_gate import decide_fer_promotion
from pipelines.fer_ingest import load_fer_source
from pipelines.fer_schema import FerDataset
from pipelines.fer_tracking import (
    export_tags,
    fer_champion_evidence,
    log_fer_run,
    register_fer,
    write_json,
)
from pipelines.fer_validate import clean_for_training, ensure_fer_valid, validate_fer_data
from pipelines.lineage import flatten_params, git_commit
from pipelines.mlflow_store import check_reachable, mlflow_client
from senim.config import Params, load_params
from senim.environment import Stores, resolve_stores
from senim.errors import DataError
from senim.progress import reporter

EVALUATION_USAGE = "PublicTest"
REPRESENTATIVE_IMAGES = 200


@dataclass(frozen=True)
class FerTrainingSummary:
    data_version: str
    images: int
    profile: str
    accuracy: float
    macro_f1: float
    baseline_accuracy: float | None
    exports: dict[str, bool]  # kind -> accepted
    registered_version: str
    decision: str
    decision_reasons: list[str]
    run_id: str
    reports_dir: str
    device: str


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 5])
def check_tracking_store(stores: Stores) -> None:
    check_reachable(stores)


@task(cache_policy=NO_CACHE)
def load_and_validate(params: Params, docs: Path):
    dataset = load_fer_source(params.fer.data, params.fer.synthetic)
    result = validate_fer_data(dataset, params.fer.validation)
    (docs / "validation.txt").write_text(result.report())
    ensure_fer_valid(result)
    return dataset, result


@task(cache_policy=NO_CACHE)
def version_data(dataset: FerDataset, snapshot: Path, stores: Stores) -> str:
    """Only validated data replaces the tracked snapshot; then dvc add + push."""
    from pipelines.fer_sources import write_fer_npz

    staged = write_fer_npz(dataset, snapshot.with_name(f".{snapshot.name}.staged"))
    os.replace(staged, snapshot)
    return version_snapshot(snapshot, stores).md5


@task(cache_policy=NO_CACHE)
def train(train_set: FerDataset, evaluation: FerDataset, params: Params, baseline: bool):
    from pipelines.fer_training import train_fer_model

    profile = params.fer.training.active
    if baseline:
        return train_fer_model(
            train_set,
            evaluation,
            profile,
            seed=params.fer.training.seed,
            architecture="paper_cnn",
            epochs=profile.baseline_epochs,
        )
    return train_fer_model(train_set, evaluation, profile, seed=params.fer.training.seed)


def _evaluate(model, evaluation: FerDataset, tta: bool) -> dict:
    from pipelines.fer_evaluation import evaluate_fer
    from pipelines.fer_training import predict_proba

    return evaluate_fer(evaluation.y, predict_proba(model, evaluation.x, tta=tta))


@flow(name="retrain-fer", log_prints=True)
def retrain_fer(
    params_path: str | None = None,
    data_path: str | None = None,
    data_form: str | None = None,
    profile: str | None = None,
    reports_dir: str | None = None,
) -> FerTrainingSummary:
    """Retrain the emotion model; ``data_path`` (with ``data_form``: csv, folder, npz, or
    inferred) replaces the configured source, ``profile`` the configured profile."""
    from pipelines.fer_evaluation import confusion_matrix_figure, training_curves_figure
    from pipelines.fer_export import export_and_check, representative_sample
    from pipelines.fer_sources import infer_form
    from pipelines.fer_training import predict_proba

    stores = resolve_stores()
    params = load_params(params_path or stores.params_path)
    overrides: dict = {}
    if data_path:
        form = data_form or infer_form(Path(data_path))
        overrides["data"] = {**params.fer.data.model_dump(), "source": form, "path": data_path}
    if profile:
        overrides["training"] = {**params.fer.training.model_dump(), "profile": profile}
    if overrides:
        params = params.with_overrides(fer={**params.fer.model_dump(), **overrides})
    out_dir = (
        Path(reports_dir)
        if reports_dir
        else (stores.runs_dir / f"fer-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    artifacts = out_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    say = reporter().stage
    check_tracking_store(stores)

    say(f"loading {params.fer.data.source} FER data; validating with Great Expectations")
    dataset, validation = load_and_validate(params, artifacts)
    snapshot = stores.workspace / params.fer.data.snapshot_path
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    say(f"versioning {snapshot.relative_to(stores.workspace)} with DVC")
    data_version = version_data(dataset, snapshot, stores)
    cleaned, dropped = clean_for_training(dataset, params.fer.validation)
    train_set, evaluation = cleaned.part("Training"), cleaned.part(EVALUATION_USAGE)
    if len(evaluation) == 0:
        raise DataError(f"{dataset.source}: no {EVALUATION_USAGE} images to evaluate on")

    active = params.fer.training.active
    say(
        f"data version {data_version}; {len(train_set)} training and {len(evaluation)} "
        f"{EVALUATION_USAGE} images; training {active.architecture} ({params.fer.training.profile})"
    )
    ours = train(train_set, evaluation, params, baseline=False)
    metrics = _evaluate(ours.model, evaluation, active.tta)
    baseline_metrics = None
    if active.baseline_epochs > 0:
        say(f"training the paper's CNN baseline ({active.baseline_epochs} epochs)")
        paper = train(train_set, evaluation, params, baseline=True)
        baseline_metrics = _evaluate(paper.model, evaluation, False)
        write_json(artifacts / "baseline_metrics.json", baseline_metrics)

    proba = predict_proba(ours.model, evaluation.x, tta=active.tta)
    confusion_matrix_figure(
        evaluation.y,
        proba,
        artifacts / "confusion_matrix.png",
        f"{active.architecture} on {EVALUATION_USAGE}",
    )
    training_curves_figure(ours.history, artifacts / "training_curves.png", active.architecture)
    write_json(artifacts / "metrics.json", metrics)
    # Any other held-out part given (PrivateTest, the official final test): reported, not
    # used for selection or the gate.
    held_out = cleaned.part("PrivateTest")
    private_metrics = None
    if len(held_out):
        say(f"evaluating on {len(held_out)} PrivateTest images as well")
        private_metrics = _evaluate(ours.model, held_out, active.tta)
        write_json(artifacts / "private_test_metrics.json", private_metrics)
    write_json(
        artifacts / "data.json",
        {
            "data_version": data_version,
            "dropped": dropped,
            "validation": validation.summary,
            "notes": list(dataset.notes),
        },
    )

    say("exporting TFLite float16 and int8")
    representative = representative_sample(
        train_set, REPRESENTATIVE_IMAGES, params.fer.training.seed
    )
    exports = [
        export_and_check(
            ours.model,
            kind,
            artifacts / "exports" / f"fer-emotion-{kind}.tflite",
            evaluation=evaluation,
            representative=representative if kind == "int8" else None,
            keras_accuracy=metrics["accuracy"],
            max_int8_drop=params.fer.gate.max_int8_accuracy_drop,
        )
        for kind in ("float16", "int8")
    ]
    lineage = lineage_for(
        params,
        data_version=data_version,
        git_commit=git_commit(stores.workspace),
        validation=validation.headline(),
    )
    client = mlflow_client(stores)
    name = params.fer.registry.model_name
    experiment_id = _experiment(client, params.fer.registry.experiment, stores)
    scalar = _scalar_metrics(metrics, baseline_metrics, ours)
    if private_metrics is not None:
        scalar.update(
            {
                f"private_test_{k}": float(v)
                for k, v in private_metrics.items()
                if isinstance(v, int | float)
            }
        )
    run = log_fer_run(
        experiment_id=experiment_id,
        model=ours.model,
        params_flat=_fer_params(params),
        metrics=scalar,
        artifacts_dir=artifacts,
        lineage=lineage,
        run_name=f"{active.architecture}-{params.fer.training.profile}",
    )

    def champion_accuracy(model_uri: str) -> float:
        import mlflow

        champion = mlflow.keras.load_model(model_uri)
        return _evaluate(champion, evaluation, active.tta)["accuracy"]

    champion = fer_champion_evidence(client, name, data_version, champion_accuracy)
    registered = register_fer(
        client,
        name,
        run,
        lineage,
        {
            "architecture": active.architecture,
            "profile": params.fer.training.profile,
            "eval.usage": EVALUATION_USAGE,
            "eval.accuracy": f"{metrics['accuracy']:.6f}",
            "eval.macro_f1": f"{metrics['macro_f1']:.6f}",
            "device": ours.device,
            **export_tags(exports),
        },
    )
    decision = decide_fer_promotion(metrics, params.fer.gate, champion)
    credit_registry.apply_gate(client, registered, decision)
    say(f"{name} version {registered.version}: {decision.summary()}")
    return FerTrainingSummary(
        data_version=data_version,
        images=len(dataset),
        profile=params.fer.training.profile,
        accuracy=float(metrics["accuracy"]),
        macro_f1=float(metrics["macro_f1"]),
        baseline_accuracy=None if baseline_metrics is None else float(baseline_metrics["accuracy"]),
        exports={record.kind: bool(record.accepted) for record in exports},
        registered_version=registered.version,
        decision=decision.label,
        decision_reasons=list(decision.reasons),
        run_id=run.run_id,
        reports_dir=str(out_dir),
        device=ours.device,
    )


def _experiment(client, name: str, stores: Stores) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=stores.artifact_root)


def _fer_params(params: Params) -> dict[str, str]:
    flat = flatten_params(params)
    return {k: v for k, v in flat.items() if k.startswith("fer.")}


def _scalar_metrics(metrics: dict, baseline: dict | None, trained) -> dict[str, float]:
    keep = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    if baseline is not None:
        keep.update(
            {f"baseline_{k}": float(v) for k, v in baseline.items() if isinstance(v, int | float)}
        )
    keep["epochs_run"] = float(trained.epochs_run)
    keep["train_seconds"] = float(trained.seconds)
    return keep
