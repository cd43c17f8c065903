"""Tune each candidate family with Optuna on company-grouped folds, and refit the winner.

Every score here is macro-F1 over the six bands on validation folds that SMOTE never
touched, and every family (and the thesis's GridSearchCV baseline) is scored on the
same precomputed folds, so their numbers and out-of-fold probabilities are comparable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from imblearn.pipeline import Pipeline
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from models.credit_candidates import baseline_grid, build_pipeline, suggest_hyperparams
from pipelines.credit.rating_bands import BANDS
from pipelines.credit.schema import MODEL_INPUTS
from senim.config import BaselineParams
from senim.errors import DataError

N_BANDS = len(BANDS)
_LABELS = list(range(N_BANDS))
_HYPERPARAMS_ATTR = "hyperparams"
BASELINE_FAMILY = "thesis_baseline"

Fold = tuple[np.ndarray, np.ndarray]
FoldCallback = Callable[[int, float], None]


@dataclass
class TuningResult:
    """One family's best hyperparameters and its out-of-fold evidence."""

    family: str
    best_params: dict[str, Any]
    best_score: float  # mean validation macro-F1 over folds of the best trial
    n_trials: int  # finished trials in the study (all workers, when shared)
    n_pruned: int
    oof_proba: np.ndarray  # (n_rows, 6), column k = band code k, each row predicted once
    fold_scores: list[float] = field(default_factory=list)
    study_name: str = ""
    seconds: float = 0.0


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over all six bands (a band absent from a fold scores 0), as in credit_metrics."""
    return float(f1_score(y_true, y_pred, labels=_LABELS, average="macro", zero_division=0))


def _fold_proba(
    pipeline: Pipeline, X_train: pd.DataFrame, y_train: np.ndarray, X_test: pd.DataFrame
) -> np.ndarray:
    """Fit on one training fold; six-column probabilities for its validation rows.

    Labels are re-coded 0..k-1 for the fit (XGBoost requires it) and mapped back, so a
    band missing from the training fold gets probability 0 instead of shifting columns.
    One BLAS/OpenMP thread: on ~1,000 rows, threads cost more than they save, and
    parallelism comes from workers sharing a study instead.
    """
    present, encoded = np.unique(y_train, return_inverse=True)
    proba = np.zeros((len(X_test), N_BANDS))
    with threadpool_limits(limits=1):
        pipeline.fit(X_train, encoded)
        proba[:, present[pipeline.classes_]] = pipeline.predict_proba(X_test)
    return proba


def _check_partition(folds: Sequence[Fold], n_rows: int) -> None:
    tested = np.sort(np.concatenate([np.asarray(test) for _, test in folds]))
    if not np.array_equal(tested, np.arange(n_rows)):
        raise DataError(
            f"the validation folds cover {np.unique(tested).size} distinct rows of {n_rows} "
            f"in {tested.size} predictions: each row must be validated exactly once"
        )


def oof_probabilities(
    family: str,
    hyperparams: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[Fold],
    *,
    knn_neighbors: int,
    smote_k: int,
    seed: int,
    on_fold: FoldCallback | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold ``(n_rows, 6)`` probabilities and each fold's macro-F1.

    ``on_fold(fold_number, running_mean_f1)`` runs after each fold; it may raise (pruning).
    """
    y = np.asarray(y)
    _check_partition(folds, len(y))
    proba = np.zeros((len(y), N_BANDS))
    scores: list[float] = []
    for number, (train, test) in enumerate(folds):
        pipeline = build_pipeline(
            family,
            hyperparams,
            columns=MODEL_INPUTS,
            knn_neighbors=knn_neighbors,
            smote_k=smote_k,
            seed=seed,
        )
        proba[test] = _fold_proba(pipeline, X.iloc[train], y[train], X.iloc[test])
        scores.append(macro_f1(y[test], proba[test].argmax(axis=1)))
        if on_fold is not None:
            on_fold(number, float(np.mean(scores)))
    return proba, scores


def _study_counts(study: optuna.Study) -> tuple[int, int]:
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    return states.count(optuna.trial.TrialState.COMPLETE) + pruned, pruned


def _sampler_seed(seed: int, study: optuna.Study, shared: bool) -> int:
    """The given seed in memory; in a shared study, one mixed with the worker's identity.

    Workers seeded alike would propose identical startup trials to a shared study.
    """
    if not shared:
        return seed
    existing = len(study.get_trials(deepcopy=False))
    return int(np.random.SeedSequence([seed, existing, os.getpid()]).generate_state(1)[0])


