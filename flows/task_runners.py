"""Where a retraining's parallel tasks run: threads in the flow's process, or a Dask cluster.

``orchestration.task_runner`` in params.yaml picks it when a flow run starts, so the same
flow runs either way from ``senim run``, ``dvc repro``, a Prefect deployment or a worker:

- ``local`` (default): Prefect's ``ThreadPoolTaskRunner`` with ``orchestration.local_workers``
  threads, in the flow's own process;
- ``dask``: ``prefect_dask.DaskTaskRunner``, on the Dask scheduler at ``SENIM_DASK_ADDRESS``
  when set (an existing cluster), else on a ``distributed.LocalCluster`` of
  ``orchestration.dask_workers`` worker processes (one thread each) started for the run
  and stopped after it. The run links the cluster's dashboard (artifact ``dask-dashboard``,
  and a line in its log).

Each candidate family is one task (the tuning that dominates a retraining), seeded by the
family's settings, so both runners produce the same models and metrics. On Dask,
``orchestration.trial_tasks`` > 1 also splits each family's Optuna trials over that many
tasks sharing one study (it pays when workers outnumber the families); the trials TPE
proposes then depend on which task finished first, so the models may differ from the
local runner's, with the same number of trials.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

DASK_ADDRESS_ENV = "SENIM_DASK_ADDRESS"
DASHBOARD_ARTIFACT = "dask-dashboard"  # the run's link artifact


def task_runner_for(orchestration: Any) -> TaskRunner:
    """The task runner ``orchestration`` (``OrchestrationParams``) names, not started."""
    if orchestration.task_runner == "local":
        return ThreadPoolTaskRunner(max_workers=orchestration.local_workers)
    from prefect_dask import DaskTaskRunner

    address = dask_address()
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": orchestration.dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": ":0",  # a free port: two runs on one host never collide
        },
    )


def trial_tasks(orchestration: Any) -> int:
    """Tasks per candidate family: ``orchestration.trial_tasks`` on Dask; one with threads,
    which share the process's cores with the other families already."""
    return orchestration.trial_tasks if orchestration.task_runner == "dask" else 1


def dask_address() -> str:
    """The existing cluster a dask run goes to (``SENIM_DASK_ADDRESS``); empty: a
    LocalCluster of the run's own."""
    return os.environ.get(DASK_ADDRESS_ENV, "").strip()


class ConfiguredTaskRunner(TaskRunner):
    """Delegates to ``task_runner_for`` the params in force when the flow run starts (the
    workspace's params.yaml: ``SENIM_WORKSPACE``/``SENIM_HOME``), so a flow's decorator
    need not know how it will be run."""

    def __init__(self) -> None:
        super().__init__()
        self.inner: TaskRunner | None = None
        self._announcement: str | None = None  # for the run's log, once a run context exists

    @property
    def name(self) -> str:
        return "configured"

    def duplicate(self) -> ConfiguredTaskRunner:
        return type(self)()

    def __enter__(self) -> ConfiguredTaskRunner:
        from senim.config import load_params
        from senim.environment import resolve_stores

        orchestration = load_params(resolve_stores().params_path).orchestration
        self.inner = task_runner_for(orchestration)
        self.inner.__enter__()
        # Prefect enters the task runner before the flow run's context exists: the line
        # goes to the run's log with the first task submitted.
        self._announcement = f"task runner: {describe(orchestration)}"
        return super().__enter__()

    def _announce(self) -> None:
        """Say where the run's tasks go, in its log, and link the Dask dashboard as an
        artifact of the run (shown on its page whatever the log level)."""
        if self._announcement is None:
            return
        link = _dashboard_link(self.inner)
        _run_log(self._announcement + (f"; Dask dashboard: {link}" if link else ""))
        self._announcement = None
        if link:
            from prefect.artifacts import create_link_artifact

            try:
                create_link_artifact(
                    link=link,
                    link_text="Dask dashboard",
                    key=DASHBOARD_ARTIFACT,
                    description="The Dask cluster this run's tuning tasks ran on.",
                )
            except Exception as exc:  # noqa: BLE001 - a missing link never stops a retraining
                _run_log(f"the Dask dashboard link was not attached to the run: {exc}")

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        try:
            if self.inner is not None:
                self.inner.__exit__(exc_type, exc_value, traceback)
        finally:
            self.inner, self._announcement = None, None
            super().__exit__(exc_type, exc_value, traceback)

    def submit(
        self, task: Any, parameters: dict[str, Any], wait_for: Any = None, dependencies: Any = None
    ) -> Any:
        if self.inner is None:
            raise RuntimeError("the task runner is not started")
        self._announce()
        return self.inner.submit(task, parameters, wait_for=wait_for, dependencies=dependencies)

    def map(self, task: Any, parameters: dict[str, Any], wait_for: Any = None) -> Any:
        if self.inner is None:
            raise RuntimeError("the task runner is not started")
        self._announce()
        return self.inner.map(task, parameters, wait_for=wait_for)


def _dashboard_link(runner: TaskRunner | None) -> str | None:
    """The Dask dashboard's address (the Dask runner connects its client on first use,
    which the first submitted task does anyway); None for threads."""
    if runner is None or runner.name != "dask":
        return None
    return getattr(runner.client, "dashboard_link", None) or None


def _run_log(message: str) -> None:
    """Into the flow run's log (the Prefect UI) when there is a run, else the console."""
    import logging

    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        get_run_logger().info(message)
    except MissingContextError:
        logging.getLogger(__name__).info(message)


def describe(orchestration: Any) -> str:
    if orchestration.task_runner == "local":
        return f"local threads ({orchestration.local_workers})"
    address = dask_address()
    if address:
        return f"Dask cluster at {address}"
    return f"Dask LocalCluster ({orchestration.dask_workers} worker processes)"
