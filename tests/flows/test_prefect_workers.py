"""Retraining on Prefect workers: a real `prefect server`, set up by `senim prefect setup`
(the `senim-process` work pool and the crash automation), two `prefect worker` processes
and `retrain-credit` deployed from prefect.yaml, all started here and stopped after.

Two runs triggered together both complete, each on its own worker (a worker takes one
run at a time, ``--limit 1``). Each run gets its own SENIM_HOME through the deployment's
job variables: one retraining per family holds the lease of a platform database, so two
runs on one database would take turns (the second refused), which is the lease's job and
tested elsewhere.

A worker killed with its flow run mid-retraining (a host that died) leaves the run
Running until the crash automation sees its heartbeats stop: then it is Crashed. The
workspace beats every 30 s (Prefect's minimum) and allows 2 missed beats, so the test
waits about a minute, not the three of the shipped settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.serving.credit_server import free_port, running_server

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _prefect(*args: str, env: dict, timeout: float = 180) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def prefect_site(tmp_path_factory):
    from tests.integration_workspace import without_outside_stores, write_params

    root = tmp_path_factory.mktemp("prefect-workers")
    workspace = root / "workspace"
    workspace.mkdir()
    write_params(workspace, orchestration={"heartbeat_seconds": 30, "missed_heartbeats": 2})
    # The repository's deployments, beating as this workspace's params.yaml says.
    shipped = (REPO / "prefect.yaml").read_text()
    assert 'PREFECT_FLOWS_HEARTBEAT_FREQUENCY: "60"' in shipped
    prefect_yaml = workspace / "prefect.yaml"
    prefect_yaml.write_text(
        shipped.replace(
            'PREFECT_FLOWS_HEARTBEAT_FREQUENCY: "60"', 'PREFECT_FLOWS_HEARTBEAT_FREQUENCY: "30"'
        )
    )
    # prefect.yaml's pull step runs flows from SENIM_WORKSPACE: the code must be there.
    for package in ("flows",):
        (workspace / package).symlink_to(REPO / package)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{root / 'prefect.db'}",
        "SENIM_WORKSPACE": str(workspace),
        "SENIM_HOME": str(root / "home"),
        "DO_NOT_TRACK": "1",
        # The workers' own log lines ("... submitting flow run <id>") on their console.
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    env = without_outside_stores(env)
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with running_server(
        command, env, root / "server.log", port, health_path="/api/health", timeout_s=240
    ):
        setups = [
            subprocess.run(
                [str(BIN / "senim"), "prefect", "setup"],
                env=env,
                cwd=workspace,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )  # fmt: skip
            for _ in range(2)  # the second finds both in place: safe to rerun
        ]
        assert [setup.returncode for setup in setups] == [0, 0], [s.stderr for s in setups]
        assert "work pool senim-process: created" in setups[0].stdout
        assert "crash automation created" in setups[0].stdout
        assert "work pool senim-process: exists" in setups[1].stdout
        assert "crash automation updated" in setups[1].stdout
        automations = _prefect("automation", "ls", env={**env, "COLUMNS": "400"}, timeout=60)
        assert automations.count("senim: crash flow runs") == 1, automations
        _prefect(
            "--no-prompt", "deploy", "--name", "retrain-credit-weekly",
            "--prefect-file", str(prefect_yaml), env=env,
        )  # fmt: skip
        workers = [start_worker(name, root, env, workspace) for name in ("worker-a", "worker-b")]
        try:
            yield {"root": root, "env": env, "workers": workers, "workspace": workspace}
        finally:
            import signal

            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)


def start_worker(name: str, root: Path, env: dict, workspace: Path) -> subprocess.Popen:
    """A process worker taking one run at a time; its console appended to ``<name>.log``."""
    return subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "senim-process", "--name", name,
         "--limit", "1"],
        env=env,
        cwd=workspace,
        stdout=(root / f"{name}.log").open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _trigger_retraining(env: dict, home: Path) -> str:
    """Run retrain-credit-weekly now with its own SENIM_HOME; the flow run's id."""
    out = _prefect(
        "deployment", "run", "retrain-credit/retrain-credit-weekly",
        "--job-variable", f"env={json.dumps({'SENIM_HOME': str(home)})}", env=env,
    )  # fmt: skip
    return next(line.split()[-1] for line in out.splitlines() if "UUID:" in line)


