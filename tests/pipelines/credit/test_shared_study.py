"""Two tuning processes on one Optuna study, in a real PostgreSQL or in a journal file (the
LocalCluster's trial tasks): together they finish the configured trials, each
contributing, instead of each running them all."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import optuna
import pytest

from pipelines.credit.tuning import WORKER_ATTR

pytestmark = pytest.mark.integration

TRIALS = 16
WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipelines.credit.grouped_cv import grouped_folds
    from pipelines.credit.schema import MODEL_COLUMNS, NAME, thesis_recipe
    from pipelines.credit.tuning import CandidateSettings, tune_family
    from senim.config import FeatureParams
    from tests.models.credit_matrix import BAND, RECIPE, credit_matrix

    storage, go, trials = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    table = credit_matrix(60, seed=0)
    y = table[BAND].to_numpy()
    folds = grouped_folds(y, table[NAME].to_numpy(), n_splits=3, seed=7, smote_k=3)
    settings = CandidateSettings(
        recipe=RECIPE, seed=11, thesis_recipe=thesis_recipe(FeatureParams()), smote_k=3
    )
    while not go.exists():  # both start tuning at once
        time.sleep(0.05)
    result = tune_family(
        "decision_tree", table[list(MODEL_COLUMNS)], y, folds, n_trials=trials,
        storage=storage, study_name="shared-dt", settings=settings, pruning=False,
    )
    print("finished", result.n_trials)
    """
)


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "journal"])
def study_storage(request, tmp_path):
    """A study address both processes reach: a PostgreSQL database, or a journal file."""
    if request.param == "journal":
        return f"journal:{tmp_path / 'studies.journal'}"
    from pipelines.credit.tuning import prepare_study_storage
    from tests.postgres_server import create_database

    storage = create_database(request.getfixturevalue("postgres_dsn"), "optuna_shared")
    prepare_study_storage(storage)
    return storage


def test_given_two_processes_on_one_shared_study_then_together_they_finish_the_trials(
    study_storage, tmp_path
):
    from pipelines.credit.tuning import open_study_storage

    storage = study_storage
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, storage, str(go), str(TRIALS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(1.0)
    go.touch()
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], outputs
    trials = optuna.load_study(study_name="shared-dt", storage=open_study_storage(storage)).trials
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    # Together the configured count, plus at most the other worker's trial in flight.
    assert TRIALS <= len(finished) <= TRIALS + 1
    assert len({t.user_attrs[WORKER_ATTR] for t in finished}) == 2
