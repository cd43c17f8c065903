"""Auth schema: users, roles, credentials, TOTP, tokens, API keys, login history, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: it does not import ``auth.models``, so later model changes
need a new revision, never an edit here. The audit log is made append-only by triggers,
so even SQL that bypasses the application cannot rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLES = [
    {"name": "admin", "description": "Manages users, roles and API keys; reads the audit log"},
    {"name": "ml_engineer", "description": "Trains, evaluates and promotes models"},
    {"name": "reviewer", "description": "Reads models, metrics and predictions; no changes"},
    {"name": "service", "description": "A backend system calling prediction endpoints"},
    {"name": "edge_device", "description": "An edge camera sending frames and fetching its model"},
]

POSTGRES_APPEND_ONLY = [
    """
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
    """,
    # TRUNCATE skips row triggers, so it needs its own.
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
    """,
]

SQLITE_APPEND_ONLY = [
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END
    """,
]


def _id() -> sa.Column:
    return sa.Column("id", sa.String(36), primary_key=True)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk(name: str, table: str, ondelete: str, **column: bool) -> sa.Column:
    return sa.Column(
        name,
        sa.String(36),
        sa.ForeignKey("users.id", ondelete=ondelete, name=op.f(f"fk_{table}_{name}_users")),
        **column,
    )


def _big_id() -> sa.Column:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    return sa.Column("id", big, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("username_normalized", sa.String(150), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("display_name", sa.String(150), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("disabled_at", nullable=True),
        sa.Column("failed_login_count", sa.Integer(), nullable=False),
        _at("last_failed_login_at", nullable=True),
        _at("last_login_at", nullable=True),
        sa.Column("last_login_ip", sa.String(45), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username_normalized", name=op.f("uq_users_username_normalized")),
    )
    roles = op.create_table(
        "roles",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roles")),
    )
    op.create_table(
        "user_roles",
        _user_fk("user_id", "user_roles", "CASCADE", nullable=False),
        sa.Column(
            "role_name",
            sa.String(32),
            sa.ForeignKey("roles.name", name=op.f("fk_user_roles_role_name_roles")),
            nullable=False,
        ),
        _user_fk("granted_by", "user_roles", "SET NULL", nullable=True),
        _at("granted_at"),
        sa.PrimaryKeyConstraint("user_id", "role_name", name=op.f("pk_user_roles")),
    )
    op.create_table(
        "credentials",
        _user_fk("user_id", "credentials", "CASCADE", nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_credentials")),
    )
    op.create_table(
        "totp_secrets",
        _user_fk("user_id", "totp_secrets", "CASCADE", nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        _at("confirmed_at", nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        _at("created_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_secrets")),
    )
    op.create_table(
        "recovery_codes",
        _id(),
        _user_fk("user_id", "recovery_codes", "CASCADE", nullable=False),
        sa.Column("code_hash", sa.String(255), nullable=False),
        _at("used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])
    op.create_table(
        "refresh_tokens",
        _id(),
        _user_fk("user_id", "refresh_tokens", "CASCADE", nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("family_id", sa.String(36), nullable=False),
        sa.Column(
            "parent_id",
            sa.String(36),
            sa.ForeignKey(
                "refresh_tokens.id",
                ondelete="SET NULL",
                name=op.f("fk_refresh_tokens_parent_id_refresh_tokens"),
            ),
            nullable=True,
        ),
        _at("issued_at"),
        _at("expires_at"),
        _at("used_at", nullable=True),
        _at("revoked_at", nullable=True),
        sa.Column("revoke_reason", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"])
    op.create_index(op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"])
    op.create_table(
        "api_keys",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(255), nullable=False),
        sa.Column(
            "role_name",
            sa.String(32),
            sa.ForeignKey("roles.name", name=op.f("fk_api_keys_role_name_roles")),
            nullable=False,
        ),
        sa.Column("scopes", sa.Text(), nullable=False),
        _user_fk("created_by", "api_keys", "SET NULL", nullable=True),
        _user_fk("owner_user_id", "api_keys", "CASCADE", nullable=True),
        _at("created_at"),
        _at("expires_at", nullable=True),
        _at("last_used_at", nullable=True),
        _at("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "login_attempts",
        _big_id(),
        sa.Column("identity_normalized", sa.String(255), nullable=False),
        _user_fk("user_id", "login_attempts", "SET NULL", nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("device_fingerprint", sa.String(128), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("risk_level", sa.String(16), nullable=True),
        sa.Column("risk_score", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        _at("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(
        op.f("ix_login_attempts_identity_normalized"), "login_attempts", ["identity_normalized"]
    )
    op.create_index(op.f("ix_login_attempts_at"), "login_attempts", ["at"])
    op.create_index(op.f("ix_login_attempts_user_id_at"), "login_attempts", ["user_id", "at"])
    op.create_table(
        "known_devices",
        _user_fk("user_id", "known_devices", "CASCADE", nullable=False),
        sa.Column("device_fingerprint", sa.String(128), nullable=False),
        _at("first_seen_at"),
        _at("last_seen_at"),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "device_fingerprint", name=op.f("pk_known_devices")),
    )
    op.create_table(
        "audit_log",
        _big_id(),
        _at("at"),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("client_ip", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.CheckConstraint(
            "outcome IN ('success', 'failure', 'denied', 'alert')",
            name=op.f("ck_audit_log_outcome"),
        ),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"])
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"])

    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_APPEND_ONLY if dialect == "postgresql" else SQLITE_APPEND_ONLY:
        op.execute(statement)
    op.bulk_insert(roles, ROLES)


def downgrade() -> None:
    # Dropping the table drops its triggers; DROP TABLE is not a DELETE.
    for table in (
        "audit_log",
        "known_devices",
        "login_attempts",
        "api_keys",
        "refresh_tokens",
        "recovery_codes",
        "totp_secrets",
        "credentials",
        "user_roles",
        "roles",
        "users",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_log_append_only()")
