"""Promotions reach production: the registry follower.

Every alias move Senim makes (the gate, an approval, a rejection, a rollback, an
automatic promotion) is appended to the alias history in the platform database
(``pipelines.release.alias_history``). That history is the event stream: one follower
pass reads the moves it has not handled yet and, for each service family whose served
alias (``champion``) moved, deploys the version the alias names now
(``pipelines.release.deploy.deploy_model``: import, Bento, deployment record). Running
services follow the deployment record and swap without a restart (``serving``). A family
never deployed is left alone: the first deployment is a decision (``senim deploy``); the
follower keeps a deployed family on its champion.

One mechanism, two ways to run it: the commands and flows that move an alias run one
pass right after the move (``senim review approve|rollback``, the retrain flows), and
``senim deploy follow`` runs passes on a timer for moves made elsewhere (another
machine, a Prefect worker). Passes take a file lock, so two never deploy at once.

A pass that cannot deploy (registry down, a broken version) leaves the deployment record,
and so what the services serve, as it was; the failure is written to the audit log and
returned, and the moves stay unhandled, so the next pass tries again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from pipelines.release.deploy import (
    Deployment,
    ServiceFamily,
    current_deployment,
    deploy_model,
)
from pipelines.release.registry import CHAMPION, current_alias
from senim.environment import Stores
from senim.errors import RegistryError

SERVED_ALIAS = CHAMPION
FOLLOWER_ACTOR = "registry-follower"


@dataclass(frozen=True)
class FollowOutcome:
    """What one pass did for one family whose served alias moved."""

    family: str
    model: str
    moves: int  # alias moves handled (or, on failure, still waiting)
    version: str | None  # where the served alias points now (None: nowhere)
    action: str  # deployed | already-serving | no-version | not-deployed | failed
    deployment: dict[str, Any] | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    def describe(self) -> str:
        where = f"{self.model}@{SERVED_ALIAS}"
        if self.action == "deployed":
            return f"{self.family}: deployed {where} = version {self.version}"
        if self.action == "already-serving":
            return f"{self.family}: version {self.version} of {self.model} is already deployed"
        if self.action == "no-version":
            return f"{self.family}: {where} names no version; the deployment stays as it is"
        if self.action == "not-deployed":
            return (
                f"{self.family}: {where} moved, but {self.family} was never deployed "
                f"(`senim deploy {self.family}` deploys it the first time)"
            )
        return f"{self.family}: cannot deploy {where}: {self.error}; the old version keeps serving"


class DeploymentNotFollowed(RegistryError):
    """A promotion moved an alias, but its version could not be deployed."""


def follow_pass(
    families: Sequence[ServiceFamily], stores: Stores, params: Any
) -> list[FollowOutcome]:
    """One pass for ``families`` with the stores' registry and platform database; nothing
    when ``deployment.follow_registry`` is off."""
    from pipelines.common.mlflow_store import mlflow_client
    from pipelines.release.alias_history import open_history

    if not params.deployment.follow_registry:
        return []
    sessions = open_history(stores.database_url)
    try:
        return follow_registry(families, params, mlflow_client(stores), stores, sessions)
    finally:
        sessions.kw["bind"].dispose()


def follow_now(
    families: Sequence[ServiceFamily], stores: Stores, params: Any, say: Any = print
) -> list[FollowOutcome]:
    """One pass right after an alias move: each outcome said (``say``), then
    DeploymentNotFollowed if a deployment failed (the old version keeps serving)."""
    outcomes = follow_pass(families, stores, params)
    for outcome in outcomes:
        say(outcome.describe())
    raise_if_failed(outcomes)
    return outcomes


def raise_if_failed(outcomes: Sequence[FollowOutcome]) -> None:
    """DeploymentNotFollowed naming every family whose deployment failed."""
    failed = [outcome.describe() for outcome in outcomes if outcome.failed]
    if failed:
        raise DeploymentNotFollowed("; ".join(failed))


def cursor_path(stores: Stores) -> Path:
    return stores.home / "deployments" / "follower.json"


def follow_registry(
    families: Sequence[ServiceFamily],
    params: Any,
    client: Any,
    stores: Stores,
    sessions: sessionmaker[Session],
) -> list[FollowOutcome]:
    """One pass: deploy what each family's served alias names, for moves not yet handled.

    ``params`` names the registered models (``family.registered_name(params)``).
    """
    outcomes = []
    with _pass_lock(stores):
        cursor = _read_cursor(stores)
        for family in families:
            name = family.registered_name(params)
            seen = cursor.get(family.key, 0)
            moves = _served_alias_moves(sessions, name, seen)
            if not moves:
                continue
            outcome = _deploy_latest(family, name, len(moves), client, stores)
            outcomes.append(outcome)
            if outcome.action != "not-deployed":  # nothing serves it: nothing to audit
                _audit(sessions, outcome, moves[-1])
            if not outcome.failed:
                cursor[family.key] = max(event_id for event_id, _ in moves)
                _write_cursor(stores, cursor)
    return outcomes


def _deploy_latest(
    family: ServiceFamily, name: str, moves: int, client: Any, stores: Stores
) -> FollowOutcome:
    current = current_deployment(family, stores)
    if current is None:
        return FollowOutcome(family.key, name, moves, None, "not-deployed")
    try:
        champion = current_alias(client, name, SERVED_ALIAS)
    except Exception as exc:  # noqa: BLE001 - registry down: report, retry next pass
        return FollowOutcome(family.key, name, moves, None, "failed", error=_reason(exc))
    if champion is None:
        return FollowOutcome(family.key, name, moves, None, "no-version")
    version = str(champion.version)
    if current.mlflow_model == name and current.mlflow_version == version:
        return FollowOutcome(family.key, name, moves, version, "already-serving")
    try:
        deployment: Deployment = deploy_model(
            family, client, stores, model_name=name, alias=SERVED_ALIAS
        )
    except Exception as exc:  # noqa: BLE001 - any failure: the old deployment stays current
        return FollowOutcome(family.key, name, moves, version, "failed", error=_reason(exc))
    return FollowOutcome(
        family.key, name, moves, deployment.mlflow_version, "deployed", asdict(deployment)
    )


def _served_alias_moves(
    sessions: sessionmaker[Session], model: str, after_id: int
) -> list[tuple[int, str | None]]:
    from senim.platform_db.tables import ModelAliasEvent

    table = ModelAliasEvent.__table__
    with sessions() as session:
        rows = session.execute(
            sa.select(table.c.id, table.c.to_version)
            .where(table.c.model == model, table.c.alias == SERVED_ALIAS, table.c.id > after_id)
            .order_by(table.c.id)
        ).all()
    return [(int(row.id), row.to_version) for row in rows]


def _audit(sessions: sessionmaker[Session], outcome: FollowOutcome, last_move: tuple) -> None:
    from auth.audit import AuditEvent, AuditLog

    details = {
        "model": outcome.model,
        "alias": SERVED_ALIAS,
        "version": outcome.version,
        "action": outcome.action,
        "alias_event_id": last_move[0],
        "moves": outcome.moves,
    }
    if outcome.error:
        details["error"] = outcome.error[:1000]
    if outcome.deployment:
        details["bento_model"] = outcome.deployment.get("tag")
        details["bento"] = outcome.deployment.get("bento_tag")
    AuditLog(sessions).record_sync(
        AuditEvent(
            actor=FOLLOWER_ACTOR,
            action="deployment.follow",
            resource=f"{outcome.model}@{SERVED_ALIAS}",
            outcome="failure" if outcome.failed else "success",
            details=details,
        )
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:500]}"


def _read_cursor(stores: Stores) -> dict[str, int]:
    """The last alias event handled per family; a missing or unreadable file starts over
    from the newest deployment (re-deploying the champion is a no-op)."""
    try:
        raw = json.loads(cursor_path(stores).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int)}


def _write_cursor(stores: Stores, cursor: dict[str, int]) -> None:
    from senim.atomic_files import write_text_atomically

    write_text_atomically(cursor_path(stores), json.dumps(cursor, indent=2, sort_keys=True))


@contextlib.contextmanager
def _pass_lock(stores: Stores) -> Iterator[None]:
    path = stores.home / "deployments" / ".follower.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
