"""The monitoring rows of the platform database, for both families: the current window,
retention, realised outcomes and the one-retraining-in-flight lease.

Rows are written by the services (``serving.prediction_log``, beside each prediction
event); this module reads them, deletes what is past ``monitoring.retention_days`` and
attaches outcomes. Attaching is all or nothing: every outcome is checked first (known
row, no duplicate, no conflicting earlier outcome) and one problem writes none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from senim.errors import DataError, SenimError
from senim.platform_db.tables import MonitoringRowRecord, RetrainingLease

logger = logging.getLogger(__name__)

_ROWS = MonitoringRowRecord.__table__
_LEASES = RetrainingLease.__table__
# How many problems an outcomes error lists before "and N more".
MAX_LISTED_PROBLEMS = 20


def open_monitoring(database_url: str) -> sessionmaker[Session]:
    """Sessions on the platform database, migrated to head (monitoring arrives with 0008)."""
    from senim.platform_db.engine import make_engine, migrate, session_factory

    engine = make_engine(database_url)
    migrate(engine)
    return session_factory(engine)


def close_monitoring(sessions: sessionmaker[Session]) -> None:
    sessions.kw["bind"].dispose()


def window_rows(
    sessions: sessionmaker[Session],
    family: str,
    since: datetime,
    until: datetime | None = None,
    model_version: str | None = None,
) -> pd.DataFrame:
    """The family's rows scored in ``[since, until)`` (by ``model_version`` when given),
    oldest first: one column per kept feature, then ``at``, ``request_id``,
    ``row_index``, ``model_version``, ``prediction``, ``score``, ``outcome``."""
    query = sa.select(_ROWS).where(_ROWS.c.family == family, _ROWS.c.at >= since)
    if until is not None:
        query = query.where(_ROWS.c.at < until)
    if model_version is not None:
        query = query.where(_ROWS.c.model_version == model_version)
    return _frame(sessions, query)


def rows_with_outcomes(
    sessions: sessionmaker[Session], family: str, model_version: str
) -> pd.DataFrame:
    """Every kept row of ``model_version`` that has an outcome, whenever it was scored:
    realised ratings arrive weeks or months after the scoring, long after its window."""
    query = sa.select(_ROWS).where(
        _ROWS.c.family == family,
        _ROWS.c.model_version == model_version,
        _ROWS.c.outcome.is_not(None),
    )
    return _frame(sessions, query)


def _frame(sessions: sessionmaker[Session], query: sa.Select) -> pd.DataFrame:
    with sessions() as session:
        records = session.execute(query.order_by(_ROWS.c.at, _ROWS.c.id)).mappings().all()
    meta = ["at", "request_id", "row_index", "model_version", "prediction", "score", "outcome"]
    features = pd.DataFrame([record["features"] for record in records])
    described = pd.DataFrame([{key: record[key] for key in meta} for record in records])
    if not records:
        return pd.DataFrame(columns=meta)
    return pd.concat([features, described], axis=1)


def prune(sessions: sessionmaker[Session], family: str, retention_days: int, now: datetime) -> int:
    """Delete the family's rows older than ``retention_days``; returns how many went."""
    cutoff = now - timedelta(days=retention_days)
    with sessions.begin() as session:
        result = session.execute(
            sa.delete(_ROWS).where(_ROWS.c.family == family, _ROWS.c.at < cutoff)
        )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Outcome:
    """A realised label for logged rows: by ``request_id`` (and ``row_index``), or by
    ``company`` and ``rating_date`` (ISO). ``line`` names it in errors."""

    line: str  # "row 3" of a file, "outcomes[2]" of a request
    label: str
    request_id: str | None = None
    row_index: int = 0
    company: str | None = None
    rating_date: str | None = None

    @property
    def key(self) -> tuple:
        if self.request_id is not None:
            return ("request", self.request_id, self.row_index)
        return ("company", self.company, self.rating_date)

    def describe_key(self) -> str:
        if self.request_id is not None:
            row = f" row {self.row_index}" if self.row_index else ""
            return f"request id {self.request_id!r}{row}"
        return f"company {self.company!r} on {self.rating_date}"


