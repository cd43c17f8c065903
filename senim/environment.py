"""Where Senim keeps its state: resolved once from the environment, passed explicitly.

Embedded defaults put everything under ``SENIM_HOME`` (SQLite for MLflow, a local
artifact folder, a local DVC remote, Prefect's ephemeral API); each store can be
pointed at a real component with one variable:

- ``SENIM_HOME``: state folder (default ``./.senim``)
- ``SENIM_WORKSPACE``: the DVC workspace holding ``params.yaml``, ``dvc.yaml``, ``data/``
- ``MLFLOW_TRACKING_URI``: tracking server or database (default SQLite under SENIM_HOME)
- ``SENIM_ARTIFACT_ROOT``: where runs store artifacts when MLflow talks to a database
  directly (default a folder under SENIM_HOME; ``s3://...`` works); a tracking server
  decides this itself
- ``SENIM_DATABASE_URL``: auth and prediction-log database (default SQLite)
- ``SENIM_OPTUNA_STORAGE``: shared Optuna study storage, e.g. ``postgresql://...``
- ``SENIM_DVC_REMOTE``: DVC remote URL, e.g. ``s3://bucket/senim`` (default a folder)
- ``SENIM_SOURCE_DSN``: PostgreSQL DSN when ``data.source`` is ``postgres``
- ``SENIM_EDGE_SIGNING_KEY_FILE``: the Ed25519 key that signs edge model manifests
  (default ``SENIM_HOME/keys/edge-signing.key``, created on first use)

The team MLflow server (``senim mlflow serve``, see ``senim.cli.mlflow_server``) reads
``SENIM_MLFLOW_BACKEND_URI``, ``SENIM_MLFLOW_AUTH_DATABASE_URI``,
``SENIM_MLFLOW_ARTIFACTS_DESTINATION``, ``SENIM_MLFLOW_S3_ENDPOINT_URL``,
``SENIM_MLFLOW_ADMIN_USERNAME``/``_PASSWORD`` and ``SENIM_MLFLOW_SERVICE_PASSWORD``;
``SENIM_MLFLOW_TRACKING_URI`` names that server for ``senim mlflow sync-users``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from senim.errors import ConfigError, StoreUnreachableError

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]

# Prefect's embedded (ephemeral) API gets 20 s to start by default; on a fresh SENIM_HOME
# it first runs all of its database migrations, which takes longer than that on a cold
# 2-core machine. The user's own setting wins.
PREFECT_STARTUP_TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
PREFECT_STARTUP_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Stores:
    home: Path
    workspace: Path
    tracking_uri: str
    artifact_root: str | None  # None when a tracking server owns artifact storage
    database_url: str
    optuna_storage: str | None
    dvc_remote: str
    source_dsn: str | None
    # None: the embedded default under SENIM_HOME, which the server creates on first use.
    edge_signing_key_file: Path | None = None

    @property
    def edge_signing_key_path(self) -> Path:
        """The file holding the edge manifest signing key (base64 of 32 raw bytes)."""
        return self.edge_signing_key_file or self.home / "keys" / "edge-signing.key"

    @property
    def params_path(self) -> Path:
        return self.workspace / "params.yaml"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def runs_dir(self) -> Path:
        """Scratch space for one run's reports before they are logged to MLflow."""
        return self.home / "runs"

    def mlflow_ui_command(self) -> str:
        """How to open the UI here: this environment's own ``mlflow`` (no global uv needed)."""
        if self.tracking_uri.startswith(("http://", "https://")):
            return f"open {self.tracking_uri} in a browser"
        import sys

        mlflow = Path(sys.executable).parent / "mlflow"
        try:
            mlflow = mlflow.relative_to(Path.cwd())
        except ValueError:
            pass  # outside the working directory: the absolute path
        return f"{mlflow} ui --backend-store-uri {self.tracking_uri}"


def _default_workspace(env: Mapping[str, str]) -> Path:
    if env.get("SENIM_WORKSPACE"):
        return Path(env["SENIM_WORKSPACE"]).expanduser().resolve()
    cwd = Path.cwd()
    if (cwd / "params.yaml").is_file():
        return cwd.resolve()
    return _PACKAGE_ROOT


