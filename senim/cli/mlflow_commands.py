"""``senim mlflow``: run the team MLflow tracking server and keep its users in step with Senim.

``serve`` replaces this process with ``mlflow server`` (so signals and exit codes are
MLflow's own); ``sync-users`` is safe to run at any time and also runs after
``senim users create|grant|disable`` when ``SENIM_MLFLOW_TRACKING_URI`` is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

mlflow_app = typer.Typer(
    help="The team MLflow server: serve it (PostgreSQL, basic auth), sync its users.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)


def _stores():
    from senim.environment import prepare_home, resolve_stores

    stores = resolve_stores()
    prepare_home(stores)
    return stores


@mlflow_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind; 0.0.0.0 for all.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 5000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64)] = 2,
    backend_store_uri: Annotated[
        str | None,
        typer.Option(
            "--backend-store-uri",
            help="postgresql://user:PASSWORD@host:5432/mlflow (default: "
            "SENIM_MLFLOW_BACKEND_URI, else single-user SQLite under SENIM_HOME).",
        ),
    ] = None,
    artifacts_destination: Annotated[
        str | None,
        typer.Option(
            "--artifacts-destination",
            help="Folder or s3://bucket/prefix the server stores artifacts in (default: "
            "SENIM_MLFLOW_ARTIFACTS_DESTINATION, else SENIM_HOME/mlflow/artifacts).",
        ),
    ] = None,
    allowed_hosts: Annotated[
        str | None,
        typer.Option("--allowed-hosts", help="Host names clients use, e.g. mlflow.example.com."),
    ] = None,
    auth_cache_ttl: Annotated[
        int,
        typer.Option(
            "--auth-cache-ttl",
            min=0,
            max=3600,
            help="Seconds a worker trusts a checked password (0: check every request; "
            "other workers may accept a deleted user for this long).",
        ),
    ] = 0,
    print_command: Annotated[
        bool,
        typer.Option("--print-command", help="Write the config, print the plain command, exit."),
    ] = False,
) -> None:
    """Run MLflow's tracking server with basic auth, READ by default, no default password."""
    from senim.cli import mlflow_server as ms

    stores = _stores()
    config = ms.resolve_server_config(
        stores,
        os.environ,
        host=host,
        port=port,
        workers=workers,
        backend_store_uri=backend_store_uri,
        artifacts_destination=artifacts_destination,
        allowed_hosts=allowed_hosts,
        auth_cache_ttl_s=auth_cache_ttl,
    )
    launch = ms.prepare_server(config, os.environ)
    if print_command:
        out.print(ms.plain_command(config), markup=False, highlight=False)
        return
    ms.check_auth_app_installed()
    if ms.ensure_postgres_database(config.auth_database_uri):
        out.print("created the MLflow auth database", markup=False)
    if config.embedded:
        out.print(
            "warning: SQLite backend under SENIM_HOME: a single-user embedded setup, not a "
            "team server (set SENIM_MLFLOW_BACKEND_URI=postgresql://...)",
            markup=False,
        )
    out.print(
        f"MLflow server on http://{config.host}:{config.port} (basic auth, default READ); "
        f"admin {launch.env['MLFLOW_AUTH_ADMIN_USERNAME']}; config {config.auth_config_path}",
        markup=False,
        highlight=False,
    )
    out.print("next: senim mlflow sync-users --tracking-uri URL", markup=False)
    sys.stdout.flush()
    os.execvpe(launch.argv[0], launch.argv, launch.env)


@mlflow_app.command("sync-users")
def sync_users_command(
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri", help="Team server URL (default: SENIM_MLFLOW_TRACKING_URI)."
        ),
    ] = None,
    password_dir: Annotated[
        Path | None,
        typer.Option(
            "--password-dir",
            help="Write new users' one-time passwords here (0600 files) instead of printing.",
        ),
    ] = None,
) -> None:
    """Create, promote and delete MLflow users so they match Senim's users and roles."""
    from senim.errors import ConfigError

    uri = _team_uri(tracking_uri)
    if uri is None:
        raise ConfigError(
            "no team MLflow server: pass --tracking-uri or set SENIM_MLFLOW_TRACKING_URI"
        )
    report = run_sync(uri, password_dir)
    _print_report(report, password_dir)


def _team_uri(explicit: str | None) -> str | None:
    from senim.cli.mlflow_server import team_tracking_uri

    return team_tracking_uri(os.environ, explicit)


def run_sync(uri: str, password_dir: Path | None = None):
    """Read Senim's users and apply them to the server at ``uri``."""
    from auth import accounts
    from auth.runtime import AuthRuntime
    from senim.cli import mlflow_server as ms

    stores = _stores()
    admin = ms.admin_credentials(stores.home, os.environ)
    service = ms.service_credentials(stores.home, os.environ)
    runtime = AuthRuntime.from_environment()
    try:
        users = accounts.list_users(runtime)
    finally:
        runtime.close()
    api = ms.MlflowAuthApi(uri, admin)
    try:
        report = ms.sync_users(api, users, service, admin.username)
    finally:
        api.close()
    if password_dir is not None:
        ms.write_password_handout(password_dir, report.new_passwords)
    return report


def _print_report(report, password_dir: Path | None) -> None:
    out.print(report.summary(), markup=False, highlight=False)
    if not report.new_passwords:
        return
    if password_dir is not None:
        out.print(f"one-time MLflow passwords written to {password_dir} (0600); hand them over")
        return
    out.print("New MLflow passwords, shown once; users change them with update-password:")
    for username, password in report.new_passwords.items():
        out.print(f"  {username}  {password}", markup=False, highlight=False)


def sync_after_user_change() -> None:
    """Called by ``senim users create|grant|disable``: never fails the change itself.

    The Senim change is already committed; a server that is down must not undo it or hide
    it, so a failure becomes one line saying to run ``senim mlflow sync-users``.
    """
    from senim.errors import SenimError

    try:
        uri = _team_uri(None) if os.environ.get("SENIM_MLFLOW_TRACKING_URI") else None
        if uri is None:
            return
        _print_report(run_sync(uri), None)
    except Exception as exc:  # noqa: BLE001 - the Senim change stands whatever happens here
        reason = str(exc) if isinstance(exc, SenimError) else type(exc).__name__
        out.print(
            f"warning: MLflow users not synced ({reason}); run `senim mlflow sync-users`",
            markup=False,
            highlight=False,
        )


@mlflow_app.command("service-env")
def service_env_command(
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri", help="Team server URL (default: SENIM_MLFLOW_TRACKING_URI)."
        ),
    ] = None,
) -> None:
    """Print `export` lines that make flows log as the service identity (eval them)."""
    import shlex

    from senim.cli import mlflow_server as ms
    from senim.errors import ConfigError

    uri = _team_uri(tracking_uri)
    if uri is None:
        raise ConfigError(
            "no team MLflow server: pass --tracking-uri or set SENIM_MLFLOW_TRACKING_URI"
        )
    stores = _stores()
    service = ms.service_credentials(stores.home, os.environ)
    for name, value in ms.service_env(uri, service).items():
        out.print(f"export {name}={shlex.quote(value)}", markup=False, highlight=False)
