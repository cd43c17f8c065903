"""Two `senim run` processes on the same data, each on its own machine as far as it can
tell (own workspace, own SENIM_HOME), share one Optuna study per credit family through
SENIM_OPTUNA_STORAGE on a real PostgreSQL: together they finish `tuning.trials`, instead
of each running them all (README, "Several tuning workers")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

BIN = Path(sys.executable).parent
TRIALS = {
    "logistic_regression": 4,
    "decision_tree": 6,
    "random_forest": 6,
    "xgboost": 4,
    "ordinal_xgboost": 2,
}


def _senim_run(root: Path, storage: str) -> subprocess.Popen:
    from tests.integration_workspace import TINY_FER, without_outside_stores, write_params

    workspace = root / "workspace"
    workspace.mkdir(parents=True)
    write_params(workspace, tuning={"trials": TRIALS}, fer=TINY_FER)
    env = without_outside_stores(dict(os.environ))
    env |= {
        "SENIM_WORKSPACE": str(workspace),
        "SENIM_HOME": str(root / "home"),
        "SENIM_OPTUNA_STORAGE": storage,
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    }
    return subprocess.Popen(
        [str(BIN / "senim"), "run"],
        cwd=workspace,
        env=env,
        stdout=(root / "run.log").open("w"),
        stderr=subprocess.STDOUT,
    )


def test_given_two_senim_runs_on_one_postgres_study_store_then_together_they_finish_the_trials(
    postgres_dsn, tmp_path
):
    import optuna

    from pipelines.credit.tuning import WORKER_ATTR, prepare_study_storage
    from tests.postgres_server import create_database

    storage = create_database(postgres_dsn, "optuna_two_runs")
    prepare_study_storage(storage)
    runs = [_senim_run(tmp_path / name, storage) for name in ("host-a", "host-b")]
    codes = [run.wait(timeout=900) for run in runs]

    logs = [(tmp_path / name / "run.log").read_text() for name in ("host-a", "host-b")]
    assert codes == [0, 0], logs
    studies = {s.study_name: s for s in optuna.get_all_study_summaries(storage=storage)}
    # Same data, same folds: one study per family, both runs in it.
    assert sorted(name.rsplit("-", 1)[-1] for name in studies) == sorted(TRIALS)
    workers: set[str] = set()
    for name in studies:
        family = name.rsplit("-", 1)[-1]
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        done = [t for t in trials if t.state.is_finished() and t.state.name != "FAIL"]
        # Together the configured count, plus at most the other run's trial in flight;
        # each running them all would make twice as many.
        assert TRIALS[family] <= len(done) <= TRIALS[family] + 1, (family, len(done))
        workers |= {t.user_attrs[WORKER_ATTR] for t in done}
    assert len(workers) == 2, workers  # both runs tuned
    for log in logs:
        assert "registered credit-rating version 1" in log
