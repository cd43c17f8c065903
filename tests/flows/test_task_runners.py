"""Where a retraining's tasks run: threads, or a real Dask cluster (worker processes
started by the run and stopped after it), with the same models either way."""

from __future__ import annotations

import pandas as pd
import pytest
from prefect.task_runners import ThreadPoolTaskRunner

from flows.task_runners import DASK_ADDRESS_ENV, ConfiguredTaskRunner, describe, task_runner_for
from senim.config import OrchestrationParams

# Wall time and the run's own identity differ between two runs; everything else may not.
TIMING_COLUMNS = ("seconds", "fit_seconds", "train_seconds")


def test_given_the_local_runner_when_built_then_threads_of_the_configured_count():
    runner = task_runner_for(OrchestrationParams(task_runner="local", local_workers=3))

    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 3


def test_given_a_dask_address_when_built_then_the_existing_cluster_is_used(monkeypatch):
    from prefect_dask import DaskTaskRunner

    monkeypatch.setenv(DASK_ADDRESS_ENV, "tcp://10.0.0.5:8786")
    orchestration = OrchestrationParams(task_runner="dask")

    runner = task_runner_for(orchestration)

    assert isinstance(runner, DaskTaskRunner) and runner.address == "tcp://10.0.0.5:8786"
    assert describe(orchestration) == "Dask cluster at tcp://10.0.0.5:8786"


def test_given_no_address_when_built_then_a_local_cluster_of_the_configured_workers(monkeypatch):
    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)

    runner = task_runner_for(OrchestrationParams(task_runner="dask", dask_workers=3))

    assert runner.cluster_kwargs["n_workers"] == 3 and runner.cluster_kwargs["processes"]


def test_given_a_runner_not_started_when_a_task_is_submitted_then_it_says_so():
    with pytest.raises(RuntimeError, match="not started"):
        ConfiguredTaskRunner().submit(object(), {})


@pytest.mark.integration
def test_given_the_dask_runner_when_retraining_then_the_comparison_matches_the_local_runner(
    _trained_store_session, tmp_path, monkeypatch
):
    """The shared trained store was retrained with the local runner on the same params and
    seeds; a retraining on a fresh store through a Dask LocalCluster of 2 worker processes
    must select the same model with the same metrics, candidate by candidate."""
    from flows.retrain_credit import retrain_credit
    from tests.integration_workspace import make_workspace

    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)
    local = pd.read_csv(_trained_store_session["summary"].comparison_csv)
    make_workspace(tmp_path, monkeypatch, orchestration={"task_runner": "dask", "dask_workers": 2})

    summary = retrain_credit()

    on_dask = pd.read_csv(summary.comparison_csv)
    assert summary.best == _trained_store_session["summary"].best
    assert summary.data_version == _trained_store_session["summary"].data_version
    kept = [c for c in local.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(on_dask[kept], local[kept])
