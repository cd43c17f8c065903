"""Revoked access tokens: logout must end an access token at once, not at its expiry.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_access_tokens")),
    )
    op.create_index(
        op.f("ix_revoked_access_tokens_expires_at"), "revoked_access_tokens", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_revoked_access_tokens_expires_at"), table_name="revoked_access_tokens")
    op.drop_table("revoked_access_tokens")