@dataclass(frozen=True)
class AttachResult:
    attached: int  # rows that received an outcome
    unchanged: int  # rows that already had this same outcome
    outcomes: int  # outcomes given


class OutcomesRejected(DataError):
    """At least one outcome names no logged row, repeats, or contradicts a stored one;
    ``problems`` lists each as (where, field, problem)."""

    def __init__(self, problems: list[tuple[str, str, str]], origin: str) -> None:
        self.problems = problems
        listed = "; ".join(
            f"{where}: {field}: {problem}"
            for where, field, problem in problems[:MAX_LISTED_PROBLEMS]
        )
        more = len(problems) - MAX_LISTED_PROBLEMS
        suffix = f"; and {more} more" if more > 0 else ""
        super().__init__(f"{origin}: no outcome attached: {listed}{suffix}")


def attach_outcomes(
    sessions: sessionmaker[Session],
    family: str,
    outcomes: Sequence[Outcome],
    *,
    by: str,
    origin: str,
    replace: bool = False,
    now: datetime | None = None,
    problems: Sequence[tuple[str, str, str]] = (),
) -> AttachResult:
    """Attach each outcome to its logged rows in one transaction, or none at all.

    Refused (``OutcomesRejected``): the same row twice in ``outcomes``, a key that
    matches no logged row of ``family``, and (unless ``replace``) a row that already has
    a different outcome. Giving a row the outcome it already has changes nothing.
    ``problems`` are the caller's own findings (bad records it could not parse): any one
    refuses the whole batch too, named with the rest.
    """
    now = now or datetime.now(UTC)
    problems = list(problems)
    first_line: dict[tuple, str] = {}
    for outcome in outcomes:
        seen = first_line.setdefault(outcome.key, outcome.line)
        if seen != outcome.line:
            problems.append(
                (
                    outcome.line,
                    _key_field(outcome),
                    f"duplicate of {seen} ({outcome.describe_key()})",
                )
            )
    with sessions.begin() as session:
        plans: list[tuple[Outcome, list[int]]] = []
        current: dict[int, str | None] = {}
        for outcome in outcomes:
            rows = session.execute(_matching(family, outcome)).all()
            current.update({row.id: row.outcome for row in rows})
            if not rows:
                problems.append(
                    (
                        outcome.line,
                        _key_field(outcome),
                        f"no logged {family} prediction for {outcome.describe_key()}",
                    )
                )
                continue
            conflicting = [row for row in rows if row.outcome not in (None, outcome.label)]
            if conflicting and not replace:
                problems.append(
                    (
                        outcome.line,
                        "outcome",
                        f"{outcome.describe_key()} already has outcome {conflicting[0].outcome!r}, "
                        f"not {outcome.label!r} (replace it explicitly)",
                    )
                )
                continue
            plans.append((outcome, [row.id for row in rows]))
        problems += _same_row_twice(plans)
        if problems:
            raise OutcomesRejected(sorted(problems, key=_line_order), origin)
        changing = {
            row_id: outcome.label
            for outcome, ids in plans
            for row_id in ids
            if current.get(row_id) != outcome.label
        }
        for label in set(changing.values()):
            session.execute(
                sa.update(_ROWS)
                .where(_ROWS.c.id.in_([i for i, lab in changing.items() if lab == label]))
                .values(outcome=label, outcome_at=now, outcome_by=by)
            )
        attached = len(changing)
        unchanged = sum(1 for _, ids in plans if not any(i in changing for i in ids))
    return AttachResult(attached=attached, unchanged=unchanged, outcomes=len(outcomes))


