"""Prediction log: one row per scoring request, now part of the one Alembic chain.

Revision ID: 0005
Revises: 0004

Before this revision the scoring service created ``prediction_log`` itself on start, so
a database that served requests already has it, exactly as below; this revision then
leaves it alone. Written by hand and frozen, like every revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("prediction_log"):
        return
    op.create_table(
        "prediction_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("data_version", sa.Text(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=True),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('ok', 'error')", name=op.f("ck_prediction_log_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_log")),
    )
    op.create_index(op.f("ix_prediction_log_at"), "prediction_log", ["at"])
    op.create_index(op.f("ix_prediction_log_model_version"), "prediction_log", ["model_version"])


def downgrade() -> None:
    op.drop_index(op.f("ix_prediction_log_model_version"), table_name="prediction_log")
    op.drop_index(op.f("ix_prediction_log_at"), table_name="prediction_log")
    op.drop_table("prediction_log")
