"""Benchmark: a promotion reaching a running credit service under steady load, and what
shadow mode costs the live path.

One run, one machine, one ``senim serve credit`` (one worker), its model trained on the
real ``corporate_rating_dev.csv`` where it exists (``bench/serving.py``'s home; ``--home``
reuses one):

(a) promotion: 200 single-row requests/s for 60 s on a fixed schedule; half-way, a second
    version is promoted the way an approval does it (``champion`` moves, the move is
    recorded in the alias history, one registry-follower pass deploys it) and the running
    service swaps to it. Counted: errors; p99 before, during (from the promotion to 2 s
    after the first new answer) and after; when the answers changed version; how many
    times they changed, and any old answer after the first new one (a mix; target 0).
(b) shadow: the previous version shadows the live one (``senim deploy credit --shadow``);
    the live path's latency at 200 requests/s with and without the shadow, in interleaved
    rounds; then the shadow report (``senim deploy shadow-report credit``).

    uv run python bench/promotion.py --write-docs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MARKER = "<!-- promotion -->"
MODEL = "credit-rating"


@dataclass
class Answer:
    scheduled: float  # seconds from the start of the phase
    latency_ms: float
    ok: bool
    version: str | None


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)

    def latencies(self, start: float = -1e9, end: float = 1e9) -> list[float]:
        return [a.latency_ms for a in self.answers if a.ok and start <= a.scheduled < end]

    def errors(self) -> int:
        return sum(not a.ok for a in self.answers)


async def steady_load(
    url: str,
    headers: dict,
    body: bytes,
    rate: float,
    seconds: float,
    events: dict,
    promote_at: float | None = None,
    promote=None,
) -> Run:
    """``rate`` requests/s on a fixed schedule; ``promote`` runs in a thread at
    ``promote_at`` seconds (its start and end are written into ``events``)."""
    from bench.serving import on_schedule

    run = Run()

    async def request(session, scheduled: float, start: float) -> None:
        try:
            async with session.post(url, data=body, headers=headers) as response:
                payload = await response.read()
                ok = response.status == 200
        except Exception:  # noqa: BLE001 - a failed request is an error to count
            ok, payload = False, b""
        elapsed = (time.perf_counter() - scheduled) * 1000
        version = json.loads(payload)["lineage"]["model_version"] if ok else None
        run.answers.append(Answer(scheduled - start, elapsed, ok, version))

    async def promoter(start: float) -> None:
        await asyncio.sleep(max(0.0, start + promote_at - time.perf_counter()))
        events["promoted"] = time.perf_counter() - start
        await asyncio.to_thread(promote)
        events["deployed"] = time.perf_counter() - start

    await on_schedule(
        rate, seconds, request, also=(lambda start: [promoter(start)]) if promote else None
    )
    run.answers.sort(key=lambda a: a.scheduled)
    return run


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def _copy_champion(env: dict) -> tuple[str, str]:
    """A second registered version of the champion's model (same weights, new version)."""
    import mlflow

    from senim.environment import resolve_stores

    client = mlflow.MlflowClient(resolve_stores(env).tracking_uri)
    old = client.get_model_version_by_alias(MODEL, "champion")
    new = client.copy_model_version(f"models:/{MODEL}/{old.version}", MODEL)
    for key, value in (old.tags or {}).items():
        client.set_model_version_tag(MODEL, new.version, key, value)
    return str(old.version), str(new.version)


