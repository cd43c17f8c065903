"""Alembic environment for the auth schema: runs on the connection ``auth.db.migrate`` opens.

There is no alembic.ini and no URL here; the caller owns the connection, its
transaction and the lock around it.
"""

from __future__ import annotations

from alembic import context

from auth.db import VERSION_TABLE
from auth.models import Base

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run auth migrations through auth.db.migrate(), which passes a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