def _runner_of(root: Path, run_id: str) -> str | None:
    """The worker whose submission of ``run_id`` went through, from the workers' logs."""
    for name in ("worker-a", "worker-b"):
        log = (root / f"{name}.log").read_text()
        if (
            f"submitting flow run '{run_id}'" in log
            and f"Aborted submission of flow run '{run_id}'" not in log
        ):
            return name
    return None


def _state(env: dict, run_id: str) -> str:
    """The flow run's state type, as the Prefect server reports it (`prefect flow-run inspect`)."""
    import re

    shown = _prefect("flow-run", "inspect", run_id, env=env, timeout=60)
    match = re.search(r"state_type=StateType\.([A-Z]+)", shown)
    return match.group(1) if match else "UNKNOWN"


def test_given_two_workers_when_two_retrainings_are_triggered_then_both_complete_on_each(
    prefect_site,
):
    env, root = prefect_site["env"], prefect_site["root"]
    run_ids = [_trigger_retraining(env, root / f"home-{name}") for name in ("first", "second")]

    deadline = time.monotonic() + 600
    states = {}
    while time.monotonic() < deadline:
        states = {run_id: _state(env, run_id) for run_id in run_ids}
        if all(
            state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for state in states.values()
        ):
            break
        time.sleep(3)

    logs = {name: (root / f"{name}.log").read_text() for name in ("worker-a", "worker-b")}
    assert set(states.values()) == {"COMPLETED"}, (states, logs)
    # Both workers may try to claim a run; the server lets one through and aborts the other.
    ran_by = {
        run_id: [
            name
            for name, log in logs.items()
            if f"submitting flow run '{run_id}'" in log
            and f"Aborted submission of flow run '{run_id}'" not in log
        ]
        for run_id in run_ids
    }
    assert all(len(names) == 1 for names in ran_by.values()), ran_by
    assert {names[0] for names in ran_by.values()} == {"worker-a", "worker-b"}


def test_given_a_worker_killed_mid_retraining_then_its_run_is_marked_crashed_not_left_running(
    prefect_site,
):
    import psutil

    env, root = prefect_site["env"], prefect_site["root"]
    run_id = _trigger_retraining(env, root / "home-crash")
    deadline = time.monotonic() + 300
    while _state(env, run_id) != "RUNNING" and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(3)  # the run's first heartbeat leaves as its engine starts
    state, runner = _state(env, run_id), _runner_of(root, run_id)
    assert state == "RUNNING" and runner is not None, (state, runner)

    # The host dies: the worker and the flow-run process it started, at once, no goodbye.
    index = ("worker-a", "worker-b").index(runner)
    worker = psutil.Process(prefect_site["workers"][index].pid)
    for process in [*worker.children(recursive=True), worker]:
        process.kill()
    prefect_site["workers"][index].wait(timeout=30)
    killed_at = time.monotonic()

    # 2 missed beats of 30 s after the last one, plus the server's evaluation loop.
    while time.monotonic() - killed_at < 180 and _state(env, run_id) == "RUNNING":
        time.sleep(3)
    shown = _prefect("flow-run", "inspect", run_id, env=env, timeout=60)
    assert _state(env, run_id) == "CRASHED", shown
    assert "no heartbeat for 60 s" in shown
    assert time.monotonic() - killed_at >= 25  # not before the beats were due
    # A replacement worker under the same name keeps the pool whole for other tests.
    prefect_site["workers"][index] = start_worker(runner, root, env, prefect_site["workspace"])
