"""Which model answered a logged prediction: the live one, or a shadow scoring the same
request off the request path (``senim deploy credit --shadow``).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prediction_log") as batch:
        batch.add_column(
            sa.Column("role", sa.String(8), nullable=False, server_default="live"),
        )
        batch.create_check_constraint(op.f("ck_prediction_log_role"), "role IN ('live', 'shadow')")
        batch.create_index(op.f("ix_prediction_log_request_id"), ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("prediction_log") as batch:
        batch.drop_index(op.f("ix_prediction_log_request_id"))
        batch.drop_constraint(op.f("ck_prediction_log_role"), type_="check")
        batch.drop_column("role")
