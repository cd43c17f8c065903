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

from flows.retraining_lease import holds_retraining_lease
from flows.run_artifacts import publish_comparison, publish_decision
from pipelines.common.data_versioning import file_md5, version_snapshot
from pipelines.common.lineage import flatten_params, git_commit, lineage_for
from pipelines.common.metric_values import metric_tag
from pipelines.common.mlflow_store import check_reachable, ensure_experiment, mlflow_client
from pipelines.fer.evidence import fer_champion_facts, fer_evidence
from pipelines.fer.gate import decide_fer_promotion
from pipelines.fer.ingest import load_fer_source
from pipelines.fer.schema import FerDataset
from pipelines.fer.tracking import (
    export_tags,
    fer_champion_evidence,
    log_fer_run,
    register_fer,
    write_json,
)
from pipelines.fer.training_progress import ConsoleProgress, MlflowCurve
from pipelines.fer.validate import (
    clean_for_training,
    clean_test_set,
    ensure_fer_valid,
    validate_fer_data,
)
from pipelines.release.evidence import log_evidence
from pipelines.release.promotion import apply_gate
from pipelines.release.registry import (
    UNCHANGED,
    describe_registration,
    identical_version,
    unchanged_reason,
)
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
    test_accuracy: float | None
    baseline_accuracy: float | None
    exports: dict[str, bool]  # kind -> accepted
    registered_version: str
    decision: str
    decision_reasons: list[str]
    run_id: str
    reports_dir: str
    device: str


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 5],
    task_run_name="check-tracking-store",
)
def check_tracking_store(stores: Stores) -> None:
    check_reachable(stores)


@task(cache_policy=NO_CACHE, task_run_name="load-and-validate")
def load_and_validate(params: Params, docs: Path, snapshot: Path | None = None):
    """The configured source, or an already versioned ``snapshot`` (the DVC stage's)."""
    if snapshot is not None:
        from pipelines.fer.sources import read_fer_npz

        dataset = read_fer_npz(snapshot)
    else:
        dataset = load_fer_source(params.fer.data, params.fer.synthetic)
    result = validate_fer_data(dataset, params.fer.validation)
    (docs / "validation.txt").write_text(result.report())
    ensure_fer_valid(result)
    return dataset, result


@task(cache_policy=NO_CACHE, task_run_name="version-data")
def version_data(dataset: FerDataset, snapshot: Path, stores: Stores) -> str:
    """Only validated data replaces the tracked snapshot; then dvc add + push."""
    from pipelines.fer.sources import write_fer_npz

    staged = write_fer_npz(dataset, snapshot.with_name(f".{snapshot.name}.staged"))
    os.replace(staged, snapshot)
    return version_snapshot(snapshot, stores).md5


@task(cache_policy=NO_CACHE, task_run_name="train")
def train(
    train_set: FerDataset,
    evaluation: FerDataset,
    params: Params,
    baseline: bool,
    listeners: tuple = (),
):
    """``listeners``: objects with ``on_epoch`` and ``on_batch``, told about ours."""
    from pipelines.fer.training import train_fer_model

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

    def on_epoch(report) -> None:
        for listener in listeners:
            listener.on_epoch(report)

    def on_batch(epoch: int, batch: int, batches: int) -> None:
        for listener in listeners:
            listener.on_batch(epoch, batch, batches)

    return train_fer_model(
        train_set,
        evaluation,
        profile,
        seed=params.fer.training.seed,
        on_epoch=on_epoch,
        on_batch=on_batch,
    )


def _evaluate(model, evaluation: FerDataset, tta: bool) -> dict:
    from pipelines.fer.evaluation import evaluate_fer
    from pipelines.fer.training import predict_proba

    return evaluate_fer(evaluation.y, predict_proba(model, evaluation.x, tta=tta))


