"""Tune each candidate family with Optuna on company-grouped folds, and refit the winner.

Every score here is macro-F1 over the six bands on validation folds (the thesis
baseline's SMOTE never touches them), and every family (and the thesis's GridSearchCV
baseline) is scored on the same precomputed folds, so their numbers and out-of-fold
predictions are comparable. A model's band is its own ``predict`` (the ordinal model
cuts its score; a classifier takes its most likely band); probabilities are
``predict_proba``, calibrated when the model is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from models.credit_candidates import (
    ORDINAL_FAMILIES,
    baseline_grid,
    build_pipeline,
    build_thesis_pipeline,
    fit_params,
    suggest_hyperparams,
)
from models.credit_inputs import FeatureRecipe
from pipelines.credit.rating_bands import BANDS
from pipelines.credit.schema import model_recipe, thesis_recipe
from senim.config import BaselineParams, Params
from senim.errors import DataError

N_BANDS = len(BANDS)
_LABELS = list(range(N_BANDS))
_HYPERPARAMS_ATTR = "hyperparams"
WORKER_ATTR = "worker"  # which process ran a trial: host:pid (a shared study's evidence)
_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
BASELINE_FAMILY = "thesis_baseline"
JOURNAL_PREFIX = "journal:"  # a study address naming a journal file (open_study_storage)

Fold = tuple[np.ndarray, np.ndarray]
FoldCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class CandidateSettings:
    """Everything besides family and hyperparameters that shapes a candidate's pipeline."""

    recipe: FeatureRecipe  # what the candidates read
    seed: int
    thesis_recipe: FeatureRecipe | None = None  # the baseline's inputs (ratios and sector)
    smote_k: int = 5  # the thesis baseline's SMOTE
    inner_splits: int = 4  # calibration's company-grouped inner folds

    @classmethod
    def from_params(cls, params: Params) -> CandidateSettings:
        return cls(
            recipe=model_recipe(params.features),
            seed=params.tuning.seed,
            thesis_recipe=thesis_recipe(params.features),
            smote_k=params.smote.k_neighbors,
            inner_splits=params.calibration.inner_splits,
        )


@dataclass(frozen=True)
class OutOfFold:
    """Each row predicted once, by a model that never saw its company."""

    proba: np.ndarray  # (n_rows, 6), column k = band code k
    bands: np.ndarray  # (n_rows,) the model's own band per row
    fold_scores: list[float]  # macro-F1 per fold


@dataclass
class TuningResult:
    """One family's best hyperparameters and its out-of-fold evidence."""

    family: str
    best_params: dict[str, Any]
    best_score: float  # mean validation macro-F1 over folds of the best trial
    n_trials: int  # finished trials in the study (all workers, when shared)
    n_pruned: int
    oof_proba: np.ndarray  # (n_rows, 6), column k = band code k, each row predicted once
    oof_bands: np.ndarray  # (n_rows,) the band the model named for each row
    fold_scores: list[float] = field(default_factory=list)
    study_name: str = ""
    seconds: float = 0.0


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over all six bands (a band absent from a fold scores 0), as in credit_metrics."""
    return float(f1_score(y_true, y_pred, labels=_LABELS, average="macro", zero_division=0))


def _pipeline(family: str, hyperparams: dict[str, Any], settings: CandidateSettings, calibrated):
    if family == BASELINE_FAMILY:
        recipe = settings.thesis_recipe or settings.recipe
        return build_thesis_pipeline(
            hyperparams, recipe=recipe, smote_k=settings.smote_k, seed=settings.seed
        )
    return build_pipeline(
        family,
        hyperparams,
        recipe=settings.recipe,
        seed=settings.seed,
        calibrated=calibrated,
        inner_splits=settings.inner_splits,
    )


def fit_candidate(
    family: str,
    hyperparams: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    settings: CandidateSettings,
    groups: np.ndarray | None = None,
    calibrated: bool = False,
):
    """A fitted pipeline and the band codes its model's classes stand for.

    A classifier whose rows miss a band is fitted on codes renumbered 0..k-1 (XGBoost
    requires it); ordinal and calibrated models always see the codes themselves.
    One BLAS/OpenMP thread: on ~1,000 rows, threads cost more than they save, and
    parallelism comes from workers sharing a study instead.
    """
    y = np.asarray(y, dtype=int)
    pipeline = _pipeline(family, hyperparams, settings, calibrated)
    if calibrated or family in ORDINAL_FAMILIES:
        fitted_codes, codes = y, None
    else:
        codes, fitted_codes = np.unique(y, return_inverse=True)
    with threadpool_limits(limits=1):
        pipeline.fit(X, fitted_codes, **fit_params(hyperparams, y, groups if calibrated else None))
    if codes is None:
        codes = np.asarray(pipeline.classes_, dtype=int)
    return pipeline, codes


def _fold_predictions(
    family: str,
    hyperparams: dict[str, Any],
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    *,
    settings: CandidateSettings,
    groups: np.ndarray | None,
    calibrated: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit on one training fold; six-column probabilities and bands for its validation
    rows (a band missing from the training fold gets probability 0)."""
    pipeline, codes = fit_candidate(
        family, hyperparams, X_train, y_train, settings=settings, groups=groups,
        calibrated=calibrated,
    )  # fmt: skip
    proba = np.zeros((len(X_test), N_BANDS))
    with threadpool_limits(limits=1):
        proba[:, codes[np.asarray(pipeline.classes_, dtype=int)]] = pipeline.predict_proba(X_test)
        bands = codes[np.asarray(pipeline.predict(X_test), dtype=int)]
    return proba, bands


