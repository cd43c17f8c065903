"""The append-only history of registry alias moves (``model_alias_events``).

MLflow only knows where an alias points now. Every move Senim makes (the gate, an
approval, a rejection, a rollback, an automatic promotion) is written here, in the auth
database, so ``senim models history`` can say who moved what, when and why, and a
rollback can find the champion before the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from senim.platform_db.tables import ModelAliasEvent

AliasAction = Literal["gate", "approve", "reject", "rollback", "auto"]
ALIAS_ACTIONS: tuple[str, ...] = ("gate", "approve", "reject", "rollback", "auto")


@dataclass(frozen=True)
class AliasMove:
    """One alias change; ``None`` versions mean the alias did not exist / was removed."""

    model: str
    alias: str
    from_version: str | None
    to_version: str | None
    action: AliasAction
    actor: str
    reason: str = ""
    at: datetime | None = None  # set when read back; None means "now" when recorded


def open_history(database_url: str) -> sessionmaker[Session]:
    """Sessions on the platform database, migrated to head (the table arrives with 0004)."""
    from senim.platform_db.engine import make_engine, migrate, session_factory

    engine = make_engine(database_url)
    migrate(engine)
    return session_factory(engine)


def record_moves(sessions: sessionmaker[Session], moves: list[AliasMove]) -> None:
    """Append ``moves`` in one transaction, in the order given."""
    if not moves:
        return
    for move in moves:
        if move.action not in ALIAS_ACTIONS:
            raise ValueError(f"alias action must be one of {ALIAS_ACTIONS}, got {move.action!r}")
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.add_all(
            ModelAliasEvent(
                at=move.at or now,
                model=move.model,
                alias=move.alias,
                from_version=move.from_version,
                to_version=move.to_version,
                action=move.action,
                actor=move.actor,
                reason=move.reason[:4000],
            )
            for move in moves
        )


def history(sessions: sessionmaker[Session], model: str) -> list[AliasMove]:
    """Every recorded move of ``model``'s aliases, oldest first (write order)."""
    with sessions() as session:
        rows = session.scalars(
            sa.select(ModelAliasEvent)
            .where(ModelAliasEvent.model == model)
            .order_by(ModelAliasEvent.id)
        )
        return [
            AliasMove(
                model=row.model,
                alias=row.alias,
                from_version=row.from_version,
                to_version=row.to_version,
                action=row.action,  # type: ignore[arg-type]
                actor=row.actor,
                reason=row.reason,
                at=row.at,
            )
            for row in rows
        ]


def alias_move(
    model: str,
    alias: str,
    from_version: object,
    to_version: object,
    action: AliasAction,
    actor: str,
    reason: str = "",
) -> AliasMove:
    """An ``AliasMove`` with versions as text (MLflow hands out ints and strings alike)."""
    return AliasMove(
        model=model,
        alias=alias,
        from_version=None if from_version is None else str(from_version),
        to_version=None if to_version is None else str(to_version),
        action=action,
        actor=actor,
        reason=reason,
    )
