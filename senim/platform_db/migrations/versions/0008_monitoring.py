"""What production traffic is kept for monitoring (ratios and sector, or face
statistics, per scored row; realised outcomes attached later), and the lease that keeps
one monitor-started retraining per family in flight.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("features", sa.Text(), nullable=False),
        sa.Column("prediction", sa.String(32), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("company", sa.Text(), nullable=True),
        sa.Column("rating_date", sa.String(10), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "family IN ('credit', 'emotion')", name=op.f("ck_monitoring_rows_family")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_rows")),
    )
    op.create_index(op.f("ix_monitoring_rows_request_id"), "monitoring_rows", ["request_id"])
    op.create_index("ix_monitoring_rows_family_at", "monitoring_rows", ["family", "at"])
    op.create_index(
        "ix_monitoring_rows_company_date", "monitoring_rows", ["company", "rating_date"]
    )
    op.create_table(
        "retraining_leases",
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("family", name=op.f("pk_retraining_leases")),
    )


def downgrade() -> None:
    op.drop_table("retraining_leases")
    op.drop_index("ix_monitoring_rows_company_date", table_name="monitoring_rows")
    op.drop_index("ix_monitoring_rows_family_at", table_name="monitoring_rows")
    op.drop_index(op.f("ix_monitoring_rows_request_id"), table_name="monitoring_rows")
    op.drop_table("monitoring_rows")
