"""Prefect flow ``retrain-credit``: ingest → validate → version (DVC) → tune (concurrently)
→ compare → register → gate.

The flow only sequences tasks; each task calls the one implementation of its stage in
``pipelines/``. Data is validated before it replaces the tracked snapshot, so a bad
source never overwrites the last good data version. Retries are on I/O tasks only
(reading the source, pushing to the DVC remote, reaching the tracking store). No Prefect
server is needed: without ``PREFECT_API_URL`` Prefect starts its ephemeral API under
``PREFECT_HOME``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.retraining_lease import holds_retraining_lease
from flows.run_artifacts import publish_comparison, publish_decision
from flows.task_runners import ConfiguredTaskRunner, dask_address, trial_tasks
from models.credit_candidates import FAMILIES
from pipelines.common.data_versioning import file_md5, version_snapshot
from pipelines.common.lineage import git_commit, lineage_for
from pipelines.common.metric_values import finite_metrics
from pipelines.common.mlflow_store import check_reachable, mlflow_client
from pipelines.credit import registry as credit_registry
from pipelines.credit.evaluation import (
    BASELINE_NAME,
    calibrate_selected,
    compare_candidates,
    evaluate_candidate,
)
from pipelines.credit.gate import decide_promotion
from pipelines.credit.grouped_cv import folds_fingerprint, grouped_folds
from pipelines.credit.ingest import ingest
from pipelines.credit.tracking import log_retraining, save_model_copy
from pipelines.credit.training_matrix import load_training_matrix
from pipelines.credit.tuning import (
    JOURNAL_PREFIX,
    CandidateSettings,
    merge_shared_results,
    prepare_study_storage,
    run_baseline,
    tune_family,
)
from pipelines.credit.validate import ensure_valid, validate_credit_data
from pipelines.release.promotion import apply_gate
from pipelines.release.registry import (
    UNCHANGED,
    describe_registration,
    identical_version,
    unchanged_reason,
)
from senim.config import Params, load_params
from senim.environment import Stores, resolve_stores
from senim.errors import ConfigError, DataError
from senim.progress import reporter


def _transient(task, task_run, state) -> bool:
    """Retry I/O that may recover (a store briefly down), never bad data or bad config."""
    return not isinstance(state.data, DataError | ConfigError)


IO = {"cache_policy": NO_CACHE, "retry_condition_fn": _transient}


@dataclass(frozen=True)
class RetrainingSummary:
    data_version: str
    snapshot: str
    best: str
    beats_baseline: bool | None
    comparison_csv: str
    registered_version: str
    decision: str
    decision_reasons: list[str]
    parent_run_id: str
    reports_dir: str
    tracking_uri: str
    mlflow_ui: str


@task(**IO, task_run_name="check-tracking-store")
def check_tracking_store(stores: Stores) -> None:
    check_reachable(stores)


@task(**IO, task_run_name="check-study-storage")
def check_study_storage(storage: str) -> None:
    prepare_study_storage(storage)


@task(**IO, task_run_name="snapshot-source")
def snapshot_source(params: Params, stores: Stores, staging: Path) -> Path:
    return ingest(params.data, params.synthetic, staging, source_dsn=stores.source_dsn)


@task(**IO, task_run_name="version-data")
def version_data(staged: Path, snapshot: Path, stores: Stores) -> str:
    """Only validated data replaces the tracked snapshot; then dvc add + push."""
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    partial = snapshot.with_name(f".{snapshot.name}.partial")
    shutil.copyfile(staged, partial)
    os.replace(partial, snapshot)  # atomic within the workspace's filesystem
    return version_snapshot(snapshot, stores).md5


@task(cache_policy=NO_CACHE, task_run_name="validate-with-great-expectations")
def validate_snapshot(snapshot: Path, params: Params, docs_dir: Path):
    from pipelines.credit.sources import read_credit_csv

    result = validate_credit_data(read_credit_csv(snapshot), params.validation, docs_dir=docs_dir)
    ensure_valid(result)
    return result


def study_store(params: Params, configured: str | None, run_dir: Path) -> str | None:
    """Where each family's Optuna study lives in this run: ``SENIM_OPTUNA_STORAGE`` when
    set; a journal file in the run's folder when Dask tasks of a LocalCluster split the
    trials (processes on this host share it); else memory."""
    if configured:
        return configured
    if trial_tasks(params.orchestration) == 1:
        return None
    if dask_address():
        raise ConfigError(
            f"orchestration.trial_tasks is {params.orchestration.trial_tasks}: the tasks of "
            "one family share its Optuna study, and workers of the Dask cluster at "
            "SENIM_DASK_ADDRESS cannot reach a file on this host; set SENIM_OPTUNA_STORAGE "
            "to a database they all reach, or trial_tasks to 1"
        )
    return f"{JOURNAL_PREFIX}{run_dir.resolve() / 'optuna-studies.journal'}"


@task(cache_policy=NO_CACHE, task_run_name="tune-{family}")
def tune(family: str, matrix, folds, params: Params, storage: str | None, study_name: str):
    n_trials = getattr(params.tuning.trials, family)
    reporter().start(family, f"tuning {family}", n_trials)
    return tune_family(
        family,
        matrix.features,
        matrix.bands,
        folds,
        n_trials=n_trials,
        settings=CandidateSettings.from_params(params),
        storage=storage,
        study_name=study_name,
        pruning=params.tuning.pruning,
        timeout=params.tuning.timeout_seconds,
        on_trial=lambda _number, _value: reporter().advance(family),
    )


@task(cache_policy=NO_CACHE, task_run_name="tune-thesis-baseline")
def thesis_baseline(matrix, folds, params: Params):
    return run_baseline(
        matrix.features,
        matrix.bands,
        folds,
        baseline_params=params.baseline,
        settings=CandidateSettings.from_params(params),
    )


@task(cache_policy=NO_CACHE, task_run_name="evaluate-{result.family}")
def evaluate(result, matrix, folds, params: Params, out_dir: Path):
    return evaluate_candidate(result, matrix, params, out_dir, folds)


@task(cache_policy=NO_CACHE, task_run_name="calibrate-selected")
def calibrate(comparison, matrix, folds, params: Params, out_dir: Path):
    return calibrate_selected(comparison, matrix, folds, params, out_dir)


@task(cache_policy=NO_CACHE, task_run_name="check-model-behaviour")
def check_model_behaviour(comparison, matrix, params: Params):
    """Invariance, directional expectations and clear cases on the model to register."""
    from pipelines.credit.behaviour import check_behaviour

    if not params.behaviour.enabled:
        return None
    return check_behaviour(
        comparison.best_evaluation.fitted,
        matrix.features,
        matrix.bands,
        params.behaviour,
        default_agency=params.scoring.default_rating_agency,
        seed=params.tuning.seed,
    )


@task(cache_policy=NO_CACHE, task_run_name="register-and-gate")
def register_and_gate(
    comparison, matrix, folds, params: Params, stores: Stores, lineage, docs_dir, behaviour
):
    run = log_retraining(
        comparison, matrix, params=params, stores=stores, lineage=lineage, docs_dir=docs_dir
    )
    client = mlflow_client(stores)
    if behaviour is not None:
        for kind in ("md", "json"):
            path = Path(comparison.files["csv"]).with_name(f"behaviour.{kind}")
            if path.is_file():
                client.log_artifact(run.candidate_run_ids[comparison.best], str(path), "behaviour")
    name = params.registry.model_name
    # The champion is read before registering so the new version never competes with itself.
    champion = credit_registry.champion_evidence(
        client, name, matrix, folds, comparison.folds_fingerprint, params
    )
    registered = credit_registry.register_best(client, comparison, run, lineage, params)
    decision = decide_promotion(
        comparison.best_evaluation.metrics, params.gate, champion, behaviour
    )
    decision = apply_gate(client, registered, decision, params.review, stores.database_url)
    best = comparison.best_evaluation.metrics
    describe_registration(
        client,
        registered,
        run.parent_run_id,
        f"Best of {len(comparison.evaluations)} candidates: {comparison.best} (macro-F1 "
        f"{best['macro_f1']:.3f}, company-grouped CV) on data {lineage.data_version[:12]}; "
        f"gate: {decision.label}.",
    )
    return run, registered, decision


@task(cache_policy=NO_CACHE, task_run_name="follow-promotion")
def follow_promotion(params: Params, stores: Stores) -> None:
    """A champion move reaches the running credit services (``pipelines.release.follow``);
    a failed deployment fails the run, and the previous version keeps serving."""
    from pipelines.credit.deploy import CREDIT
    from pipelines.release.follow import follow_now

    follow_now((CREDIT,), stores, params, say=reporter().stage)


@task(**IO, task_run_name="read-champion")
def read_champion(params: Params, stores: Stores, fingerprint: str):
    """The champion before this retraining registers anything: the card compares with it."""
    from pipelines.credit.evidence import champion_facts

    return champion_facts(mlflow_client(stores), params.registry.model_name, fingerprint)


@task(cache_policy=NO_CACHE, task_run_name="log-credit-evidence")
def log_credit_evidence(
    comparison,
    matrix,
    folds,
    snapshot_path: Path,
    validation,
    data_version: str,
    champion,
    params: Params,
    stores: Stores,
    run,
    registered,
    out_dir: Path,
):
    """Model card and fairness report under ``evidence/`` of the version's run, plus tags;
    returns the notes a reviewer must see (flagged fairness slices)."""
    from pipelines.credit.evidence import credit_evidence
    from pipelines.credit.sources import read_credit_csv
    from pipelines.release.evidence import log_evidence

    run_id = run.candidate_run_ids[comparison.best]
    evidence = credit_evidence(
        model_name=registered.name,
        version=registered.version,
        run_id=run_id,
        evaluation=comparison.best_evaluation,
        frame=read_credit_csv(snapshot_path),
        bands=matrix.bands,
        folds=folds,
        data_version=data_version,
        validation=validation,
        champion=champion,
        params=params,
    )
    log_evidence(mlflow_client(stores), registered, run_id, evidence, out_dir / "evidence")
    return evidence.notes


@flow(name="retrain-credit", task_runner=ConfiguredTaskRunner(), log_prints=True)
@holds_retraining_lease("credit", "retrain-credit")
def retrain_credit(
    params_path: str | None = None,
    data_csv: str | None = None,
    snapshot: str | None = None,
    reports_dir: str | None = None,
    reason: str | None = None,
) -> RetrainingSummary:
    """Retrain the credit models; one credit retraining at a time (``RetrainingInFlight``
    when another holds the lease; ``reason`` is recorded on it).

    ``data_csv`` trains on a CSV in the corporate_rating schema instead of the configured
    source; ``snapshot`` starts from an already versioned snapshot (the DVC pipeline's
    ingest output) and skips ingest and ``dvc add``.
    """
    stores = resolve_stores()
    params = load_params(params_path or stores.params_path)
    if data_csv:
        params = params.with_overrides(data={"source": "csv", "csv_path": str(data_csv)})
    started = time.strftime("%Y%m%d-%H%M%S")
    out_dir = Path(reports_dir) if reports_dir else stores.runs_dir / f"credit-{started}"
    out_dir.mkdir(parents=True, exist_ok=True)

    retry = {
        "retries": params.orchestration.io_retries,
        "retry_delay_seconds": list(params.orchestration.io_retry_delay_seconds),
    }
    say = reporter().stage
    say(f"tracking store: {stores.tracking_uri}")
    check_tracking_store.with_options(**retry)(stores)
    if stores.optuna_storage:
        check_study_storage.with_options(**retry)(stores.optuna_storage)
    studies = study_store(params, stores.optuna_storage, out_dir)
    docs_dir = out_dir / "data_docs"
    if snapshot:
        snapshot_path = Path(snapshot).resolve()
        data_version = file_md5(snapshot_path)
        say(f"data version {data_version}; validating with Great Expectations")
        validation = validate_snapshot(snapshot_path, params, docs_dir)
    else:
        say(f"ingesting {params.data.source} data")
        staged = snapshot_source.with_options(**retry)(
            params, stores, out_dir / "staged-snapshot.csv"
        )
        say("validating with Great Expectations")
        validation = validate_snapshot(staged, params, docs_dir)
        snapshot_path = stores.workspace / params.data.snapshot_path
        say(f"versioning {params.data.snapshot_path} with DVC")
        data_version = version_data.with_options(**retry)(staged, snapshot_path, stores)
        say(f"data version {data_version}")

    matrix = load_training_matrix(snapshot_path)
    folds = grouped_folds(
        matrix.bands,
        matrix.companies,
        n_splits=params.cv.n_splits,
        seed=params.cv.seed,
        smote_k=params.smote.k_neighbors,
    )
    fingerprint = folds_fingerprint(folds)
    say(
        f"{matrix.n_rows} ratings of {len(set(matrix.companies))} companies; "
        f"{params.cv.n_splits} company-grouped folds; tuning candidates"
    )
    study_prefix = f"credit-{data_version[:12]}-{fingerprint[:8]}"
    tasks_per_family = trial_tasks(params.orchestration)
    futures = {
        family: [
            tune.submit(family, matrix, folds, params, studies, f"{study_prefix}-{family}")
            for _ in range(tasks_per_family)
        ]
        for family in FAMILIES
    }
    if params.baseline.enabled:
        futures[BASELINE_NAME] = [thesis_baseline.submit(matrix, folds, params)]
    results = {
        name: merge_shared_results([future.result() for future in shares])
        for name, shares in futures.items()
    }
    say("evaluating candidates on out-of-fold predictions")
    evaluations = {
        name: evaluate(result, matrix, folds, params, out_dir / "candidates")
        for name, result in results.items()
    }
    comparison = compare_candidates(
        evaluations,
        selection_metric=params.selection.metric,
        folds_fingerprint=fingerprint,
        out_dir=out_dir,
    )
    if params.calibration.enabled:
        say(f"calibrating {comparison.best}'s probabilities inside the grouped folds")
        comparison = calibrate(comparison, matrix, folds, params, out_dir)
    _write_metrics(comparison, out_dir)
    save_model_copy(comparison.best_evaluation, matrix, out_dir / "model")
    lineage = lineage_for(
        params,
        data_version=data_version,
        git_commit=git_commit(stores.workspace),
        validation=f"passed ({validation.evaluated} expectations)",
    )
    say(f"best: {comparison.best}; logging to MLflow, registering and gating")
    same = identical_version(mlflow_client(stores), params.registry.model_name, lineage.tags())
    if same is not None:
        return _unchanged_summary(same, comparison, data_version, snapshot_path, out_dir, stores)
    champion_before = read_champion.with_options(**retry)(params, stores, fingerprint)
    say(f"checking {comparison.best}'s behaviour (invariance, direction, clear cases)")
    behaviour = check_model_behaviour(comparison, matrix, params)
    if behaviour is not None:
        _write_behaviour(behaviour, out_dir)
    run, registered, decision = register_and_gate(
        comparison, matrix, folds, params, stores, lineage, docs_dir, behaviour
    )
    publish_comparison(
        "credit-comparison",
        comparison.table.reset_index().to_dict("records"),
        f"grouped-CV comparison on data {data_version[:12]}; best {comparison.best}",
    )
    publish_decision(
        "credit-gate-decision", registered.name, registered.version, decision.label,
        decision.reasons,
    )  # fmt: skip
    say(f"logging the model card and fairness report of version {registered.version}")
    notes = log_credit_evidence(
        comparison,
        matrix,
        folds,
        snapshot_path,
        validation,
        data_version,
        champion_before,
        params,
        stores,
        run,
        registered,
        out_dir,
    )
    follow_promotion(params, stores)
    return RetrainingSummary(
        data_version=data_version,
        snapshot=str(snapshot_path),
        best=comparison.best,
        beats_baseline=comparison.beats_baseline,
        comparison_csv=str(comparison.files["csv"]),
        registered_version=registered.version,
        decision=decision.label,
        decision_reasons=[*decision.reasons, *notes],
        parent_run_id=run.parent_run_id,
        reports_dir=str(out_dir),
        tracking_uri=stores.tracking_uri,
        mlflow_ui=stores.mlflow_ui_command(),
    )


def _unchanged_summary(
    same, comparison, data_version: str, snapshot: Path, out_dir: Path, stores: Stores
) -> RetrainingSummary:
    """Nothing new to register: an existing version holds this data, params and code."""
    reason = unchanged_reason(same)
    reporter().stage(reason)
    return RetrainingSummary(
        data_version=data_version,
        snapshot=str(snapshot),
        best=comparison.best,
        beats_baseline=comparison.beats_baseline,
        comparison_csv=str(comparison.files["csv"]),
        registered_version=str(same.version),
        decision=UNCHANGED,
        decision_reasons=[reason],
        parent_run_id=str(same.run_id),
        reports_dir=str(out_dir),
        tracking_uri=stores.tracking_uri,
        mlflow_ui=stores.mlflow_ui_command(),
    )


SUMMARY_METRICS = (
    "macro_f1",
    "balanced_accuracy",
    "accuracy",
    "within_one_band_accuracy",
    "mean_abs_band_error",
)


def _write_behaviour(behaviour, out_dir: Path) -> None:
    """behaviour.md and behaviour.json beside the comparison (logged with it to MLflow)."""
    (out_dir / "behaviour.md").write_text(behaviour.to_markdown())
    (out_dir / "behaviour.json").write_text(behaviour.to_json())


def _write_metrics(comparison, out_dir: Path) -> None:
    """DVC-readable metrics, narrow enough for ``dvc metrics show``: the best candidate's
    headline metrics and each candidate's macro-F1 (the full table is comparison.csv)."""
    best = finite_metrics(comparison.best_evaluation.metrics)
    payload = {
        "best": comparison.best,
        **{name: best[name] for name in SUMMARY_METRICS if name in best},
        "candidates_macro_f1": {
            name: finite_metrics(ev.metrics).get("macro_f1")
            for name, ev in comparison.evaluations.items()
        },
        "beats_thesis_baseline": comparison.beats_baseline,
    }
    (out_dir / "metrics.json").write_text(json.dumps(payload, indent=2, sort_keys=True))
