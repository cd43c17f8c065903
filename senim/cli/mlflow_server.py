"""The team MLflow tracking server: its settings, its secrets, its command line, its users.

One shared server replaces each person's embedded SQLite store. It keeps runs and the
registry in PostgreSQL, serves artifacts itself (a folder under ``SENIM_HOME`` or an
S3-compatible bucket) and runs MLflow's built-in ``basic-auth`` app, so nobody reaches it
without a password. Senim stays the source of truth for who may do what;
``sync_users`` makes MLflow agree with it:

========================  ================================================================
Senim                     MLflow
========================  ================================================================
``admin``                 admin user (bypasses every permission check)
``ml_engineer``,          ordinary user, no grants: ``default_permission = READ`` lets
``reviewer``              them read every experiment, run and model, and nothing else
service identity          ``senim-service`` in the role ``senim-writers``: may create
                          experiments and registered models (and gets MANAGE on what it
                          creates), EDIT on every experiment and model (runs, versions,
                          aliases); the flows log through it
disabled, or only         no MLflow user (a disabled user's account is deleted)
``service``/``edge_device``
========================  ================================================================

Why workspaces are on: with them off, MLflow's basic auth lets *any* signed-in user create
an experiment or a registered model (and then MANAGE it), whatever ``default_permission``
says. In workspace mode creating needs a workspace-wide ``USE`` grant, while
``grant_default_workspace_access = true`` still gives every user ``default_permission``
(READ) in the one ``default`` workspace. So reviewers read everything and write nothing.
The service identity is a role, not an MLflow admin: a leaked flow credential must not be
able to create users or change grants.

No default password anywhere: the admin's comes from ``SENIM_MLFLOW_ADMIN_PASSWORD`` or is
generated once and kept in a 0600 file; each human MLflow user gets a generated password
that the sync hands out once (they change it with MLflow's update-password API). Senim's
own password hashes never leave Senim.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import re
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from senim.environment import Stores, redact_url
from senim.errors import ConfigError, SenimError, StoreUnreachableError

DEFAULT_ADMIN_USERNAME = "senim-admin"
SERVICE_USERNAME = "senim-service"
WRITERS_ROLE = "senim-writers"
WORKSPACE = "default"  # MLflow's backwards-compatible workspace: clients need no header
# MLflow releases before 3.17 shipped this admin password in basic_auth.ini; never use it.
MLFLOW_LEGACY_DEFAULT_PASSWORD = "password1234"
MIN_PASSWORD_LENGTH = 12  # MLflow's own password policy
# (resource type, pattern, permission) held by the writers role.
WRITER_GRANTS: tuple[tuple[str, str, str], ...] = (
    ("workspace", "*", "USE"),  # create experiments and registered models
    ("experiment", "*", "EDIT"),  # runs in experiments someone else created
    ("registered_model", "*", "EDIT"),  # versions and aliases on any model
)
_POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg2", "postgresql+psycopg")
_ARTIFACT_SCHEMES = ("file", "s3")
_DB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --------------------------------------------------------------------------- settings


class ServerConfig(BaseModel):
    """Everything ``mlflow server`` needs, validated once at the boundary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=1, le=65535)
    workers: int = Field(2, ge=1, le=64)
    backend_store_uri: str
    auth_database_uri: str
    artifacts_destination: str
    allowed_hosts: str | None = None
    s3_endpoint_url: str | None = None
    # Seconds a worker trusts a checked password (PBKDF2 costs ~1 s a request on a small
    # host). 0, MLflow's default, re-checks every request; with N workers a deleted user or
    # a changed password may keep working on the other workers for up to this long.
    auth_cache_ttl_s: int = Field(0, ge=0, le=3600)

    @property
    def state_dir(self) -> Path:
        return mlflow_state_dir(self.home)

    @property
    def auth_config_path(self) -> Path:
        return self.state_dir / "basic_auth.ini"

    @property
    def embedded(self) -> bool:
        """SQLite: one person's machine, one process; not a team server."""
        return self.backend_store_uri.startswith("sqlite:")


def mlflow_state_dir(home: Path) -> Path:
    """Where the server's config and generated secrets live (0700)."""
    return home / "mlflow"


