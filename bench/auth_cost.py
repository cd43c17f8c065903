"""Benchmark: what the auth layer costs per request and per login.

Per authorized request, in one process, side by side on the same store:
- bearer: verify the JWT, look up the user and the revoked-token list, check the
  permission, queue the audit event (written in batches by the background writer);
- API key: parse, look up by prefix, constant-time hash compare, rate limit, permission,
  audit;
and a login with the argon2id parameters from params.yaml. Writes a section with the
machine info into docs/BENCHMARKS.md with --write-docs.

    uv run python bench/auth_cost.py --write-docs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MARKER = "<!-- auth -->"


def _per_call_ms(fn, n: int, repeats: int = 5) -> tuple[float, float]:
    """Median and best per-call milliseconds over ``repeats`` batches of ``n`` calls."""
    batches = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        batches.append((time.perf_counter() - started) * 1000 / n)
    return statistics.median(batches), min(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from auth import accounts, machine_keys
    from auth.login import login
    from auth.models import User
    from auth.permissions import Permission
    from auth.principals import authenticate_api_key, authenticate_bearer, require
    from auth.runtime import AuthRuntime, RequestMeta
    from auth.sessions import issue_tokens
    from bench.credit_quality import machine_info
    from senim.config import load_params

    params = load_params(REPO / "params.yaml").auth
    # No rate limit in the way of a throughput measurement of the checks themselves.
    unlimited = params.api_key_rate.model_copy(update={"burst": 10**9, "per_minute": 10**9})
    params = params.model_copy(
        update={
            "api_key_rate": unlimited,
            "login_rate_per_ip": unlimited,
            "login_rate_per_identity": unlimited,
        }
    )
    with tempfile.TemporaryDirectory(prefix="senim-bench-auth-") as home:
        runtime = AuthRuntime.build(params, f"sqlite:///{home}/auth.db", Path(home), env={})
        meta = RequestMeta(ip="127.0.0.1", user_agent="bench", device_fingerprint="bench")
        admin = accounts.create_user(
            runtime, "bench-admin", "correct horse battery staple", ["admin"], meta, actor_id=None
        )
        service = accounts.create_user(
            runtime,
            "bench-service",
            "another long passphrase 42",
            ["service"],
            meta,
            actor_id=admin.id,
            actor_roles=("admin",),
        )
        with runtime.sessions.begin() as session:
            pair = issue_tokens(runtime, session, session.get(User, service.id), meta, mfa=False)
        key = machine_keys.create_key(
            runtime, "bench", "service", meta, actor_id=admin.id, actor_roles=("admin",)
        ).key

        def bearer_request() -> None:
            principal = authenticate_bearer(runtime, pair.access_token)
            require(runtime, principal, Permission.SCORE, meta, "credit")
            runtime.record(principal.label, "score", "credit", "success", meta)

        def api_key_request() -> None:
            principal = authenticate_api_key(runtime, key, meta)
            require(runtime, principal, Permission.SCORE, meta, "credit")
            runtime.record(principal.label, "score", "credit", "success", meta)

        for fn in (bearer_request, api_key_request):
            fn()  # warm caches and the audit writer thread
        bearer_ms, bearer_best = _per_call_ms(bearer_request, args.requests)
        key_ms, key_best = _per_call_ms(api_key_request, args.requests)
        flush_started = time.perf_counter()
        runtime.audit.flush(timeout=60)
        flush_s = time.perf_counter() - flush_started
        login_ms, login_best = _per_call_ms(
            lambda: login(runtime, "bench-service", "another long passphrase 42", meta),
            5,
            repeats=3,
        )
        hash_ms, _ = _per_call_ms(
            lambda: runtime.passwords.hash("correct horse battery staple"), 5, repeats=3
        )
        runtime.close()

    verdict = lambda ms: "MET" if ms < 1.0 else "NOT MET"  # noqa: E731
    section = (
        "\n".join(
            [
                MARKER,
                "## Auth layer: cost per authorized request and per login",
                "",
                f"- Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine_info()}",
                f"- Store: embedded SQLite (WAL); {args.requests} requests per batch, median of 5 "
                "batches (best in brackets); audit events queued and written in batches by the "
                f"background writer, all {2 * (5 * args.requests + 1)} of them flushed in "
                f"{flush_s:.2f} s after the run (none dropped)",
                f"- argon2id: t={params.argon2_time_cost}, m={params.argon2_memory_kib} KiB, "
                f"p={params.argon2_parallelism}",
                "",
                "| what | ms per call | target |",
                "| --- | ---: | --- |",
                "| bearer JWT verify + user/revocation lookup + permission + audit | "
                f"{bearer_ms:.3f} ({bearer_best:.3f}) | < 1 ms: {verdict(bearer_ms)} |",
                f"| API key lookup + hash compare + rate limit + permission + audit | {key_ms:.3f} "
                f"({key_best:.3f}) | < 1 ms: {verdict(key_ms)} |",
                "| password login (argon2id verify, risk, tokens, audit) | "
                f"{login_ms:.1f} ({login_best:.1f}) | deliberately slow |",
                f"| argon2id hash alone | {hash_ms:.1f} | |",
                "",
                MARKER,
            ]
        )
        + "\n"
    )
    print(section)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "auth.md").write_text(section)
    if args.write_docs:
        from bench.credit_quality import write_docs_section

        write_docs_section(section, MARKER)


if __name__ == "__main__":
    main()
