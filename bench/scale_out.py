"""Benchmark: scaling out on one 2-core machine (issue 22), measured side by side.

(a) Retraining wall time on the real development file (``senim credit train --data``),
    the local task runner (threads) against Dask (a ``LocalCluster`` of 2 worker
    processes), each in a fresh SENIM_HOME with the repository's params; the selected
    model and its macro-F1 are reported for both (they must agree); and Dask with each
    family's trials split over 2 tasks (``orchestration.trial_tasks: 2``; its trials, so
    its model, may differ).
(b) The cost of shared rate limits: one ``hit`` of the in-memory token bucket against one
    on the platform database (SQLite; PostgreSQL 15 when installed), in process.
(c) Serving throughput of the credit service (the model of the local run of (a)), closed
    loop, single-row requests with an API key: one worker with in-memory limits, one
    worker with limits in the database, two workers (limits in the database, as
    ``--workers 2`` sets). Interleaved rounds, so the shared machine's noise falls on all.

Without ``../shared/data/corporate_rating`` (a) and (c) use the synthetic generator.

    uv run python bench/scale_out.py --write-docs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MARKER = "<!-- scale_out -->"
REAL_CSV = REPO.parent / "shared" / "data" / "corporate_rating" / "corporate_rating_dev.csv"


def retrain(tmp: Path, runner: str, trial_tasks: int = 1) -> tuple[float, dict, dict]:
    """Wall seconds of `senim credit train` with ``runner`` (and ``trial_tasks`` Dask tasks
    per family); its metrics.json; its env."""
    orchestration = {"task_runner": runner, "dask_workers": 2, "trial_tasks": trial_tasks}
    from bench.serving import fresh_home

    env = fresh_home(tmp, f"{runner}-{trial_tasks}", dict(os.environ), orchestration=orchestration)
    senim = str(Path(sys.executable).parent / "senim")
    command = [senim, "credit", "train"] + (["--data", str(REAL_CSV)] if REAL_CSV.is_file() else [])
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{runner} retraining failed: {done.stderr[-2000:]}")
    runs = sorted((Path(env["SENIM_HOME"]) / "runs").glob("credit-*"))
    return seconds, json.loads((runs[-1] / "metrics.json").read_text()), env


def limiter_cost(tmp: Path, hits: int = 2000) -> dict[str, float]:
    """Microseconds per hit: in memory, on a SQLite platform database, and on PostgreSQL 15
    (a local server with its default durability: fsync and synchronous commit on) when its
    binaries are installed."""
    from contextlib import ExitStack

    from auth.rate_limit import TokenBucketLimiter
    from auth.shared_rate_limit import SharedTokenBucketLimiter
    from senim.platform_db.engine import make_engine, migrate
    from tests.postgres_server import PG_BIN, running_postgres

    with ExitStack() as stack:
        urls = {"SQLite": f"sqlite:///{tmp / 'limits.db'}"}
        if (PG_BIN / "pg_ctl").exists():
            urls["PostgreSQL"] = stack.enter_context(running_postgres(durable=True))
        limiters: dict = {"memory": TokenBucketLimiter(10**9, 10**9)}
        for name, url in urls.items():
            engine = make_engine(url)
            stack.callback(engine.dispose)
            migrate(engine)
            limiters[name] = SharedTokenBucketLimiter(engine, "api_key", 10**9, 10**9)
        timings = {}
        for name, limiter in limiters.items():
            for key in range(10):  # warm-up: connections, statements
                limiter.hit(f"warm-{key}")
            started = time.perf_counter()
            for i in range(hits):
                limiter.hit(f"key-{i % 50}")
            timings[name] = (time.perf_counter() - started) / hits * 1e6
    return timings


def serving(env: dict, tmp: Path, seconds: float, rounds: int, concurrency: int) -> dict:
    """Requests per second and p50 latency per configuration, interleaved rounds."""
    from bench.serving import (
        Target,
        _applications,
        _free_port,
        _serve,
        _service_key,
        _stop,
        closed_loop,
    )

    senim = str(Path(sys.executable).parent / "senim")
    deployed = subprocess.run(
        [senim, "deploy", "credit"], env=env, capture_output=True, text=True, check=False
    )
    if deployed.returncode != 0:
        sys.exit(f"deploy failed: {deployed.stderr[-2000:]}")
    key = _service_key(env)
    single = json.dumps(_applications(1)[0]).encode()
    configs = (
        ("1 worker, limits in memory", ["--workers", "1"], {}),
        (
            "1 worker, limits in the database",
            ["--workers", "1"],
            {"SENIM_WORKSPACE": _workspace_with(env, tmp, rate_limit_store="database")},
        ),
        ("2 workers, limits in the database", ["--workers", "2"], {}),
    )
    processes, targets = [], []
    results: dict[str, list] = {name: [] for name, _, _ in configs}
    try:
        for name, args, extra in configs:
            port = _free_port()
            processes.append(
                _serve(
                    [senim, "serve", "credit", "--port", str(port), *args],
                    {**env, **extra},
                    f"http://127.0.0.1:{port}/readyz",
                    tmp / f"serve-{port}.log",
                )
            )
            base = f"http://127.0.0.1:{port}/v1/credit"
            targets.append(
                Target(
                    name,
                    base + "/score",
                    base + "/score_batch",
                    single,
                    single,
                    1,
                    {"Content-Type": "application/json", "X-API-Key": key},
                )
            )
        time.sleep(5)  # every worker loaded, not only the one that answered /readyz
        for round_ in range(rounds):
            order = targets if round_ % 2 == 0 else list(reversed(targets))
            for target in order:
                results[target.name].append(asyncio.run(closed_loop(target, concurrency, seconds)))
    finally:
        for process in processes:
            _stop(process)
    summary = {}
    for name, phases in results.items():
        sent = sum(p.sent for p in phases)
        errors = sum(p.errors for p in phases)
        latencies = [ms for p in phases for ms in p.latencies]
        summary[name] = {
            "rps": (sent - errors) / (seconds * rounds),
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "errors": errors,
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from bench.credit_quality import machine_info

    tmp = Path(tempfile.mkdtemp(prefix="senim-bench-scale-"))
    data = REAL_CSV.name if REAL_CSV.is_file() else "the synthetic generator"
    print("retraining with the local runner ...", file=sys.stderr)
    local_s, local_metrics, local_env = retrain(tmp, "local")
    print("retraining on Dask ...", file=sys.stderr)
    dask_s, dask_metrics, _ = retrain(tmp, "dask")
    print("retraining on Dask, trials split over 2 tasks per family ...", file=sys.stderr)
    split_s, split_metrics, _ = retrain(tmp, "dask", trial_tasks=2)
    hit_us = limiter_cost(tmp)
    # The service's limits are lifted to measure throughput, not the limit itself, and the
    # new version (awaiting review where approval is required) is aliased champion here.
    _lift_limits(local_env)
    import mlflow

    from bench.serving import _alias_latest
    from senim.environment import resolve_stores

    _alias_latest(resolve_stores(local_env).tracking_uri, mlflow)
    print("serving ...", file=sys.stderr)
    served = serving(local_env, tmp, args.seconds, args.rounds, args.concurrency)

    lines = [
        MARKER,
        "## Scaling out on one machine (bench/scale_out.py)",
        "",
        f"- Machine: {machine_info()}",
        f"- Data: {data}; the repository's params.yaml",
        "- `uv run python bench/scale_out.py --write-docs`",
        "",
        "Retraining (`senim credit train`, ingest to registration), wall time:",
        "",
        "| task runner | wall s | selected | its macro-F1 |",
        "|---|---|---|---|",
        f"| local threads (2) | {local_s:.0f} | {local_metrics['best']} | "
        f"{local_metrics.get('macro_f1', float('nan')):.4f} |",
        f"| Dask LocalCluster (2 worker processes) | {dask_s:.0f} | {dask_metrics['best']} | "
        f"{dask_metrics.get('macro_f1', float('nan')):.4f} |",
        f"| Dask LocalCluster (2), `trial_tasks: 2` (each family's trials over 2 tasks) | "
        f"{split_s:.0f} | {split_metrics['best']} | "
        f"{split_metrics.get('macro_f1', float('nan')):.4f} |",
        "",
        "Rate-limit bucket, one hit (a read and a compare-and-swap write in the database): "
        + ", ".join(
            f"{us:.1f} us in memory" if name == "memory" else f"{us:.0f} us on {name}"
            for name, us in hit_us.items()
        )
        + (
            " (a local PostgreSQL 15 with its default durability: each write waits for its "
            "WAL flush)."
            if "PostgreSQL" in hit_us
            else "."
        ),
        "",
        f"Credit service, single-row requests with an API key, {args.concurrency} clients, "
        f"closed loop, {args.rounds} interleaved rounds of {args.seconds:g} s:",
        "",
        "| configuration | requests/s | p50 ms | errors |",
        "|---|---|---|---|",
    ]
    for name, row in served.items():
        lines.append(f"| {name} | {row['rps']:.0f} | {row['p50']:.1f} | {row['errors']} |")
    lines.append(MARKER)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write_docs:
        from bench.credit_quality import write_docs_section

        write_docs_section(text, MARKER)


def _workspace_with(env: dict, tmp: Path, **auth: object) -> str:
    """A copy of ``env``'s workspace whose params.yaml sets ``auth`` keys."""
    import shutil

    import yaml

    source = Path(env["SENIM_WORKSPACE"])
    target = tmp / f"{source.name}-{'-'.join(map(str, auth.values()))}"
    shutil.copytree(source, target, dirs_exist_ok=True)
    params = yaml.safe_load((target / "params.yaml").read_text())
    params["auth"].update(auth)
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return str(target)


def _lift_limits(env: dict) -> None:
    import yaml

    path = Path(env["SENIM_WORKSPACE"]) / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["auth"]["api_key_rate"] = {"burst": 10**9, "per_minute": 10**9}
    path.write_text(yaml.safe_dump(params, sort_keys=False))


if __name__ == "__main__":
    main()