def _same_row_twice(plans: list[tuple[Outcome, list[int]]]) -> list[tuple[str, str, str]]:
    """One prediction named twice with different labels (once by request id, once by
    company and date): a problem, never a silent last-one-wins."""
    first: dict[int, Outcome] = {}
    problems = []
    for outcome, ids in plans:
        for row_id in ids:
            earlier = first.setdefault(row_id, outcome)
            if earlier is not outcome and earlier.label != outcome.label:
                problems.append(
                    (
                        outcome.line,
                        "outcome",
                        f"names the same prediction as {earlier.line} with another label "
                        f"({outcome.label!r}, not {earlier.label!r})",
                    )
                )
                break
    return problems


def _matching(family: str, outcome: Outcome) -> sa.Select:
    query = sa.select(_ROWS.c.id, _ROWS.c.outcome).where(_ROWS.c.family == family)
    if outcome.request_id is not None:
        return query.where(
            _ROWS.c.request_id == outcome.request_id, _ROWS.c.row_index == outcome.row_index
        )
    return query.where(
        _ROWS.c.company == outcome.company, _ROWS.c.rating_date == outcome.rating_date
    )


def _key_field(outcome: Outcome) -> str:
    return "request_id" if outcome.request_id is not None else "Name/Date"


def _line_order(problem: tuple[str, str, str]) -> tuple[str, int]:
    where = problem[0]
    digits = "".join(ch for ch in where if ch.isdigit())
    return (where.rstrip("0123456789[] "), int(digits) if digits else 0)


class RetrainingInFlight(SenimError):
    """Another retraining of this family holds the lease."""

    exit_code = 6  # refused, like the other refusals (README, Errors)

    def __init__(self, family: str, holder: str, since: datetime, reason: str) -> None:
        self.holder, self.since, self.reason = holder, since, reason
        super().__init__(
            f"a {family} retraining is already in flight ({holder}, since "
            f"{since.isoformat(timespec='seconds')}: {reason})"
        )


@contextmanager
def retraining_lease(
    sessions: sessionmaker[Session], family: str, holder: str, reason: str, minutes: float
) -> Iterator[None]:
    """Hold the family's retraining lease for the block; ``RetrainingInFlight`` if another
    holds it. A lease past its expiry (its holder died) is taken over."""
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.execute(
            sa.delete(_LEASES).where(_LEASES.c.family == family, _LEASES.c.expires_at < now)
        )
    try:
        with sessions.begin() as session:
            session.execute(
                sa.insert(_LEASES).values(
                    family=family,
                    holder=holder,
                    reason=reason[:2000],
                    acquired_at=now,
                    expires_at=now + timedelta(minutes=minutes),
                )
            )
    except IntegrityError:
        with sessions() as session:
            held = session.execute(
                sa.select(_LEASES).where(_LEASES.c.family == family)
            ).one_or_none()
        if held is None:  # released between our insert and this read: refuse anyway, once
            raise RetrainingInFlight(family, "another run", now, "just finished") from None
        raise RetrainingInFlight(family, held.holder, held.acquired_at, held.reason) from None
    renewal = _LeaseRenewal(sessions, family, holder, minutes)
    renewal.start()
    try:
        yield
    finally:
        renewal.stop()
        with sessions.begin() as session:
            session.execute(
                sa.delete(_LEASES).where(_LEASES.c.family == family, _LEASES.c.holder == holder)
            )


class _LeaseRenewal:
    """Pushes the lease's expiry forward every quarter of its length while the holder
    lives, so a retraining longer than ``lease_minutes`` keeps it; only a holder that died
    lets it expire."""

    def __init__(self, sessions: sessionmaker[Session], family: str, holder: str, minutes: float):
        self._sessions, self._family, self._holder = sessions, family, holder
        self._length = timedelta(minutes=minutes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retraining-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._length.total_seconds() / 4):
            try:
                with self._sessions.begin() as session:
                    session.execute(
                        sa.update(_LEASES)
                        .where(_LEASES.c.family == self._family, _LEASES.c.holder == self._holder)
                        .values(expires_at=datetime.now(UTC) + self._length)
                    )
            except Exception as exc:  # noqa: BLE001 - a missed renewal is retried next time
                logger.warning("retraining lease of %s not renewed: %s", self._family, exc)