def _check_partition(folds: Sequence[Fold], n_rows: int) -> None:
    tested = np.sort(np.concatenate([np.asarray(test) for _, test in folds]))
    if not np.array_equal(tested, np.arange(n_rows)):
        raise DataError(
            f"the validation folds cover {np.unique(tested).size} distinct rows of {n_rows} "
            f"in {tested.size} predictions: each row must be validated exactly once"
        )


def oof_predictions(
    family: str,
    hyperparams: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[Fold],
    *,
    settings: CandidateSettings,
    groups: np.ndarray | None = None,
    calibrated: bool = False,
    on_fold: FoldCallback | None = None,
) -> OutOfFold:
    """Out-of-fold probabilities, bands and each fold's macro-F1.

    ``calibrated`` fits ``CalibratedBands`` in every training fold, its inner folds
    grouped by ``groups`` (the companies). ``on_fold(fold_number, running_mean_f1)`` runs
    after each fold; it may raise (pruning).
    """
    y = np.asarray(y)
    _check_partition(folds, len(y))
    proba = np.zeros((len(y), N_BANDS))
    bands = np.zeros(len(y), dtype=int)
    scores: list[float] = []
    for number, (train, test) in enumerate(folds):
        proba[test], bands[test] = _fold_predictions(
            family,
            hyperparams,
            X.iloc[train],
            y[train],
            X.iloc[test],
            settings=settings,
            groups=None if groups is None else np.asarray(groups)[train],
            calibrated=calibrated,
        )
        scores.append(macro_f1(y[test], bands[test]))
        if on_fold is not None:
            on_fold(number, float(np.mean(scores)))
    return OutOfFold(proba=proba, bands=bands, fold_scores=scores)


def _study_counts(study: optuna.Study) -> tuple[int, int]:
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    return states.count(optuna.trial.TrialState.COMPLETE) + pruned, pruned


