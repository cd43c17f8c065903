"""Token buckets in the platform database, so every worker process (and every replica)
that shares the database counts against one limit per key.

The same bucket arithmetic as ``auth.rate_limit.TokenBucketLimiter`` (``burst`` at once,
refilled at ``per_minute``), kept in the ``rate_limit_buckets`` table and changed by a
compare-and-swap: read the bucket, compute, then ``UPDATE ... WHERE tokens = read AND
updated_at = read``; a racing worker that changed it first makes the update miss and the
hit is recomputed. No row locks and no dialect-specific SQL, so SQLite and PostgreSQL
behave alike. Time is the wall clock (``time.time``), which all processes share.

Costs one read and one write per request: measured in docs/BENCHMARKS.md (issue 22).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from auth.models import RateLimitBucket
from auth.rate_limit import Clock, RateDecision, RateLimiters

MAX_ATTEMPTS = 20  # compare-and-swap retries under contention before giving up the hit


class SharedTokenBucketLimiter:
    """``TokenBucketLimiter``'s interface (``hit``, ``enforce``, ``reset``) on the database;
    ``scope`` names the limiter (``login_ip``, ``api_key``...) inside the shared table."""

    def __init__(
        self,
        engine: sa.Engine,
        scope: str,
        burst: int,
        per_minute: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("burst must be >= 1 and per_minute > 0")
        self.engine = engine
        self.scope = scope
        self.burst = burst
        self.per_second = per_minute / 60.0
        self._clock = clock
        self._table = RateLimitBucket.__table__

    def hit(self, key: str, cost: float = 1.0) -> RateDecision:
        if not 0 < cost <= self.burst:
            raise ValueError(f"cost must be in (0, {self.burst}], got {cost}")
        name = f"{self.scope}:{key}"
        table = self._table
        for _ in range(MAX_ATTEMPTS):
            now = self._clock()
            with self.engine.begin() as connection:
                row = connection.execute(
                    sa.select(table.c.tokens, table.c.updated_at).where(table.c.key == name)
                ).first()
                if row is None:
                    try:
                        connection.execute(
                            table.insert().values(
                                key=name, tokens=float(self.burst) - cost, updated_at=now
                            )
                        )
                    except IntegrityError:  # another worker created it first: recompute
                        continue
                    return RateDecision(True, 0.0, float(self.burst) - cost)
                elapsed = max(0.0, now - row.updated_at)
                tokens = min(float(self.burst), row.tokens + elapsed * self.per_second)
                allowed = tokens >= cost
                left = tokens - cost if allowed else tokens
                changed = connection.execute(
                    table.update()
                    .where(
                        table.c.key == name,
                        table.c.tokens == row.tokens,
                        table.c.updated_at == row.updated_at,
                    )
                    .values(tokens=left, updated_at=max(now, row.updated_at))
                ).rowcount
            if changed == 1:
                if allowed:
                    return RateDecision(True, 0.0, left)
                wait = (cost - tokens) / self.per_second
                return RateDecision(False, float(max(1, math.ceil(wait - 1e-9))), tokens)
        # Contention this heavy on one key is itself a flood: refuse rather than spin.
        return RateDecision(False, 1.0, 0.0)

    def enforce(self, key: str) -> None:
        from auth.errors import RateLimited

        decision = self.hit(key)
        if not decision.allowed:
            raise RateLimited(retry_after=int(decision.retry_after))

    def reset(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                self._table.delete().where(self._table.c.key == f"{self.scope}:{key}")
            )

    def prune(self, older_than_s: float = 86_400.0) -> int:
        """Delete buckets untouched for ``older_than_s`` (a full bucket is no bucket)."""
        cutoff = self._clock() - older_than_s
        with self.engine.begin() as connection:
            return connection.execute(
                self._table.delete().where(self._table.c.updated_at < cutoff)
            ).rowcount


def build_limiters(
    params,
    engine: sa.Engine,
    env: Mapping[str, str],
    clock: Clock = time.monotonic,
    wall_clock: Clock = time.time,
) -> RateLimiters:
    """The auth layer's limiters: in memory (``clock``), or in the database (``wall_clock``,
    which every process and host agrees on) when ``auth.rate_limit_store`` says so."""
    if not uses_shared_store(params, env, engine):
        return RateLimiters.from_params(params, clock)

    def shared(scope: str, limit) -> SharedTokenBucketLimiter:
        return SharedTokenBucketLimiter(
            engine, scope, limit.burst, limit.per_minute, clock=wall_clock
        )

    return RateLimiters(
        login_ip=shared("login_ip", params.login_rate_per_ip),
        login_identity=shared("login_identity", params.login_rate_per_identity),
        token_ip=shared("token_ip", params.token_rate_per_ip),
        api_key=shared("api_key", params.api_key_rate),
        shared=True,
    )  # type: ignore[arg-type]


def uses_shared_store(params, env: Mapping[str, str], engine: sa.Engine) -> bool:
    """``auto``: shared when this process is one of several serving workers (``senim serve
    --workers N``), or when the platform database is a server (PostgreSQL) that replicas on
    other hosts may share; in memory for one process on its own SQLite file."""
    if params.rate_limit_store != "auto":
        return params.rate_limit_store == "database"
    from senim.environment import serving_workers

    return serving_workers(env) > 1 or engine.dialect.name != "sqlite"