def resolve_server_config(
    stores: Stores,
    env: Mapping[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 2,
    backend_store_uri: str | None = None,
    artifacts_destination: str | None = None,
    allowed_hosts: str | None = None,
    auth_cache_ttl_s: int = 0,
) -> ServerConfig:
    """Options win over ``SENIM_MLFLOW_*`` variables, which win over the embedded defaults."""
    home = stores.home
    backend = backend_store_uri or env.get("SENIM_MLFLOW_BACKEND_URI") or None
    if backend is None:
        backend = f"sqlite:///{mlflow_state_dir(home) / 'tracking.db'}"
    backend = _check_backend_uri(backend, home)
    auth_db = env.get("SENIM_MLFLOW_AUTH_DATABASE_URI") or _default_auth_db(backend, home)
    auth_db = _check_backend_uri(auth_db, home, what="SENIM_MLFLOW_AUTH_DATABASE_URI")
    if auth_db == backend:
        raise ConfigError(
            "SENIM_MLFLOW_AUTH_DATABASE_URI must name a different database from the backend "
            "store: MLflow's auth tables and tracking tables are migrated separately"
        )
    artifacts = _check_artifacts_destination(
        artifacts_destination
        or env.get("SENIM_MLFLOW_ARTIFACTS_DESTINATION")
        or (mlflow_state_dir(home) / "artifacts").as_uri()
    )
    s3_endpoint = env.get("SENIM_MLFLOW_S3_ENDPOINT_URL") or env.get("MLFLOW_S3_ENDPOINT_URL")
    return ServerConfig(
        home=home,
        host=host,
        port=port,
        workers=workers,
        backend_store_uri=backend,
        auth_database_uri=auth_db,
        artifacts_destination=artifacts,
        allowed_hosts=allowed_hosts,
        s3_endpoint_url=s3_endpoint or None,
        auth_cache_ttl_s=auth_cache_ttl_s,
    )


def _check_backend_uri(uri: str, home: Path, what: str = "the backend store URI") -> str:
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme in _POSTGRES_SCHEMES:
        parts = urlsplit(uri)
        database = parts.path.lstrip("/")
        if not parts.hostname or not database:
            raise ConfigError(
                f"{what} must name a host and a database, e.g. "
                f"postgresql://mlflow:PASSWORD@db.internal:5432/mlflow; got {redact_url(uri)!r}"
            )
        return uri
    if scheme == "sqlite":
        path = Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
        if not path.is_relative_to(home):
            raise ConfigError(
                f"{what}: SQLite is only for a single-user setup kept under SENIM_HOME "
                f"({home}); a team server needs postgresql://...; got {uri!r}"
            )
        return f"sqlite:///{path}"
    if scheme == "postgres":
        hint = " (write postgresql://, which SQLAlchemy understands)"
    else:
        hint = ""
    raise ConfigError(
        f"{what} must be a PostgreSQL URL such as postgresql://user:PASSWORD@host:5432/mlflow"
        f"{hint}; got {redact_url(uri)!r}"
    )


def _default_auth_db(backend: str, home: Path) -> str:
    """A database of its own next to the tracking one: ``<db>_auth`` on the same server."""
    if backend.startswith("sqlite:"):
        return f"sqlite:///{mlflow_state_dir(home) / 'basic_auth.db'}"
    parts = urlsplit(backend)
    return parts._replace(path=f"/{parts.path.lstrip('/')}_auth").geturl()


def _check_artifacts_destination(value: str) -> str:
    if "://" not in value:
        return Path(value).expanduser().resolve().as_uri()
    scheme = value.split("://", 1)[0]
    if scheme not in _ARTIFACT_SCHEMES:
        raise ConfigError(
            "the artifacts destination must be a local folder, file:///... or s3://bucket/prefix "
            f"(any S3-compatible store, with SENIM_MLFLOW_S3_ENDPOINT_URL); got {value!r}"
        )
    if scheme == "s3" and not urlsplit(value).netloc:
        raise ConfigError(f"the artifacts destination {value!r} names no bucket")
    return value


# --------------------------------------------------------------------------- secrets


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def generate_password() -> str:
    """32 URL-safe characters: far over MLflow's 12, nothing a shell would mangle."""
    return secrets.token_urlsafe(24)


def check_password(username: str, password: str) -> str:
    if password == MLFLOW_LEGACY_DEFAULT_PASSWORD:
        raise ConfigError(
            f"refusing MLflow's old shipped default password for {username!r}: choose another"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"the MLflow password for {username!r} must be at least "
            f"{MIN_PASSWORD_LENGTH} characters (MLflow's policy)"
        )
    return password


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a file only its owner can read (0600 from the first byte)."""
    _private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # an older file may have been wider
    return path


def _stored_secret(path: Path, make) -> str:
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    value = make()
    write_private(path, value + "\n")
    return value


def admin_credentials(home: Path, env: Mapping[str, str]) -> Credentials:
    """The MLflow admin: from ``SENIM_MLFLOW_ADMIN_USERNAME/_PASSWORD``, else generated once."""
    username = env.get("SENIM_MLFLOW_ADMIN_USERNAME") or DEFAULT_ADMIN_USERNAME
    password = env.get("SENIM_MLFLOW_ADMIN_PASSWORD")
    if not password:
        password = _stored_secret(mlflow_state_dir(home) / "admin.password", generate_password)
    return Credentials(username, check_password(username, password))


def service_credentials(home: Path, env: Mapping[str, str]) -> Credentials:
    """The flows' identity: ``SENIM_MLFLOW_SERVICE_PASSWORD``, else generated once (0600)."""
    password = env.get("SENIM_MLFLOW_SERVICE_PASSWORD")
    if not password:
        password = _stored_secret(
            mlflow_state_dir(home) / f"{SERVICE_USERNAME}.password", generate_password
        )
    return Credentials(SERVICE_USERNAME, check_password(SERVICE_USERNAME, password))


def flask_secret_key(home: Path, env: Mapping[str, str]) -> str:
    """MLflow's CSRF key: must stay the same across restarts and replicas."""
    return env.get("MLFLOW_FLASK_SERVER_SECRET_KEY") or _stored_secret(
        mlflow_state_dir(home) / "flask-secret.key", lambda: secrets.token_hex(32)
    )


# --------------------------------------------------------------------------- server


def render_auth_config(config: ServerConfig, admin_username: str) -> str:
    """basic_auth.ini. No password in it: the admin's reaches the server through its env."""
    parser = configparser.ConfigParser(interpolation=None)
    parser["mlflow"] = {
        "default_permission": "READ",
        "database_uri": config.auth_database_uri,
        "admin_username": admin_username,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        "grant_default_workspace_access": "true",
        "auth_cache_ttl_seconds": str(config.auth_cache_ttl_s),
    }
    text = io.StringIO()
    text.write("# Generated by `senim mlflow serve`; edits are overwritten.\n")
    parser.write(text)
    return text.getvalue()


def write_auth_config(config: ServerConfig, admin_username: str) -> Path:
    return write_private(config.auth_config_path, render_auth_config(config, admin_username))


@dataclass(frozen=True)
class ServerLaunch:
    argv: list[str]
    env: dict[str, str] = field(repr=False)


def mlflow_executable() -> str:
    return str(Path(sys.executable).parent / "mlflow")


def server_arguments(config: ServerConfig) -> list[str]:
    """The ``mlflow server`` options, in the order the README shows them."""
    args = [
        "server",
        "--app-name", "basic-auth",
        "--enable-workspaces",
        "--backend-store-uri", config.backend_store_uri,
        "--serve-artifacts",
        "--artifacts-destination", config.artifacts_destination,
        "--host", config.host,
        "--port", str(config.port),
        "--workers", str(config.workers),
    ]  # fmt: skip
    if config.allowed_hosts:
        args += ["--allowed-hosts", config.allowed_hosts]
    return args


def prepare_server(config: ServerConfig, env: Mapping[str, str]) -> ServerLaunch:
    """Write basic_auth.ini and the secrets it needs; return the process to start."""
    _private_dir(config.state_dir)
    if config.artifacts_destination.startswith("file://"):
        Path(urlsplit(config.artifacts_destination).path).mkdir(parents=True, exist_ok=True)
    admin = admin_credentials(config.home, env)
    path = write_auth_config(config, admin.username)
    child = {k: v for k, v in env.items() if not k.startswith("MLFLOW_AUTH_ADMIN_")}
    child.update(
        MLFLOW_AUTH_CONFIG_PATH=str(path),
        MLFLOW_AUTH_ADMIN_USERNAME=admin.username,
        MLFLOW_AUTH_ADMIN_PASSWORD=admin.password,
        MLFLOW_FLASK_SERVER_SECRET_KEY=flask_secret_key(config.home, env),
        MLFLOW_DISABLE_TELEMETRY=env.get("MLFLOW_DISABLE_TELEMETRY", "true"),
    )
    if config.s3_endpoint_url:
        child["MLFLOW_S3_ENDPOINT_URL"] = config.s3_endpoint_url
    return ServerLaunch([mlflow_executable(), *server_arguments(config)], child)


def plain_command(config: ServerConfig) -> str:
    """The same server started by hand, secrets read from the files Senim keeps."""
    import shlex

    state = config.state_dir
    lines = [
        f"export MLFLOW_AUTH_CONFIG_PATH={shlex.quote(str(config.auth_config_path))}",
        'export MLFLOW_AUTH_ADMIN_PASSWORD="$(cat '
        f'{shlex.quote(str(state / "admin.password"))})"  # or your own',
        'export MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat '
        f'{shlex.quote(str(state / "flask-secret.key"))})"',
    ]
    if config.s3_endpoint_url:
        lines.append(f"export MLFLOW_S3_ENDPOINT_URL={shlex.quote(config.s3_endpoint_url)}")
    args = [redact_url(a) for a in server_arguments(config)]
    lines.append("mlflow " + " ".join(shlex.quote(a) for a in args))
    return "\n".join(lines)


def check_auth_app_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("flask_wtf") is None:
        raise ConfigError(
            "MLflow's basic-auth app needs Flask-WTF, which is not installed: add the "
            "mlflow[auth] extra (uv add 'mlflow[auth]') and run again"
        )


def ensure_postgres_database(uri: str) -> bool:
    """Create the database ``uri`` names when it is missing (True when created).

    The auth database is Senim's choice, so Senim creates it; the role needs CREATEDB or
    the database must exist already (the error says which).
    """
    if not uri.startswith(_POSTGRES_SCHEMES):
        return False
    import psycopg2
    import sqlalchemy as sa

    url = sa.engine.make_url(uri)
    name = url.database or ""
    if not _DB_NAME.fullmatch(name):
        raise ConfigError(f"database name {name!r} must be letters, digits and underscores")
    admin_dsn = url.set(drivername="postgresql", database="postgres")
    try:
        connection = psycopg2.connect(admin_dsn.render_as_string(hide_password=False))
    except psycopg2.Error as exc:
        raise StoreUnreachableError(
            f"PostgreSQL at {redact_url(uri)} is unreachable: {str(exc).strip()[:200]}"
        ) from exc
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone():
                return False
            try:
                cursor.execute(f'CREATE DATABASE "{name}"')
            except psycopg2.Error as exc:
                raise ConfigError(
                    f"cannot create the MLflow auth database {name!r} "
                    f"({str(exc).strip()[:160]}): create it, or point "
                    "SENIM_MLFLOW_AUTH_DATABASE_URI at an existing one"
                ) from exc
        return True
    finally:
        connection.close()


# --------------------------------------------------------------------------- users


class SenimAccount(BaseModel):
    """What the sync needs to know of a Senim user (``auth.accounts.UserView`` fits)."""

    model_config = ConfigDict(extra="ignore", frozen=True, from_attributes=True)

    username: str
    roles: tuple[str, ...]
    is_active: bool


MlflowAccess = Literal["admin", "reader", "none"]


def mlflow_access(account: SenimAccount) -> MlflowAccess:
    """Senim role -> MLflow user kind (see the module docstring for why)."""
    if not account.is_active:
        return "none"
    if "admin" in account.roles:
        return "admin"
    if {"ml_engineer", "reviewer"} & set(account.roles):
        return "reader"
    return "none"  # service / edge_device: machines log through the service identity


@dataclass(frozen=True)
class SyncAction:
    kind: Literal["create", "delete", "set_admin", "unset_admin"]
    username: str


def plan_user_sync(
    accounts: Iterable[SenimAccount], mlflow_users: Mapping[str, bool], reserved: set[str]
) -> list[SyncAction]:
    """What to change so MLflow's users match Senim's (``mlflow_users``: name -> is_admin).

    MLflow users Senim does not know (the bootstrap admin, the service identity, anyone an
    operator added by hand) are left alone; only Senim's own, disabled ones are deleted.
    """
    actions: list[SyncAction] = []
    for account in sorted(accounts, key=lambda a: a.username):
        if account.username in reserved:
            raise ConfigError(
                f"Senim user {account.username!r} has a name the MLflow server reserves for "
                "its admin or service identity; rename one of them"
            )
        access = mlflow_access(account)
        exists = account.username in mlflow_users
        if access == "none":
            if exists:
                actions.append(SyncAction("delete", account.username))
            continue
        if not exists:
            actions.append(SyncAction("create", account.username))
        is_admin = mlflow_users.get(account.username, False)
        if access == "admin" and not is_admin:
            actions.append(SyncAction("set_admin", account.username))
        elif access == "reader" and is_admin:
            actions.append(SyncAction("unset_admin", account.username))
    return actions


class MlflowAuthApi:
    """The basic-auth REST API, called as the MLflow admin (never through env globals)."""

    def __init__(self, tracking_uri: str, admin: Credentials, timeout_s: float = 20.0) -> None:
        import httpx

        self.tracking_uri = tracking_uri.rstrip("/")
        self._http = httpx.Client(
            base_url=self.tracking_uri, auth=(admin.username, admin.password), timeout=timeout_s
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs) -> dict:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreUnreachableError(
                f"MLflow server {redact_url(self.tracking_uri)} is unreachable: {exc}"
            ) from exc
        if response.status_code == 401:
            raise ConfigError(
                f"MLflow server {redact_url(self.tracking_uri)} refused the admin credentials: "
                "set SENIM_MLFLOW_ADMIN_USERNAME/SENIM_MLFLOW_ADMIN_PASSWORD to the server's admin"
            )
        if response.status_code >= 400:
            raise SenimError(
                f"MLflow {method} {path} failed ({response.status_code}): "
                f"{response.text.strip()[:300]}"
            )
        return response.json() if response.content else {}

    def users(self) -> dict[str, bool]:
        listed = self._call("GET", "/api/2.0/mlflow/users/list").get("users", [])
        return {u["username"]: bool(u.get("is_admin")) for u in listed}

    def create_user(self, username: str, password: str) -> None:
        self._call(
            "POST",
            "/api/2.0/mlflow/users/create",
            json={"username": username, "password": password},
        )

    def update_password(self, username: str, password: str) -> None:
        self._call(
            "PATCH",
            "/api/2.0/mlflow/users/update-password",
            json={"username": username, "password": password},
        )

    def set_admin(self, username: str, is_admin: bool) -> None:
        self._call(
            "PATCH",
            "/api/2.0/mlflow/users/update-admin",
            json={"username": username, "is_admin": is_admin},
        )

    def delete_user(self, username: str) -> None:
        self._call("DELETE", "/api/2.0/mlflow/users/delete", json={"username": username})

    def ensure_role(self, name: str, grants: Sequence[tuple[str, str, str]]) -> int:
        """The role's id, created with exactly ``grants`` added where missing."""
        roles = self._call("GET", "/api/3.0/mlflow/roles/list", params={"workspace": WORKSPACE})
        role = next((r for r in roles.get("roles", []) if r["name"] == name), None)
        if role is None:
            role = self._call(
                "POST", "/api/3.0/mlflow/roles/create", json={"workspace": WORKSPACE, "name": name}
            )["role"]
        have = {
            (p["resource_type"], p["resource_pattern"]): p
            for p in self._call(
                "GET", "/api/3.0/mlflow/roles/permissions/list", params={"role_id": str(role["id"])}
            ).get("role_permissions", [])
        }
        for resource_type, pattern, permission in grants:
            current = have.get((resource_type, pattern))
            if current is None:
                self._call(
                    "POST",
                    "/api/3.0/mlflow/roles/permissions/add",
                    json={
                        "role_id": role["id"],
                        "resource_type": resource_type,
                        "resource_pattern": pattern,
                        "permission": permission,
                    },
                )
            elif current["permission"] != permission:
                self._call(
                    "PATCH",
                    "/api/3.0/mlflow/roles/permissions/update",
                    json={"role_permission_id": current["id"], "permission": permission},
                )
        return int(role["id"])

    def ensure_assigned(self, username: str, role_id: int) -> None:
        held = self._call("GET", "/api/3.0/mlflow/users/roles/list", params={"username": username})
        if not any(int(r["id"]) == role_id for r in held.get("roles", [])):
            self._call(
                "POST",
                "/api/3.0/mlflow/roles/assign",
                json={"username": username, "role_id": role_id},
            )


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    admin_changed: list[str] = field(default_factory=list)
    # New human users' one-time passwords: show once, never store.
    new_passwords: dict[str, str] = field(default_factory=dict, repr=False)
    service_created: bool = False

    def summary(self) -> str:
        parts = [
            f"created {', '.join(self.created) or 'none'}",
            f"deleted {', '.join(self.deleted) or 'none'}",
            f"admin changed {', '.join(self.admin_changed) or 'none'}",
        ]
        service = "created" if self.service_created else "checked"
        return f"MLflow users: {'; '.join(parts)}; {SERVICE_USERNAME} {service}"


def sync_users(
    api: MlflowAuthApi,
    accounts: Iterable[SenimAccount | object],
    service: Credentials,
    admin_username: str,
    make_password=generate_password,
) -> SyncReport:
    """Make the server's users and the writers role match Senim; safe to run again."""
    report = SyncReport()
    current = api.users()
    if service.username not in current:
        api.create_user(service.username, service.password)
        report.service_created = True
    else:  # the stored password is the truth; a re-generated one must reach the server
        api.update_password(service.username, service.password)
    if current.get(service.username):
        api.set_admin(service.username, False)
    api.ensure_assigned(service.username, api.ensure_role(WRITERS_ROLE, WRITER_GRANTS))

    parsed = [SenimAccount.model_validate(a) for a in accounts]
    plan = plan_user_sync(parsed, current, reserved={admin_username, service.username})
    for action in plan:
        if action.kind == "create":
            password = make_password()
            api.create_user(action.username, password)
            report.created.append(action.username)
            report.new_passwords[action.username] = password
        elif action.kind == "delete":
            api.delete_user(action.username)
            report.deleted.append(action.username)
        else:
            api.set_admin(action.username, action.kind == "set_admin")
            report.admin_changed.append(action.username)
    return report


def team_tracking_uri(env: Mapping[str, str], explicit: str | None = None) -> str | None:
    """The team server's URL: ``--tracking-uri``, ``SENIM_MLFLOW_TRACKING_URI``, or an
    http(s) ``MLFLOW_TRACKING_URI``; None when no team server is configured."""
    uri = explicit or env.get("SENIM_MLFLOW_TRACKING_URI")
    if not uri:
        fallback = env.get("MLFLOW_TRACKING_URI", "")
        uri = fallback if fallback.startswith(("http://", "https://")) else None
    if uri is None:
        return None
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise ConfigError(
            "the team MLflow server must be an http(s) URL without credentials, e.g. "
            f"https://mlflow.example.com; got {redact_url(uri)!r}"
        )
    return uri.rstrip("/")


def service_env(tracking_uri: str, service: Credentials) -> dict[str, str]:
    """What a flow's environment needs to log to the team server as the service identity."""
    return {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_TRACKING_USERNAME": service.username,
        "MLFLOW_TRACKING_PASSWORD": service.password,
    }


def write_password_handout(directory: Path, passwords: Mapping[str, str]) -> list[Path]:
    """One 0600 file per new user, for an operator who hands passwords out by hand."""
    written = []
    for username, password in passwords.items():
        if not re.fullmatch(r"[A-Za-z0-9_.@+-]+", username):
            raise ConfigError(f"cannot name a password file after {username!r}")
        written.append(
            write_private(
                directory / f"{username}.json",
                json.dumps({"username": username, "password": password}) + "\n",
            )
        )
    return written