def worker_identity() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


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
    settings: CandidateSettings,
    storage: str | None = None,
    study_name: str | None = None,
    pruning: bool = True,
    timeout: float | None = None,
    on_trial: Callable[[int, float | None], None] | None = None,
) -> TuningResult:
    """Maximise mean validation macro-F1 with TPE, then recompute the best trial's OOF.

    ``storage=None`` keeps the study in memory; a database URL (or ``journal:PATH``, a
    journal file for processes on one host) shares one study between worker processes
    (``load_if_exists``), which together finish ``n_trials``.
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
        storage=open_study_storage(storage),
        study_name=name,
        direction="maximize",
        pruner=pruner,
        load_if_exists=storage is not None,
    )
    study.sampler = optuna.samplers.TPESampler(
        seed=_sampler_seed(settings.seed, study, shared=storage is not None)
    )
    best_here: dict[int, OutOfFold] = {}  # this process's best trial

    def objective(trial: optuna.Trial) -> float:
        hyperparams = suggest_hyperparams(family, trial)
        trial.set_user_attr(_HYPERPARAMS_ATTR, hyperparams)
        trial.set_user_attr(WORKER_ATTR, worker_identity())

        def report(number: int, running_mean: float) -> None:
            trial.report(running_mean, step=number)
            if trial.should_prune():
                raise optuna.TrialPruned()

        oof = oof_predictions(
            family,
            hyperparams,
            X,
            y,
            folds,
            settings=settings,
            on_fold=report if pruning else None,
        )
        value = float(np.mean(oof.fold_scores))
        if all(value > np.mean(kept.fold_scores) for kept in best_here.values()):
            best_here.clear()
            best_here[trial.number] = oof
        return value

    def progress(_: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        # a pruned trial carries its last intermediate value; callers want None
        if on_trial is not None:
            complete = frozen.state == optuna.trial.TrialState.COMPLETE
            on_trial(frozen.number, frozen.value if complete else None)

    callbacks: list[Callable] = [progress]
    to_run = n_trials
    if storage is not None:
        # A shared study: the workers together finish ``n_trials`` (a trial in flight when
        # the count is reached still finishes, so the study may end up to one trial per
        # other worker over). A worker joining a finished study adds none.
        callbacks.append(optuna.study.MaxTrialsCallback(n_trials, states=_FINISHED))
        to_run = max(0, n_trials - sum(_study_counts(study)[:1]))
    if to_run:
        study.optimize(objective, n_trials=to_run, timeout=timeout, callbacks=callbacks)

    try:
        best = study.best_trial
    except ValueError:
        raise DataError(
            f"no {family} trial in study {name!r} completed (all pruned or timed out): "
            "raise tuning.trials or tuning.timeout_seconds"
        ) from None
    best_params = dict(best.user_attrs.get(_HYPERPARAMS_ATTR, best.params))
    if best.number in best_here:
        oof = best_here[best.number]
    else:  # best trial ran in another worker: recompute its OOF here (deterministic)
        oof = oof_predictions(family, best_params, X, y, folds, settings=settings)
    n_finished, n_pruned = _study_counts(study)
    return TuningResult(
        family=family,
        best_params=best_params,
        best_score=float(best.value),
        n_trials=n_finished,
        n_pruned=n_pruned,
        oof_proba=oof.proba,
        oof_bands=oof.bands,
        fold_scores=oof.fold_scores,
        study_name=name,
        seconds=time.perf_counter() - started,
    )


def run_baseline(
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Sequence[Fold],
    *,
    baseline_params: BaselineParams,
    settings: CandidateSettings,
) -> TuningResult:
    """The thesis's XGBoost + SMOTE + GridSearchCV on ratios and sector, but on the same
    grouped folds (SMOTE inside the training folds only)."""
    started = time.perf_counter()
    y = np.asarray(y)
    grid = GridSearchCV(
        _pipeline(BASELINE_FAMILY, {}, settings, calibrated=False),
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
    oof = oof_predictions(BASELINE_FAMILY, best_params, X, y, folds, settings=settings)
    n_candidates = len(grid.cv_results_["params"])
    return TuningResult(
        family=BASELINE_FAMILY,
        best_params=best_params,
        best_score=float(grid.best_score_),
        n_trials=n_candidates,
        n_pruned=0,
        oof_proba=oof.proba,
        oof_bands=oof.bands,
        fold_scores=oof.fold_scores,
        study_name="grid_search",
        seconds=time.perf_counter() - started,
    )


def fit_final(
    family: str,
    hyperparams: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    settings: CandidateSettings,
    groups: np.ndarray | None = None,
    calibrated: bool = False,
):
    """The chosen pipeline refitted on every row; it predicts band codes directly.

    ``calibrated`` (with the companies as ``groups``) is what gets registered: the same
    bands, calibrated probabilities.
    """
    y = np.asarray(y)
    present = np.unique(y)
    if not np.array_equal(present, np.arange(N_BANDS)):
        missing = [BANDS[b] for b in range(N_BANDS) if b not in set(present.tolist())]
        raise DataError(
            f"{family} is refitted on every row, and every band from Junk to A+ must occur; "
            f"the data has no {', '.join(missing)}"
        )
    pipeline, _ = fit_candidate(
        family, hyperparams, X, y, settings=settings, groups=groups, calibrated=calibrated
    )
    return pipeline


def open_study_storage(storage: str | None) -> str | optuna.storages.BaseStorage | None:
    """What ``optuna.create_study`` takes for a study address: memory (None), a database
    URL as is, or ``journal:PATH``, a journal file that processes on one host share
    through file locks (no database needed)."""
    if storage is None or not storage.startswith(JOURNAL_PREFIX):
        return storage
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(storage.removeprefix(JOURNAL_PREFIX)))


def merge_shared_results(results: Sequence[TuningResult]) -> TuningResult:
    """One family's result from several tasks that tuned one shared study.

    Each task reports the study's best as it stood when the task finished; the last to
    finish saw every trial, so the highest best score is the study's best (its OOF is the
    same whichever task computed it). Counts are the fullest any task saw.
    """
    if not results:
        raise ValueError("no tuning result to merge")
    best = max(results, key=lambda result: (result.best_score, result.n_trials))
    fullest = max(results, key=lambda result: result.n_trials)
    return replace(
        best,
        n_trials=fullest.n_trials,
        n_pruned=fullest.n_pruned,
        seconds=max(result.seconds for result in results),
    )


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
