"""Where a retraining's tasks run: threads, or a real Dask cluster (worker processes
started by the run and stopped after it), with the same models either way."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from prefect.task_runners import ThreadPoolTaskRunner

from flows.task_runners import (
    DASHBOARD_ARTIFACT,
    DASK_ADDRESS_ENV,
    ConfiguredTaskRunner,
    describe,
    task_runner_for,
    trial_tasks,
)
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


@pytest.fixture
def dask_cluster(tmp_path):
    """A Dask cluster as the README starts one: `dask scheduler` and `dask worker`
    processes (2 worker processes, one thread each), stopped after the test."""
    import signal
    import subprocess
    import sys

    from distributed import Client

    from tests.serving.credit_server import free_port

    bin_dir = Path(sys.executable).parent
    address = f"tcp://127.0.0.1:{free_port()}"
    commands = (
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1",
         "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        [str(bin_dir / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1",
         "--no-dashboard"],
    )  # fmt: skip
    processes = []
    for number, command in enumerate(commands):
        log = (tmp_path / f"dask-{number}.log").open("w")
        processes.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            yield address, client
    finally:
        import os

        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.integration
def test_given_an_existing_dask_cluster_when_retraining_then_its_workers_tune_the_same_models(
    _trained_store_session, dask_cluster, tmp_path, monkeypatch
):
    """SENIM_DASK_ADDRESS names a cluster started apart from the run (scheduler and worker
    processes): the families are tuned on its workers, and the comparison matches the
    local runner's (the shared trained store, same params and seeds) candidate by
    candidate. (A LocalCluster started by the run is the trial-split test's.)"""
    from distributed import get_task_stream

    from flows.retrain_credit import retrain_credit
    from models.credit_candidates import FAMILIES
    from tests.integration_workspace import make_workspace

    address, client = dask_cluster
    local = pd.read_csv(_trained_store_session["summary"].comparison_csv)
    make_workspace(tmp_path, monkeypatch, orchestration={"task_runner": "dask"})
    monkeypatch.setenv(DASK_ADDRESS_ENV, address)

    with get_task_stream(client) as stream:
        summary = retrain_credit()

    # One Dask task per family and one for the thesis baseline, on both worker processes.
    assert len(stream.data) >= len(FAMILIES) + 1, stream.data
    assert len({entry["worker"] for entry in stream.data}) == 2
    on_cluster = pd.read_csv(summary.comparison_csv)
    assert summary.best == _trained_store_session["summary"].best
    assert summary.data_version == _trained_store_session["summary"].data_version
    kept = [c for c in local.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(on_cluster[kept], local[kept])


def test_given_threads_when_asked_for_trial_tasks_then_one_per_family_whatever_is_configured():
    assert trial_tasks(OrchestrationParams(task_runner="local", trial_tasks=4)) == 1
    assert trial_tasks(OrchestrationParams(task_runner="dask", trial_tasks=4)) == 4


def test_given_split_trials_when_a_study_store_is_chosen_then_configured_journal_or_memory(
    tmp_path, monkeypatch
):
    from flows.retrain_credit import study_store
    from senim.config import Params

    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)
    split = Params().with_overrides(orchestration={"task_runner": "dask", "trial_tasks": 2})
    whole = Params().with_overrides(orchestration={"task_runner": "dask", "trial_tasks": 1})

    assert study_store(whole, None, tmp_path) is None
    assert study_store(split, "postgresql://db/optuna", tmp_path) == "postgresql://db/optuna"
    assert study_store(split, None, tmp_path) == f"journal:{tmp_path / 'optuna-studies.journal'}"


def test_given_split_trials_on_a_remote_cluster_without_a_study_database_then_refused(
    tmp_path, monkeypatch
):
    from flows.retrain_credit import study_store
    from senim.config import Params
    from senim.errors import ConfigError

    monkeypatch.setenv(DASK_ADDRESS_ENV, "tcp://10.0.0.5:8786")
    split = Params().with_overrides(orchestration={"task_runner": "dask", "trial_tasks": 2})

    with pytest.raises(ConfigError, match="SENIM_OPTUNA_STORAGE"):
        study_store(split, None, tmp_path)
    assert study_store(split, "postgresql://db/optuna", tmp_path) == "postgresql://db/optuna"


@pytest.mark.integration
def test_given_trials_split_over_dask_tasks_when_retraining_then_each_study_ends_with_its_trials(
    tmp_path, monkeypatch
):
    """A LocalCluster of two worker processes started by the run (its dashboard linked as
    an artifact of the run), two tasks per family on one journal-file study each: every family's
    study ends with its configured trials (plus at most the other task's trial in flight),
    run by both processes, and the retraining completes."""
    import optuna

    from flows.retrain_credit import retrain_credit
    from models.credit_candidates import FAMILIES
    from pipelines.credit.tuning import WORKER_ATTR, open_study_storage
    from tests.integration_workspace import FAST_PARAMS, make_workspace

    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)
    trials = {family: 4 for family in FAMILIES}
    make_workspace(
        tmp_path,
        monkeypatch,
        orchestration={"task_runner": "dask", "dask_workers": 2, "trial_tasks": 2},
        tuning={**FAST_PARAMS["tuning"], "trials": trials},
    )

    state = retrain_credit(return_state=True)

    summary = state.result()

    assert summary.registered_version == "1"
    storage = open_study_storage(f"journal:{Path(summary.reports_dir) / 'optuna-studies.journal'}")
    studies = optuna.get_all_study_summaries(storage=storage)
    assert sorted(s.study_name.rsplit("-", 1)[-1] for s in studies) == sorted(FAMILIES)
    workers = set()
    for study in studies:
        done = [
            t
            for t in optuna.load_study(study_name=study.study_name, storage=storage).trials
            if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        ]
        assert 4 <= len(done) <= 5, (study.study_name, len(done))
        workers |= {t.user_attrs[WORKER_ATTR] for t in done}
    assert len(workers) == 2
    comparison = pd.read_csv(summary.comparison_csv)
    assert set(FAMILIES) <= set(comparison["model"])
    (dashboard,) = _artifacts(DASHBOARD_ARTIFACT, state.state_details.flow_run_id)
    assert "[Dask dashboard](http://127.0.0.1:" in dashboard


def _artifacts(key: str, flow_run_id) -> list[str]:
    """The data of one flow run's artifacts under ``key`` (other tests' runs share the API)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    async def read() -> list[str]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[key]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                )
            )
            return [str(artifact.data) for artifact in found]

    return asyncio.run(read())


def test_given_the_run_api_refuses_the_dashboard_link_when_announced_then_the_run_goes_on(
    monkeypatch,
):
    from types import SimpleNamespace

    import flows.task_runners as runners

    said: list[str] = []
    monkeypatch.setattr(runners, "_run_log", said.append)

    def refuse(**_):
        raise RuntimeError("artifact API down")

    monkeypatch.setattr("prefect.artifacts.create_link_artifact", refuse)
    runner = ConfiguredTaskRunner()
    runner.inner = SimpleNamespace(name="dask", client=SimpleNamespace(dashboard_link="http://d"))
    runner._announcement = "task runner: Dask LocalCluster (2 worker processes)"

    runner._announce()
    runner._announce()  # once per run

    assert said == [
        "task runner: Dask LocalCluster (2 worker processes); Dask dashboard: http://d",
        "the Dask dashboard link was not attached to the run: artifact API down",
    ]