def _promote(env: dict, version: str) -> None:
    """What an approval does: champion moves, the move is recorded, the follower deploys."""
    import mlflow

    from flows.deploy_service import FOLLOWED
    from pipelines.release.alias_history import alias_move, open_history, record_moves
    from pipelines.release.follow import follow_pass, raise_if_failed
    from pipelines.release.registry import current_alias
    from senim.config import load_params
    from senim.environment import resolve_stores

    stores = resolve_stores(env)
    client = mlflow.MlflowClient(stores.tracking_uri)
    before = current_alias(client, MODEL, "champion")
    client.set_registered_model_alias(MODEL, "champion", version)
    sessions = open_history(stores.database_url)
    try:
        record_moves(sessions, [alias_move(MODEL, "champion", before and before.version, version,
                                           "approve", "bench", "bench promotion")])  # fmt: skip
    finally:
        sessions.kw["bind"].dispose()
    raise_if_failed(follow_pass(FOLLOWED, stores, load_params(stores.params_path)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--shadow-rounds", type=int, default=3)
    parser.add_argument("--shadow-seconds", type=float, default=10.0)
    parser.add_argument("--home", type=Path, help="a SENIM_HOME with a trained credit model")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from bench.credit_quality import machine_info, write_docs_section
    from bench.serving import (
        REAL_CSV,
        _alias_latest,
        _applications,
        _bench_home,
        _free_port,
        _serve,
        _service_key,
        _stop,
        real_data_home,
    )
    from senim.environment import prepare_home, resolve_stores

    source_env = dict(os.environ)
    tmp = Path(tempfile.mkdtemp(prefix="senim-bench-promotion-"))
    if args.home:
        import mlflow

        source_env = {**source_env, "SENIM_HOME": str(args.home.resolve())}
        source_env.pop("MLFLOW_TRACKING_URI", None)
        measured = _alias_latest(resolve_stores(source_env).tracking_uri, mlflow)
    elif REAL_CSV.is_file() and not args.synthetic:
        source_env, measured = real_data_home(tmp, source_env)
    else:
        measured = "the SENIM_HOME champion (synthetic data)"
    prepare_home(resolve_stores(source_env))
    env = _bench_home(source_env, tmp)
    os.environ.update(env)
    prepare_home(resolve_stores(env))
    senim = str(Path(sys.executable).parent / "senim")

    def cli(*words: str) -> str:
        done = subprocess.run([senim, *words], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"senim {' '.join(words)} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    cli("deploy", "credit")
    old, new = _copy_champion(env)
    key = _service_key(env)
    body = json.dumps(_applications(1)[0]).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    port = _free_port()
    server = _serve([senim, "serve", "credit", "--port", str(port)], env,
                    f"http://127.0.0.1:{port}/readyz", tmp / "server.log")  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1/credit/score"
    try:
        events: dict[str, float] = {}
        swap = asyncio.run(steady_load(url, headers, body, args.rate, args.seconds, events,
                                       args.seconds / 2, lambda: _promote(env, new)))  # fmt: skip
        # (b) shadow: the previous version scores the same traffic off the request path.
        client_env = resolve_stores(env)
        import mlflow

        mlflow.MlflowClient(client_env.tracking_uri).set_registered_model_alias(
            MODEL, "challenger", old
        )
        with_shadow: list[float] = []
        without: list[float] = []
        shadow_errors = 0
        for _ in range(args.shadow_rounds):
            for shadowed in (False, True):
                cli(
                    "deploy",
                    "credit",
                    *(("--shadow", "challenger") if shadowed else ("--end-shadow",)),
                )
                time.sleep(3)  # the service re-reads its record every second
                phase = asyncio.run(steady_load(url, headers, body, args.rate,
                                                args.shadow_seconds, {}))  # fmt: skip
                (with_shadow if shadowed else without).extend(phase.latencies())
                shadow_errors += phase.errors()
        cli("deploy", "credit", "--shadow", "challenger")
        time.sleep(3)
        report = cli("deploy", "shadow-report", "credit", "--version", old)
    finally:
        _stop(server)

    first_new = next((a.scheduled for a in swap.answers if a.version == new), None)
    versions = [a.version for a in swap.answers if a.ok]
    changes = sum(1 for a, b in zip(versions, versions[1:], strict=False) if a != b)
    mixes = (
        0
        if first_new is None
        else sum(1 for a in swap.answers if a.ok and a.scheduled > first_new and a.version == old)
    )
    promoted = events.get("promoted", float("nan"))
    during_end = (first_new or promoted) + 2.0
    rows = [
        ["before the promotion", _p(swap.latencies(0, promoted), 50),
         _p(swap.latencies(0, promoted), 99)],
        ["promotion to 2 s after the first new answer",
         _p(swap.latencies(promoted, during_end), 50),
         _p(swap.latencies(promoted, during_end), 99)],
        ["after", _p(swap.latencies(during_end), 50), _p(swap.latencies(during_end), 99)],
    ]  # fmt: skip
    from tabulate import tabulate

    lines = [
        MARKER,
        "## Promotion under load and shadow mode (bench/promotion.py)",
        "",
        f"Machine: {machine_info()}",
        f"Model: {measured}; version {old} serving, version {new} (same weights) promoted.",
        "`uv run python bench/promotion.py --write-docs`",
        "",
        f"Promotion at {args.rate:g} single-row requests/s for {args.seconds:g} s "
        f"({len(swap.answers)} requests, auth on, one worker):",
        "",
        tabulate(rows, headers=["window", "p50 ms", "p99 ms"], tablefmt="github"),
        "",
        f"- Errors: {swap.errors()} (target 0).",
        f"- Promotion started at {promoted:.2f} s (alias move + record + follower pass); the "
        f"deployment record was written at {events.get('deployed', float('nan')):.2f} s "
        "(import and Bento build included); the first answer from version "
        f"{new} was scheduled at {first_new if first_new is not None else float('nan'):.2f} s.",
        f"- The answering version changed {changes} time(s); old answers after the first new "
        f"one: {mixes} (target 0).",
        "",
        f"Shadow mode, live path at {args.rate:g} requests/s, {args.shadow_rounds} interleaved "
        f"rounds of {args.shadow_seconds:g} s each way:",
        "",
        tabulate(
            [
                ["without shadow", len(without), _p(without, 50), _p(without, 99)],
                ["with shadow", len(with_shadow), _p(with_shadow, 50), _p(with_shadow, 99)],
            ],
            headers=["live path", "answers", "p50 ms", "p99 ms"],
            tablefmt="github",
        ),  # fmt: skip
        "",
        f"- Errors on the live path: {shadow_errors}.",
        "",
        "The shadow report of that traffic (`senim deploy shadow-report credit`):",
        "",
        *[f"    {line}" if line else "" for line in report.strip().splitlines()],
        "",
        MARKER,
    ]
    section = "\n".join(lines)
    print(section)
    if args.write_docs:
        write_docs_section(section, MARKER)


if __name__ == "__main__":
    main()
