"""Rate limits in the platform database: one limit per key for every process that shares
the database (several serving workers, several replicas), on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
import sqlalchemy as sa

from auth.shared_rate_limit import SharedTokenBucketLimiter, build_limiters, uses_shared_store
from senim.config import AuthParams
from senim.platform_db.engine import make_engine, migrate


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'platform.db'}"
    else:
        from tests.postgres_server import create_database

        dsn = request.getfixturevalue("postgres_dsn")
        url = create_database(dsn, f"rates_{tmp_path.name[-20:].lower().replace('-', '_')}")
    migrate(make_engine(url))
    return url


def test_given_a_burst_when_spent_then_the_next_hit_waits_for_the_refill(database_url):
    clock = Clock()
    limiter = SharedTokenBucketLimiter(make_engine(database_url), "api_key", 3, 60, clock)

    allowed = [limiter.hit("k").allowed for _ in range(4)]
    denied = limiter.hit("k")
    clock.now += 1.0  # one token a second

    assert allowed == [True, True, True, False]
    assert not denied.allowed and denied.retry_after == 1
    assert limiter.hit("k").allowed and not limiter.hit("k").allowed


def test_given_two_engines_as_two_workers_then_they_share_one_bucket(database_url):
    clock = Clock()
    first = SharedTokenBucketLimiter(make_engine(database_url), "api_key", 4, 1, clock)
    second = SharedTokenBucketLimiter(make_engine(database_url), "api_key", 4, 1, clock)

    hits = [limiter.hit("k").allowed for limiter in (first, second) * 3]

    assert hits.count(True) == 4
    assert first.hit("other").allowed  # buckets are per key


def test_given_racing_threads_on_two_engines_then_exactly_the_burst_is_allowed(database_url):
    limiters = [
        SharedTokenBucketLimiter(make_engine(database_url), "login_ip", 25, 0.001) for _ in range(2)
    ]
    results: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter) -> None:
        for _ in range(20):
            allowed = limiter.hit("203.0.113.9").allowed
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=hammer, args=(lim,)) for lim in limiters * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 80 and results.count(True) == 25


def test_given_two_processes_then_together_they_get_the_burst_once(database_url):
    script = textwrap.dedent(
        """
        import sys
        from auth.shared_rate_limit import SharedTokenBucketLimiter
        from senim.platform_db.engine import make_engine
        limiter = SharedTokenBucketLimiter(make_engine(sys.argv[1]), "api_key", 15, 0.001)
        print(sum(limiter.hit("key-1").allowed for _ in range(15)))
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, database_url], stdout=subprocess.PIPE,
                         text=True)
        for _ in range(2)
    ]  # fmt: skip
    counts = [int(process.communicate(timeout=120)[0].strip()) for process in processes]

    assert sum(counts) == 15


def test_given_a_reset_when_hit_again_then_the_burst_is_back(database_url):
    limiter = SharedTokenBucketLimiter(make_engine(database_url), "login_identity", 1, 0.001)
    limiter.hit("alice")
    limiter.reset("alice")

    assert limiter.hit("alice").allowed


@pytest.mark.parametrize(
    ("store", "workers", "database", "shared"),
    [
        ("auto", "1", "sqlite", False),
        ("auto", "3", "sqlite", True),
        ("auto", "1", "postgresql", True),  # replicas on other hosts may share it
        ("memory", "3", "postgresql", False),
        ("database", "1", "sqlite", True),
    ],
)
def test_given_the_store_setting_workers_and_database_then_buckets_live_where_expected(
    tmp_path, store, workers, database, shared
):
    params = AuthParams(rate_limit_store=store)
    url = (
        f"sqlite:///{tmp_path / 'p.db'}"
        if database == "sqlite"
        else "postgresql+psycopg2://senim@127.0.0.1:1/senim"  # never connected to here
    )
    engine = sa.create_engine(url)
    env = {"SENIM_SERVING_WORKERS": workers}

    limiters = build_limiters(params, engine, env)

    assert uses_shared_store(params, env, engine) is shared and limiters.shared is shared
    assert isinstance(limiters.api_key, SharedTokenBucketLimiter) is shared


def test_given_a_frozen_wall_clock_when_shared_buckets_refill_then_they_follow_it(tmp_path):
    """The runtime hands its wall clock to database buckets (tests freeze it; production
    reads time.time, which every host agrees on)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate(engine)
    now = [1_000.0]
    limiters = build_limiters(
        AuthParams(rate_limit_store="database", api_key_rate={"burst": 1, "per_minute": 1}),
        engine,
        {},
        wall_clock=lambda: now[0],
    )

    assert limiters.api_key.hit("k").allowed and not limiters.api_key.hit("k").allowed
    now[0] += 61
    assert limiters.api_key.hit("k").allowed
