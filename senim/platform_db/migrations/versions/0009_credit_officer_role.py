"""The credit officer: a person who scores applications (from the web pages or the API)
and reads which model answers, with nothing to do with training or review.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ROLE = {
    "name": "credit_officer",
    "description": "Scores credit applications and reads their history (web pages or API)",
}


def upgrade() -> None:
    roles = sa.table("roles", sa.column("name", sa.String), sa.column("description", sa.Text))
    op.bulk_insert(roles, [ROLE])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM user_roles WHERE role_name = 'credit_officer'"))
    op.execute(sa.text("DELETE FROM api_keys WHERE role_name = 'credit_officer'"))
    op.execute(sa.text("DELETE FROM roles WHERE name = 'credit_officer'"))
