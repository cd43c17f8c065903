"""Alembic environment for the platform database: runs on the connection
``senim.platform_db.engine.migrate`` opens.

There is no alembic.ini and no URL here; the caller owns the connection, its
transaction and the lock around it. The revisions are written by hand and import no
models, so this chain needs nothing above the foundation.
"""

from __future__ import annotations

from alembic import context

from senim.platform_db.columns import Base
from senim.platform_db.engine import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "run platform database migrations through senim.platform_db.engine.migrate(), "
        "which passes a connection"
    )

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
