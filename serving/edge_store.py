"""Edge events and host heartbeats in the platform database (tables from
``senim.platform_db.tables``, created by its migrations), and who may post for which host.

An event is stored once per ``event_id``, which is also the Idempotency-Key its host
sends: hosts retry deliveries until they get an answer, so a retry of the same event is
a duplicate (answered 200, nothing written) and a different event under a used key is a
conflict (409). Content is compared by the sha256 of the event's canonical JSON, so key
order or whitespace do not make a retry look different.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from auth.machine_keys import owns_host
from auth.models import ApiKey
from auth.permissions import Role
from auth.principals import Principal
from auth.runtime import AuthRuntime
from edge.protocol import EdgeEvent, Heartbeat
from senim.platform_db.tables import EdgeEventRecord, EdgeHostRecord


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used for a different event."""


@dataclass(frozen=True)
class StoredEvent:
    status: Literal["created", "duplicate"]
    body_sha256: str


def canonical_json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def host_identity(runtime: AuthRuntime, principal: Principal) -> str | None:
    """The host an API key speaks for: the key's name (``senim keys create --name``).

    None for users and unknown keys: they are no host, so only an admin among them may
    post for one.
    """
    if principal.kind != "api_key":
        return None
    with runtime.sessions() as session:
        return session.scalar(sa.select(ApiKey.name).where(ApiKey.id == principal.subject))


def may_post_for(runtime: AuthRuntime, principal: Principal, host_id: str) -> bool:
    """A key posts only for its own host, and only while it is that host's enrolled key;
    admins may post for any (backfills, tests)."""
    if Role.ADMIN.value in principal.roles:
        return True
    if principal.kind != "api_key" or host_identity(runtime, principal) != host_id:
        return False
    return owns_host(runtime, principal.subject, host_id)


def record_event(runtime: AuthRuntime, event: EdgeEvent, caller: str) -> StoredEvent:
    """Store ``event`` unless its id is taken; raise IdempotencyConflict when it is taken
    by different content."""
    body = event.to_dict()
    digest = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    engine = _engine(runtime)
    statement = (
        _insert(engine, EdgeEventRecord)
        .values(
            event_id=event.event_id,
            host_id=event.host_id,
            caller=caller,
            event=body,
            body_sha256=digest,
            received_at=runtime.now(),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(EdgeEventRecord.event_id)
    )
    with engine.begin() as connection:
        # RETURNING, not rowcount: drivers disagree on rowcount after ON CONFLICT.
        if connection.execute(statement).first() is not None:
            return StoredEvent("created", digest)
        stored = connection.scalar(
            sa.select(EdgeEventRecord.body_sha256).where(EdgeEventRecord.event_id == event.event_id)
        )
    if stored != digest:
        raise IdempotencyConflict(
            f"Idempotency-Key {event.event_id} was already used for a different event"
        )
    return StoredEvent("duplicate", digest)


def record_heartbeat(runtime: AuthRuntime, heartbeat: Heartbeat, caller: str) -> None:
    """Keep ``heartbeat`` as its host's latest (one row per host, upserted)."""
    values = {
        "caller": caller,
        "last_heartbeat": heartbeat.to_dict(),
        "last_seen_at": runtime.now(),
        "model_version": heartbeat.model_version,
        "fps": float(heartbeat.fps),
        "outbox_depth": heartbeat.outbox_depth,
    }
    engine = _engine(runtime)
    insert = _insert(engine, EdgeHostRecord).values(host_id=heartbeat.host_id, **values)
    statement = insert.on_conflict_do_update(
        index_elements=["host_id"], set_={name: insert.excluded[name] for name in values}
    )
    with engine.begin() as connection:
        connection.execute(statement)


def _insert(engine: sa.Engine, model: type) -> Any:
    """INSERT with ON CONFLICT support for the two databases the auth layer runs on."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def _engine(runtime: AuthRuntime) -> sa.Engine:
    return runtime.engine if runtime.engine is not None else runtime.sessions.kw["bind"]


def host_overview(
    runtime: AuthRuntime, *, online_seconds: int, recent: int = 5
) -> list[dict[str, Any]]:
    """Every camera host that has sent a heartbeat or an event: online or not, its last
    heartbeat (model version, FPS, outbox), its event count in the last day and its last
    ``recent`` events; most recently seen first."""
    from datetime import timedelta

    now = runtime.now()
    day_ago = now - timedelta(days=1)
    with runtime.sessions() as session:
        hosts = {row.host_id: row for row in session.scalars(sa.select(EdgeHostRecord))}
        event_hosts = set(session.scalars(sa.select(EdgeEventRecord.host_id).distinct()))
        overview = []
        for host_id in sorted(set(hosts) | event_hosts):
            beat = hosts.get(host_id)
            events = list(
                session.scalars(
                    sa.select(EdgeEventRecord)
                    .where(EdgeEventRecord.host_id == host_id)
                    .order_by(EdgeEventRecord.received_at.desc())
                    .limit(recent)
                )
            )
            last_day = session.scalar(
                sa.select(sa.func.count()).where(
                    EdgeEventRecord.host_id == host_id, EdgeEventRecord.received_at >= day_ago
                )
            )
            seen = beat.last_seen_at if beat is not None else None
            overview.append(
                {
                    "host_id": host_id,
                    "online": seen is not None and (now - seen).total_seconds() <= online_seconds,
                    "last_heartbeat_at": seen.isoformat() if seen else None,
                    "model_version": beat.model_version if beat else None,
                    "fps": beat.fps if beat else None,
                    "outbox_depth": beat.outbox_depth if beat else None,
                    "events_last_day": int(last_day or 0),
                    "recent_events": [
                        {
                            "event_id": e.event_id,
                            "received_at": e.received_at.isoformat(),
                            "rule": e.event.get("rule"),
                            "emotion": e.event.get("emotion"),
                        }
                        for e in events
                    ],
                }
            )
    overview.sort(key=lambda host: host["last_heartbeat_at"] or "", reverse=True)
    return overview
