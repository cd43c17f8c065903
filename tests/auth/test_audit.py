import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from auth.audit import AuditEvent, AuditLog, query
from auth.models import AuditRecord

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _event(n: int = 0, **changes: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "actor": "user-1", "action": "login", "resource": "session", "outcome": "success",
        "details": {"n": n},
    } | changes  # fmt: skip
    return AuditEvent(**fields)


def _count(sessions) -> int:
    with sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(AuditRecord))


@contextmanager
def _on_audit_insert(engine: sa.Engine, hook) -> Iterator[None]:
    """Run ``hook()`` before every INSERT into audit_log on ``engine``."""

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
            hook()

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


@pytest.fixture()
def audit_log(sessions) -> Iterator[AuditLog]:
    log = AuditLog(sessions)
    yield log
    log.close()


def test_given_a_new_audit_log_when_nothing_recorded_then_no_writer_thread_runs(sessions):
    before = {thread.name for thread in threading.enumerate()}
    log = AuditLog(sessions)
    log.flush(timeout=0.1)
    assert "audit-log-writer" not in {thread.name for thread in threading.enumerate()} - before
    log.close()


def test_given_1000_recorded_events_when_flushed_then_all_are_written_in_batches(
    audit_log, sessions, migrated_engine
):
    inserts = []
    with _on_audit_insert(migrated_engine, lambda: inserts.append(1)):
        for n in range(1000):
            audit_log.record(_event(n))
        audit_log.flush(timeout=10)
    assert _count(sessions) == 1000
    assert len(inserts) <= 50
    with sessions() as session:
        numbers = [row.details["n"] for row in query(session, limit=1000)]
    assert numbers == list(range(999, -1, -1))


def test_given_the_first_insert_fails_when_flushed_then_no_event_is_lost(
    audit_log, sessions, migrated_engine
):
    attempts = []

    def fail_first_time() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    with _on_audit_insert(migrated_engine, fail_first_time):
        for n in range(10):
            audit_log.record(_event(n))
        audit_log.flush(timeout=10)
    assert len(attempts) >= 2
    assert _count(sessions) == 10


def test_given_the_database_stays_down_when_flushing_then_it_times_out_and_events_wait(
    audit_log, sessions, migrated_engine
):
    def down() -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    with _on_audit_insert(migrated_engine, down):
        audit_log.record(_event())
        with pytest.raises(TimeoutError, match="1 audit event.*server closed the connection"):
            audit_log.flush(timeout=0.3)
    audit_log.flush(timeout=10)
    assert _count(sessions) == 1


def test_given_a_slow_database_when_recording_then_the_caller_does_not_wait(
    audit_log, sessions, migrated_engine
):
    with _on_audit_insert(migrated_engine, lambda: time.sleep(0.3)):
        started = time.monotonic()
        for n in range(20):
            audit_log.record(_event(n))
        assert time.monotonic() - started < 0.2
        audit_log.flush(timeout=10)
    assert _count(sessions) == 20


def test_given_a_full_queue_when_recording_then_the_caller_blocks_instead_of_dropping(
    sessions, migrated_engine
):
    release = threading.Event()
    log = AuditLog(sessions, max_queued=1, batch_size=1)
    with _on_audit_insert(migrated_engine, lambda: release.wait(10)):
        log.record(_event(1))  # taken by the writer, which then hangs in INSERT
        log.record(_event(2))  # fills the queue
        third = threading.Thread(target=log.record, args=(_event(3),))
        third.start()
        third.join(0.3)
        assert third.is_alive()
        release.set()
        third.join(5)
        log.close(timeout=10)
    assert _count(sessions) == 3


def test_given_an_event_when_recorded_synchronously_then_it_is_readable_at_once(
    audit_log, sessions
):
    audit_log.record_sync(_event(outcome="alert", action="refresh_token_reuse"))
    with sessions() as session:
        [row] = query(session)
    assert (row.action, row.outcome, row.details) == ("refresh_token_reuse", "alert", {"n": 0})
    assert row.at.tzinfo is UTC


def test_given_mixed_events_when_queried_then_filters_apply_and_newest_come_first(
    audit_log, sessions
):
    events = [
        _event(0, at=T0),
        _event(1, at=T0 + timedelta(minutes=1), outcome="failure"),
        _event(2, at=T0 + timedelta(minutes=2), actor="key:sk_abc", action="predict"),
        _event(3, at=T0 + timedelta(minutes=3), outcome="failure"),
        _event(4, at=T0 + timedelta(minutes=4), outcome="denied", action="predict"),
    ]
    for event in events:
        audit_log.record(event)
    audit_log.flush()

    def numbers(**filters: Any) -> list[int]:
        with sessions() as session:
            return [row.details["n"] for row in query(session, **filters)]

    assert numbers() == [4, 3, 2, 1, 0]
    assert numbers(actor="user-1", outcome="failure") == [3, 1]
    assert numbers(action="predict") == [4, 2]
    almaty = T0.astimezone(timezone(timedelta(hours=5)))  # same instant, another zone
    assert numbers(since=almaty + timedelta(minutes=1), until=T0 + timedelta(minutes=3)) == [2, 1]
    assert numbers(limit=2) == [4, 3]
    with sessions() as session:
        last_seen = query(session, limit=2)[-1].id
    assert numbers(before_id=last_seen, limit=2) == [2, 1]


def test_given_a_limit_above_the_cap_when_queried_then_at_most_1000_rows_come_back(sessions):
    rows = [{"at": T0, "actor": "a", "action": "x", "resource": "r", "outcome": "success",
             "details": {}} for _ in range(1001)]  # fmt: skip
    with sessions.begin() as session:
        session.execute(sa.insert(AuditRecord), rows)
    with sessions() as session:
        assert len(query(session, limit=5000)) == 1000
        with pytest.raises(ValueError, match="limit"):
            query(session, limit=0)


def test_given_details_changed_after_recording_when_flushed_then_the_recorded_copy_is_kept(
    audit_log, sessions
):
    details: dict[str, Any] = {"role": "reviewer", "when": T0}
    audit_log.record(_event(details=details, user_agent="curl\x00/8"))
    details["role"] = "admin"
    audit_log.flush()
    with sessions() as session:
        [row] = query(session)
    assert row.details == {"role": "reviewer", "when": str(T0)}
    assert row.user_agent == "curl\ufffd/8"


def test_given_a_bad_outcome_or_naive_time_when_an_event_is_made_then_it_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        _event(outcome="ok")
    with pytest.raises(ValueError, match="timezone-aware"):
        _event(at=datetime(2025, 1, 1))


def test_given_a_closed_audit_log_when_recording_then_it_raises(sessions):
    log = AuditLog(sessions)
    log.record(_event())
    log.close()
    assert _count(sessions) == 1
    with pytest.raises(RuntimeError, match="closed"):
        log.record(_event())