def tune_family(
    family: str,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[Fold],
    *,
    n_trials: int,
    seed: int,
    knn_neighbors: int,
    smote_k: int,
    storage: str | None = None,
    study_name: str | None = None,
    pruning: bool = True,
    timeout: float | None = None,
    on_trial: Callable[[int, float | None], None] | None = None,
) -> TuningResult:
    """Maximise mean validation macro-F1 with TPE, then recompute the best trial's OOF.

    ``storage=None`` keeps the study in memory; a database URL shares one study between
    worker processes (``load_if_exists``) and ``n_trials`` is what this process adds.
    ``on_trial(number, value)`` gets ``None`` as value for a pruned trial.
    """
    started = time.perf_counter()
    y = np.asarray(y)
    name = study_name or f"senim-{family}"
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        if pruning
        else optuna.pruners.NopPruner()
    )
    # Senim reports trials itself; Optuna's own line per trial stays off. Set for good, not
    # restored: families tune in parallel threads, and a restore by the first to finish
    # turned the lines back on for the others.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        pruner=pruner,
        load_if_exists=storage is not None,
    )
    study.sampler = optuna.samplers.TPESampler(
        seed=_sampler_seed(seed, study, shared=storage is not None)
    )
    best_here: dict[int, tuple[np.ndarray, list[float]]] = {}  # this process's best trial

    def objective(trial: optuna.Trial) -> float:
        hyperparams = suggest_hyperparams(family, trial)
        trial.set_user_attr(_HYPERPARAMS_ATTR, hyperparams)

        def report(number: int, running_mean: float) -> None:
            trial.report(running_mean, step=number)
            if trial.should_prune():
                raise optuna.TrialPruned()

        proba, scores = oof_probabilities(
            family,
            hyperparams,
            X,
            y,
            folds,
            knn_neighbors=knn_neighbors,
            smote_k=smote_k,
            seed=seed,
            on_fold=report if pruning else None,
        )
        value = float(np.mean(scores))
        if all(value > np.mean(kept) for _, kept in best_here.values()):
            best_here.clear()
            best_here[trial.number] = (proba, scores)
        return value

    def progress(_: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        # a pruned trial carries its last intermediate value; callers want None
        if on_trial is not None:
            complete = frozen.state == optuna.trial.TrialState.COMPLETE
            on_trial(frozen.number, frozen.value if complete else None)

    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[progress])

    try:
        best = study.best_trial
    except ValueError:
        raise DataError(
            f"no {family} trial in study {name!r} completed (all pruned or timed out): "
            "raise tuning.trials or tuning.timeout_seconds"
        ) from None
    best_params = dict(best.user_attrs.get(_HYPERPARAMS_ATTR, best.params))
    if best.number in best_here:
        proba, scores = best_here[best.number]
    else:  # best trial ran in another worker: recompute its OOF here (deterministic)
        proba, scores = oof_probabilities(
            family,
            best_params,
            X,
            y,
            folds,
            knn_neighbors=knn_neighbors,
            smote_k=smote_k,
            seed=seed,
        )
    n_finished, n_pruned = _study_counts(study)
    return TuningResult(
        family=family,
        best_params=best_params,
        best_score=float(best.value),
        n_trials=n_finished,
        n_pruned=n_pruned,
        oof_proba=proba,
        fold_scores=scores,
        study_name=name,
        seconds=time.perf_counter() - started,
    )


def run_baseline(
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[Fold],
    *,
    baseline_params: BaselineParams,
    knn_neighbors: int,
    smote_k: int,
    seed: int,
) -> TuningResult:
    """The thesis's XGBoost + GridSearchCV, but on the same grouped, SMOTE-safe folds."""
    started = time.perf_counter()
    y = np.asarray(y)
    pipeline = build_pipeline(
        "xgboost", {}, columns=MODEL_INPUTS, knn_neighbors=knn_neighbors, smote_k=smote_k, seed=seed
    )
    grid = GridSearchCV(
        pipeline,
        baseline_grid(baseline_params),
        cv=[(train, test) for train, test in folds],
        scoring=make_scorer(macro_f1),
        n_jobs=1,
        refit=False,
        error_score="raise",
    )
    _, encoded = np.unique(y, return_inverse=True)  # XGBoost needs codes 0..k-1
    with threadpool_limits(limits=1):
        grid.fit(X, encoded)
    best_params = {key.removeprefix("model__"): value for key, value in grid.best_params_.items()}
    proba, scores = oof_probabilities(
        "xgboost",
        best_params,
        X,
        y,
        folds,
        knn_neighbors=knn_neighbors,
        smote_k=smote_k,
        seed=seed,
    )
    n_candidates = len(grid.cv_results_["params"])
    return TuningResult(
        family=BASELINE_FAMILY,
        best_params=best_params,
        best_score=float(grid.best_score_),
        n_trials=n_candidates,
        n_pruned=0,
        oof_proba=proba,
        fold_scores=scores,
        study_name="grid_search",
        seconds=time.perf_counter() - started,
    )


def fit_final(
    family: str,
    hyperparams: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    knn_neighbors: int,
    smote_k: int,
    seed: int,
) -> Pipeline:
    """The chosen pipeline refitted on every row; it predicts band codes directly."""
    y = np.asarray(y)
    present = np.unique(y)
    if family == "xgboost" and not np.array_equal(present, np.arange(present.size)):
        raise DataError(
            f"xgboost needs band codes 0..{present.size - 1} but the data has "
            f"{', '.join(BANDS[int(b)] for b in present)}: every band from Junk up must occur"
        )
    pipeline = build_pipeline(
        family,
        hyperparams,
        columns=MODEL_INPUTS,
        knn_neighbors=knn_neighbors,
        smote_k=smote_k,
        seed=seed,
    )
    with threadpool_limits(limits=1):
        pipeline.fit(X, y)
    return pipeline


def prepare_study_storage(storage: str) -> None:
    """Create the Optuna schema once, before concurrent workers race to create it.

    An unreachable database is a StoreUnreachableError naming the host, raised before any
    training starts.
    """
    import sqlalchemy as sa

    from senim.environment import redact_url
    from senim.errors import StoreUnreachableError

    try:
        optuna.storages.RDBStorage(storage)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise StoreUnreachableError(
            f"Optuna storage {redact_url(storage)} is unreachable: {reason[:200]}"
        ) from None