def resolve_stores(env: Mapping[str, str] | None = None) -> Stores:
    """Read the store settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    home = Path(env.get("SENIM_HOME") or ".senim").expanduser().resolve()
    workspace = _default_workspace(env)
    if not workspace.is_dir():
        raise ConfigError(f"SENIM_WORKSPACE {workspace} is not a directory")
    tracking_uri = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    served = tracking_uri.startswith(("http://", "https://", "databricks"))
    for name in ("SENIM_DATABASE_URL", "SENIM_OPTUNA_STORAGE", "SENIM_SOURCE_DSN"):
        value = env.get(name)
        if value and "://" not in value:
            raise ConfigError(
                f"{name} must be a URL such as postgresql://user@host/db, got {value!r}"
            )
    return Stores(
        home=home,
        workspace=workspace,
        tracking_uri=tracking_uri,
        artifact_root=None
        if served
        else (env.get("SENIM_ARTIFACT_ROOT") or (home / "mlartifacts").as_uri()),
        database_url=env.get("SENIM_DATABASE_URL") or f"sqlite:///{home / 'senim.db'}",
        optuna_storage=env.get("SENIM_OPTUNA_STORAGE") or None,
        dvc_remote=env.get("SENIM_DVC_REMOTE") or str(home / "dvc-remote"),
        source_dsn=env.get("SENIM_SOURCE_DSN") or None,
        edge_signing_key_file=(
            Path(env["SENIM_EDGE_SIGNING_KEY_FILE"]).expanduser().resolve()
            if env.get("SENIM_EDGE_SIGNING_KEY_FILE")
            else None
        ),
    )


# Files a Senim process creates are its user's alone: SENIM_HOME holds password hashes,
# the audit log, the prediction log, keys and models.
PRIVATE_UMASK = 0o077


def prepare_home(stores: Stores) -> None:
    """Create SENIM_HOME (0700) and keep third-party tools' state inside it.

    Prefect and matplotlib otherwise write under the user's home directory; this runs
    before either is imported by a job, never at import time. From here on the process
    creates files readable by its own user only (umask 077): the SQLite databases, their
    WAL files, keys and artifacts under SENIM_HOME are 0600, its folders 0700.
    """
    os.umask(PRIVATE_UMASK)
    stores.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    make_private(stores.home)
    stores.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(stores.prefect_home))
    os.environ.setdefault("MPLCONFIGDIR", str(stores.home / "matplotlib"))
    os.environ.setdefault("KERAS_HOME", str(stores.home / "keras"))  # not ~/.keras
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault(PREFECT_STARTUP_TIMEOUT_VARIABLE, str(PREFECT_STARTUP_TIMEOUT_SECONDS))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # No per-file download bars when a deploy copies a model's artifacts.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ.setdefault("BENTOML_HOME", str(stores.home / "bentoml"))
    # TensorFlow's C++ INFO and WARNING lines (oneDNN, CUDA probing, converter) flood a
    # CLI run; errors still show. Read when TensorFlow is first imported, i.e. later.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def process_account() -> str:
    """The operating-system account this process runs as (its real uid, which the OS
    authenticated); ``$USER``/``$LOGNAME`` are anyone's to set and are not read."""
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def make_private(folder: Path) -> None:
    """Close ``folder`` to other users (0700) when this user owns it; a folder made by an
    earlier release, or by hand, may have been readable by everyone."""
    try:
        if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o077:
            folder.chmod(0o700)
    except OSError:
        pass  # not ours to change; the files inside are still created 0600


def explain_prefect_startup_failure(exc: BaseException) -> StoreUnreachableError | None:
    """The user-facing error for Prefect's "timed out ... ephemeral Prefect API server",
    naming the setting to raise; None for any other exception."""
    if not isinstance(exc, RuntimeError) or "ephemeral Prefect API" not in str(exc):
        return None
    budget = os.environ.get(PREFECT_STARTUP_TIMEOUT_VARIABLE, "20")
    return StoreUnreachableError(
        f"Prefect's embedded API did not start within {budget} s (a fresh SENIM_HOME first "
        f"runs its database migrations, slow on a loaded machine): set "
        f"{PREFECT_STARTUP_TIMEOUT_VARIABLE} higher, or point PREFECT_API_URL at a "
        "running `prefect server start`"
    )


def redact_url(url: str) -> str:
    """Hide a password in a URL before it reaches a log line or an error message."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


SERVING_WORKERS_ENV = "SENIM_SERVING_WORKERS"  # set by ``senim serve --workers``
MAX_SERVING_WORKERS = 64


def serving_workers(env: Mapping[str, str] | None = None) -> int:
    """How many worker processes a service runs (``senim serve --workers``; 1 by default)."""
    raw = (os.environ if env is None else env).get(SERVING_WORKERS_ENV, "1")
    try:
        return max(1, min(MAX_SERVING_WORKERS, int(raw)))
    except ValueError:
        return 1