@flow(name="retrain-fer", log_prints=True)
@holds_retraining_lease("emotion", "retrain-fer")
def retrain_fer(
    params_path: str | None = None,
    data_path: str | None = None,
    data_form: str | None = None,
    profile: str | None = None,
    reports_dir: str | None = None,
    snapshot: str | None = None,
    test_path: str | None = None,
    test_form: str | None = None,
    reason: str | None = None,
) -> FerTrainingSummary:
    """Retrain the emotion model; ``data_path`` (with ``data_form``: csv, folder, npz, or
    inferred) replaces the configured source, ``profile`` the configured profile. One
    emotion retraining at a time (``RetrainingInFlight``; ``reason`` is recorded on the
    lease).

    ``snapshot`` starts from an already versioned ``.npz`` snapshot (the DVC pipeline's
    stage output: no ingest, no ``dvc add``). ``test_path`` (any of the three forms) is an
    extra test set: every image in it, less blank images and copies of training images,
    is evaluated and logged as ``test_*`` metrics; never used for selection or the gate.
    """
    from pipelines.fer.evaluation import confusion_matrix_figure, training_curves_figure
    from pipelines.fer.export import export_and_check, representative_sample
    from pipelines.fer.sources import infer_form, read_fer
    from pipelines.fer.training import predict_proba

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

    test_set = None
    if test_path:
        # Read before training, so a bad test file fails in seconds, not after an hour.
        test_set = read_fer(Path(test_path), test_form or infer_form(Path(test_path)))
    if snapshot:
        say(f"validating the versioned snapshot {snapshot} with Great Expectations")
        dataset, validation = load_and_validate(params, artifacts, Path(snapshot))
        data_version = file_md5(Path(snapshot))
    else:
        say(f"loading {params.fer.data.source} FER data; validating with Great Expectations")
        dataset, validation = load_and_validate(params, artifacts)
        tracked = stores.workspace / params.fer.data.snapshot_path
        tracked.parent.mkdir(parents=True, exist_ok=True)
        say(f"versioning {tracked.relative_to(stores.workspace)} with DVC")
        data_version = version_data(dataset, tracked, stores)
    cleaned, dropped = clean_for_training(dataset, params.fer.validation)
    train_set, evaluation = cleaned.part("Training"), cleaned.part(EVALUATION_USAGE)
    if len(evaluation) == 0:
        raise DataError(f"{dataset.source}: no {EVALUATION_USAGE} images to evaluate on")

    active = params.fer.training.active
    say(
        f"data version {data_version}; {len(train_set)} training and {len(evaluation)} "
        f"{EVALUATION_USAGE} images; training {active.architecture} ({params.fer.training.profile})"
    )
    # The run opens now, so the curve can be watched in the MLflow UI while it trains.
    experiment_id = ensure_experiment(
        stores,
        params.fer.registry.experiment,
        "Seven-class facial emotion (FER2013) from 48x48 faces: one run per retraining.",
    )
    client = mlflow_client(stores)
    run_name = f"{active.architecture}-{params.fer.training.profile}"
    live_run = client.create_run(experiment_id, run_name=run_name).info.run_id
    listeners = (
        ConsoleProgress(reporter(), f"{active.architecture} ({params.fer.training.profile})",
                        active.epochs),
        MlflowCurve(client, live_run),
    )  # fmt: skip
    try:
        ours = train(train_set, evaluation, params, baseline=False, listeners=listeners)
    except BaseException:
        client.set_terminated(live_run, "FAILED")
        raise
    metrics = _evaluate(ours.model, evaluation, active.tta)
    # An export classifies one view of a face, so it is held to the Keras model's
    # one-view accuracy; the flipped-view average (tta) is what the Keras model scores.
    single_view = _evaluate(ours.model, evaluation, False) if active.tta else metrics
    metrics["single_view_accuracy"] = single_view["accuracy"]
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
    write_json(out_dir / "metrics.json", _headline(metrics, baseline_metrics))
    # Any other held-out part given (PrivateTest, the official final test): reported, not
    # used for selection or the gate.
    held_out = cleaned.part("PrivateTest")
    private_metrics = None
    if len(held_out):
        say(f"evaluating on {len(held_out)} PrivateTest images as well")
        private_metrics = _evaluate(ours.model, held_out, active.tta)
        write_json(artifacts / "private_test_metrics.json", private_metrics)
    test_metrics = test_dropped = None
    if test_set is not None:
        kept, test_dropped = clean_test_set(test_set, train_set, params.fer.validation)
        say(f"evaluating on the {len(kept)} images of the test set {test_set.source}")
        test_metrics = _evaluate(ours.model, kept, active.tta)
        write_json(artifacts / "test_metrics.json", {**test_metrics, "images": test_dropped})
        confusion_matrix_figure(
            kept.y,
            predict_proba(ours.model, kept.x, tta=active.tta),
            artifacts / "test_confusion_matrix.png",
            f"{active.architecture} on {Path(test_set.source).name}",
        )
    write_json(
        artifacts / "data.json",
        {
            "data_version": data_version,
            "dropped": dropped,
            "test_set": None
            if test_set is None
            else {"source": test_set.source, **(test_dropped or {})},
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
            keras_accuracy=single_view["accuracy"],
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
    name = params.fer.registry.model_name
    same = identical_version(client, name, lineage.tags())
    if same is not None:
        reason = unchanged_reason(same)
        say(reason)
        client.delete_run(live_run)  # the version it would log already exists
        return FerTrainingSummary(
            data_version=data_version,
            images=len(dataset),
            profile=params.fer.training.profile,
            accuracy=float(metrics["accuracy"]),
            macro_f1=float(metrics["macro_f1"]),
            test_accuracy=None if test_metrics is None else float(test_metrics["accuracy"]),
            baseline_accuracy=(
                None if baseline_metrics is None else float(baseline_metrics["accuracy"])
            ),
            exports={record.kind: bool(record.accepted) for record in exports},
            registered_version=str(same.version),
            decision=UNCHANGED,
            decision_reasons=[reason],
            run_id=str(same.run_id),
            reports_dir=str(out_dir),
            device=ours.device,
        )
    scalar = _scalar_metrics(metrics, baseline_metrics, ours)
    for prefix, extra in (("private_test_", private_metrics), ("test_", test_metrics)):
        if extra is not None:
            scalar.update(
                {f"{prefix}{k}": float(v) for k, v in extra.items() if isinstance(v, int | float)}
            )
    run = log_fer_run(
        experiment_id=experiment_id,
        model=ours.model,
        params_flat=_fer_params(params),
        metrics=scalar,
        artifacts_dir=artifacts,
        lineage=lineage,
        run_name=run_name,
        run_id=live_run,
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
            "eval.accuracy": metric_tag(metrics["accuracy"]),
            "eval.macro_f1": metric_tag(metrics["macro_f1"]),
            "device": ours.device,
            **export_tags(exports),
        },
    )
    decision = decide_fer_promotion(metrics, params.fer.gate, champion)
    decision = apply_gate(client, registered, decision, params.review, stores.database_url)
    describe_registration(
        client,
        registered,
        run.run_id,
        f"{active.architecture} ({params.fer.training.profile} profile): {EVALUATION_USAGE} "
        f"accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f} on data "
        f"{data_version[:12]}; gate: {decision.label}.",
    )
    say(f"{name} version {registered.version}: {decision.summary()}")
    rows = [{"model": active.architecture, **metrics}]
    if baseline_metrics is not None:
        rows.append({"model": "paper_cnn (baseline)", **baseline_metrics})
    publish_comparison(
        "fer-comparison",
        [{k: v for k, v in row.items() if not isinstance(v, list | dict)} for row in rows],
        f"{EVALUATION_USAGE} accuracy and macro-F1 on data {data_version[:12]}",
    )
    publish_decision(
        "fer-gate-decision", registered.name, registered.version, decision.label,
        decision.reasons,
    )  # fmt: skip
    say(f"logging the model card of version {registered.version}")
    evidence = fer_evidence(
        model_name=name,
        version=registered.version,
        run_id=run.run_id,
        cleaned=cleaned,
        dropped=dropped,
        validation=validation,
        evaluation_usage=EVALUATION_USAGE,
        evaluation_y=evaluation.y,
        proba=proba,
        metrics=metrics,
        exports=exports,
        champion=fer_champion_facts(client, name, champion, data_version),
        data_version=data_version,
        params=params,
    )
    log_evidence(client, registered, run.run_id, evidence, out_dir / "evidence")
    follow_promotion(params, stores)
    return FerTrainingSummary(
        data_version=data_version,
        images=len(dataset),
        profile=params.fer.training.profile,
        accuracy=float(metrics["accuracy"]),
        macro_f1=float(metrics["macro_f1"]),
        test_accuracy=None if test_metrics is None else float(test_metrics["accuracy"]),
        baseline_accuracy=None if baseline_metrics is None else float(baseline_metrics["accuracy"]),
        exports={record.kind: bool(record.accepted) for record in exports},
        registered_version=registered.version,
        decision=decision.label,
        decision_reasons=list(decision.reasons),
        run_id=run.run_id,
        reports_dir=str(out_dir),
        device=ours.device,
    )


@task(cache_policy=NO_CACHE, task_run_name="follow-promotion")
def follow_promotion(params: Params, stores: Stores) -> None:
    """A champion move reaches the running emotion services (``pipelines.release.follow``);
    a failed deployment fails the run, and the previous version keeps serving."""
    from pipelines.fer.deploy import EMOTION
    from pipelines.release.follow import follow_now

    follow_now((EMOTION,), stores, params, say=reporter().stage)


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
    keep["best_epoch"] = float(trained.best_epoch)
    keep["train_images"] = float(trained.train_images)
    keep["train_seconds"] = float(trained.seconds)
    return keep


def _headline(metrics: dict, baseline: dict | None) -> dict[str, float]:
    """What ``dvc metrics show`` lists (the full metrics are under artifacts/)."""
    headline = {name: float(metrics[name]) for name in ("accuracy", "macro_f1")}
    if baseline is not None:
        headline.update(
            baseline_accuracy=float(baseline["accuracy"]),
            baseline_macro_f1=float(baseline["macro_f1"]),
        )
    return headline
