import gc
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from senim.platform_db.engine import make_engine, migrate, session_factory
from senim.platform_db.tables import PredictionLogRecord
from serving.prediction_log import PredictionEvent, PredictionLog, canonical_json
from tests.postgres_server import create_database

LOGGER = "serving.prediction_log"
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _event(n: int = 0, **changes: Any) -> PredictionEvent:
    fields: dict[str, Any] = {
        "caller": "key:ab12cd", "endpoint": "/v1/credit/score", "model_name": "credit",
        "model_version": "7", "data_version": "d41d8cd9", "request_id": f"req-{n}",
        "inputs": [{"income": 52_000 + n, "age": 41, "purpose": "car"}],
        "outputs": [{"band": "B", "score": 0.12, "decision": "approve"}],
        "latency_ms": 3.5, "at": T0 + timedelta(seconds=n),
    } | changes  # fmt: skip
    return PredictionEvent(**fields)


def _rows(engine: sa.Engine) -> list[PredictionLogRecord]:
    with session_factory(engine)() as session:
        statement = sa.select(PredictionLogRecord).order_by(PredictionLogRecord.id)
        return list(session.scalars(statement))


def _count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(PredictionLogRecord))


def _balanced(stats: dict[str, int]) -> bool:
    return stats["written"] + stats["dropped"] + stats["queued"] == stats["recorded"]


@contextmanager
def _on_insert(engine: sa.Engine, hook: Callable[[], None]) -> Iterator[None]:
    """Run ``hook()`` before every INSERT into prediction_log on ``engine``."""

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO PREDICTION_LOG"):
            hook()

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'senim.db'}"
    server = request.getfixturevalue("postgres_dsn")
    return create_database(server, f"predlog_{uuid.uuid4().hex[:16]}")


