"""Edge events (stored once per Idempotency-Key) and each camera host's latest heartbeat.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edge_events",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("host_id", sa.String(128), nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_edge_events")),
    )
    op.create_index(op.f("ix_edge_events_host_id"), "edge_events", ["host_id"])
    op.create_index(op.f("ix_edge_events_received_at"), "edge_events", ["received_at"])
    op.create_table(
        "edge_hosts",
        sa.Column("host_id", sa.String(128), nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("last_heartbeat", sa.Text(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("outbox_depth", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_edge_hosts")),
    )


def downgrade() -> None:
    op.drop_table("edge_hosts")
    op.drop_index(op.f("ix_edge_events_received_at"), table_name="edge_events")
    op.drop_index(op.f("ix_edge_events_host_id"), table_name="edge_events")
    op.drop_table("edge_events")
