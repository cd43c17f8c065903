"""Model alias history: every move of ``champion``/``challenger``, append-only.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_POSTGRES_APPEND_ONLY = """
    CREATE FUNCTION model_alias_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'model_alias_events is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
"""


def upgrade() -> None:
    op.create_table(
        "model_alias_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("from_version", sa.String(32), nullable=True),
        sa.Column("to_version", sa.String(32), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_alias_events")),
    )
    op.create_index(op.f("ix_model_alias_events_model"), "model_alias_events", ["model"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_APPEND_ONLY)
        op.execute(
            "CREATE TRIGGER model_alias_events_no_update_or_delete BEFORE UPDATE OR DELETE "
            "ON model_alias_events FOR EACH ROW EXECUTE FUNCTION model_alias_events_append_only()"
        )
        # TRUNCATE skips row triggers, so it needs its own.
        op.execute(
            "CREATE TRIGGER model_alias_events_no_truncate BEFORE TRUNCATE ON model_alias_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION model_alias_events_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER model_alias_events_no_{operation.lower()} BEFORE {operation} "
                f"ON model_alias_events BEGIN SELECT RAISE(ABORT, "
                f"'model_alias_events is append-only: {operation} refused'); END"
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_model_alias_events_model"), table_name="model_alias_events")
    op.drop_table("model_alias_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION model_alias_events_append_only()")