@pytest.fixture()
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def sqlite_engine(tmp_path) -> Iterator[sa.Engine]:
    """For the queueing behaviour, which does not depend on the database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'senim.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def make_log() -> Iterator[Callable[..., PredictionLog]]:
    made: list[PredictionLog] = []

    def make(database, **options: Any) -> PredictionLog:
        made.append(PredictionLog(database, **options))
        return made[-1]

    yield make
    for log in made:
        log.close(timeout=10)


def test_given_recorded_events_when_flushed_then_rows_hold_the_hash_and_summary(engine, make_log):
    log = make_log(engine)
    inserts = []
    with _on_insert(engine, lambda: inserts.append(1)):
        for n in range(300):
            assert log.record(_event(n)) is True
        log.flush(timeout=10)
    rows = _rows(engine)
    assert len(rows) == 300 and len(inserts) <= 30
    first = rows[0]
    inputs = [{"income": 52_000, "age": 41, "purpose": "car"}]
    assert first.inputs_sha256 == hashlib.sha256(canonical_json(inputs).encode()).hexdigest()
    assert first.inputs is None
    assert json.loads(first.outputs) == [{"band": "B", "score": 0.12, "decision": "approve"}]
    assert (first.caller, first.endpoint, first.model_name, first.model_version) == (
        "key:ab12cd", "/v1/credit/score", "credit", "7",
    )  # fmt: skip
    assert (first.data_version, first.request_id, first.rows) == ("d41d8cd9", "req-0", 1)
    assert (first.latency_ms, first.status, first.error) == (3.5, "ok", None)
    assert first.at == T0 and first.at.tzinfo is not None
    assert [row.request_id for row in rows] == [f"req-{n}" for n in range(300)]
    assert log.stats() == {
        "recorded": 300, "queued": 0, "written": 300, "dropped": 0, "failed_batches": 0
    }  # fmt: skip


def test_given_store_inputs_when_flushed_then_the_stored_text_hashes_to_the_digest(
    engine, make_log
):
    log = make_log(engine, store_inputs=True)
    inputs = [{"purpose": "car", "age": 41, "income": 52_000}, {"age": 23, "income": 18_000}]
    at_plus_5h = T0.astimezone(timezone(timedelta(hours=5)))
    outputs = [{"band": "B"}, {"band": "E"}]
    log.record(_event(inputs=inputs, outputs=outputs, status="error", error="model raised",
                      at=at_plus_5h))  # fmt: skip
    log.flush(timeout=10)
    [row] = _rows(engine)
    assert json.loads(row.inputs) == inputs
    assert hashlib.sha256(row.inputs.encode()).hexdigest() == row.inputs_sha256
    assert row.inputs == '[{"age":41,"income":52000,"purpose":"car"},{"age":23,"income":18000}]'
    assert (row.rows, row.status, row.error, row.at) == (2, "error", "model raised", T0)


def test_given_the_same_inputs_in_another_key_order_when_hashed_then_the_digest_is_the_same(
    sqlite_engine, make_log
):
    log = make_log(sqlite_engine)
    log.record(_event(inputs=[{"a": 1, "b": [1, 2]}]))
    log.record(_event(inputs=[{"b": [1, 2], "a": 1}]))
    log.record(_event(inputs=[{"b": [2, 1], "a": 1}]))
    log.flush(timeout=10)
    digests = [row.inputs_sha256 for row in _rows(sqlite_engine)]
    assert digests[0] == digests[1] != digests[2]


def test_given_a_session_factory_when_events_recorded_then_they_are_written(
    sqlite_engine, make_log
):
    log = make_log(session_factory(sqlite_engine))
    log.record(_event())
    log.flush(timeout=10)
    assert _count(sqlite_engine) == 1


def test_given_a_new_log_when_nothing_recorded_then_no_writer_thread_runs(sqlite_engine):
    before = {thread.name for thread in threading.enumerate()}
    log = PredictionLog(sqlite_engine)
    log.flush(timeout=0.1)
    assert "prediction-log-writer" not in {t.name for t in threading.enumerate()} - before
    log.close()


def test_given_a_stalled_database_when_the_queue_fills_then_record_drops_without_blocking(
    sqlite_engine, make_log, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    entered, release = threading.Event(), threading.Event()

    def stall() -> None:
        entered.set()
        release.wait(timeout=20)

    log = make_log(sqlite_engine, max_queued=20, batch_size=5, batch_window_s=0.0)
    with _on_insert(sqlite_engine, stall):
        log.record(_event(0))
        assert entered.wait(timeout=10), "the writer never reached the INSERT"
        durations, results = [], []
        gc.disable()
        try:
            for n in range(1, 201):
                started = time.perf_counter()
                results.append(log.record(_event(n)))
                durations.append(time.perf_counter() - started)
        finally:
            gc.enable()
        stalled = log.stats()
        warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
        release.set()
        log.flush(timeout=10)

    # A blocked record() would wait out the stall (20 s); a preempted one on busy shared
    # cores can take several ms, so the bound holds for 99% of calls and loosely for all.
    slowest = sorted(durations, reverse=True)
    assert slowest[2] < 0.005, f"record() took {slowest[2] * 1000:.1f} ms"
    assert slowest[0] < 0.1, f"slowest record() took {slowest[0] * 1000:.1f} ms"
    assert results[:20] == [True] * 20 and results[20:] == [False] * 180
    assert stalled == {
        "recorded": 201, "queued": 21, "written": 0, "dropped": 180, "failed_batches": 0
    }  # fmt: skip
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # rate-limited
    assert log.stats() == {
        "recorded": 201, "queued": 0, "written": 21, "dropped": 180, "failed_batches": 0
    }  # fmt: skip
    assert _count(sqlite_engine) == 21
    log.close()
    logged = sum(r.args[0] for r in caplog.records if r.getMessage().startswith(
        "prediction log: dropped") and r.levelno == logging.WARNING)  # fmt: skip
    assert logged == 180  # every drop is in some warning, however rate-limited


def test_given_a_database_that_keeps_failing_when_retries_run_out_then_the_batch_is_dropped_loudly(
    sqlite_engine, make_log, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    attempts = []

    def fail() -> None:
        attempts.append(1)
        raise RuntimeError("disk full")

    log = make_log(sqlite_engine, max_attempts=3, retry_backoff_s=0.01, batch_window_s=0.2)
    with _on_insert(sqlite_engine, fail):
        for n in range(4):
            log.record(_event(n))
        log.flush(timeout=10)
    assert len(attempts) == 3
    assert log.stats() == {
        "recorded": 4, "queued": 0, "written": 0, "dropped": 4, "failed_batches": 1
    }  # fmt: skip
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "dropped 4 event(s) after 3 failed attempts" in errors[0].getMessage()
    assert "disk full" in errors[0].getMessage()
    assert _count(sqlite_engine) == 0


def test_given_a_transient_failure_when_retried_then_nothing_is_lost(
    sqlite_engine, make_log, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    attempts = []

    def fail_twice() -> None:
        attempts.append(1)
        if len(attempts) <= 2:
            raise RuntimeError("database is locked")

    log = make_log(sqlite_engine, retry_backoff_s=0.01, batch_window_s=0.2)
    with _on_insert(sqlite_engine, fail_twice):
        for n in range(10):
            log.record(_event(n))
        log.flush(timeout=10)
    assert log.stats() == {
        "recorded": 10, "queued": 0, "written": 10, "dropped": 0, "failed_batches": 0
    }  # fmt: skip
    assert _count(sqlite_engine) == 10
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2 and all(r.levelno == logging.WARNING for r in retries)


def test_given_a_stalled_writer_when_flush_times_out_then_it_names_the_pending_events(
    sqlite_engine, make_log
):
    release = threading.Event()
    log = make_log(sqlite_engine, batch_window_s=0.0)
    with _on_insert(sqlite_engine, lambda: release.wait(timeout=20)):
        log.record(_event())
        with pytest.raises(TimeoutError, match="1 prediction event"):
            log.flush(timeout=0.1)
        assert _balanced(log.stats())
        release.set()
        log.flush(timeout=10)


def test_given_a_closed_log_when_an_event_is_recorded_then_it_is_dropped_and_logged(
    sqlite_engine, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    log = PredictionLog(sqlite_engine)
    log.record(_event(0))
    log.close()
    assert log.record(_event(1)) is False
    assert log.stats() == {
        "recorded": 2, "queued": 0, "written": 1, "dropped": 1, "failed_batches": 0
    }  # fmt: skip
    assert any(r.getMessage().startswith("prediction log: dropped 1") for r in caplog.records)


def test_given_an_event_that_cannot_be_serialised_when_recorded_then_it_is_dropped_not_raised(
    sqlite_engine, make_log, caplog
):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    looped: dict[str, Any] = {}
    looped["self"] = looped
    log = make_log(sqlite_engine)
    assert log.record(_event(inputs=[looped])) is False
    assert log.record(_event()) is True
    log.flush(timeout=10)
    assert log.stats()["dropped"] == 1 and _count(sqlite_engine) == 1
    assert [r.levelno for r in caplog.records] == [logging.ERROR]


@pytest.mark.parametrize(
    "changes, message",
    [({"status": "maybe"}, "status must be one of"),
     ({"at": datetime(2025, 6, 1)}, "timezone-aware")],
)  # fmt: skip
def test_given_an_invalid_event_when_built_then_it_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        _event(**changes)


def test_given_a_database_url_when_the_log_is_built_from_it_then_the_table_is_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'home' / 'senim.db'}"
    log = PredictionLog.from_database_url(url, store_inputs=True)
    log.record(_event())
    log.close()
    engine = make_engine(url)
    try:
        [row] = _rows(engine)
        assert row.inputs is not None
    finally:
        engine.dispose()
