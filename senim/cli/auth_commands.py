"""``senim users``, ``senim keys`` and ``senim audit``: the operator side of the auth layer.

The CLI talks to the platform database directly, so whoever runs it already holds the
database credentials: host access is admin access. It acts as an administrator and says
so in the audit log (actor ``host:<os account>``, the account's real uid). Passwords are
never taken as arguments (shell history, ps): they are prompted for without echo, or read
from stdin with ``--password-stdin``.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from senim.errors import ConfigError, SenimError

users_app = typer.Typer(
    help="User accounts: create (first admin too), list, disable, grant roles.",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="API keys for machine clients: create, list, revoke.", no_args_is_help=True
)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
CLI_ROLES = ("admin",)


def _actor() -> str:
    """What the audit log calls a CLI caller: host access is admin (the CLI holds the
    platform database's credentials), recorded as the OS account that used it."""
    from senim.environment import process_account

    return f"host:{process_account()}"


@contextmanager
def _runtime():
    from auth.runtime import AuthRuntime
    from senim.environment import prepare_home, resolve_stores

    prepare_home(resolve_stores())
    runtime = AuthRuntime.from_environment()
    try:
        yield runtime
    finally:
        runtime.close()


def _meta():
    from auth.runtime import CLI_REQUEST

    return CLI_REQUEST


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option("--username", help="Login name (3-150 chars).")],
    role: Annotated[list[str], typer.Option("--role", help="Role; repeat for several.")],
    email: Annotated[str | None, typer.Option("--email")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a user. With no admin yet, this is the first-admin bootstrap: it prints a
    one-time TOTP enrollment (otpauth URI) that `senim users confirm-totp` completes."""
    from auth import accounts, login

    password = _read_password(password_stdin)
    with _runtime() as runtime:
        bootstrap = not accounts.admin_exists(runtime)
        user = accounts.create_user(
            runtime,
            username,
            password,
            role,
            _meta(),
            actor_id=None if bootstrap else _actor(),
            actor_roles=() if bootstrap else CLI_ROLES,
            email=email,
        )
        out.print(f"created user {user.username} ({user.id}) with roles {', '.join(user.roles)}")
        if bootstrap:
            enrollment = login.enroll_totp(runtime, user.id, _meta())
            out.print("First admin: enroll two-factor authentication now. This is shown once.")
            out.print(f"  otpauth URI: {enrollment.otpauth_uri}", markup=False)
            out.print(
                f"  then run: senim users confirm-totp --username {user.username} --code <6 digits>"
            )
    _sync_mlflow_users()


@users_app.command("totp-invite")
def users_totp_invite(
    username: Annotated[str, typer.Option("--username")],
    hours: Annotated[
        int, typer.Option("--hours", min=1, max=168, help="How long the invite lasts.")
    ] = 24,
) -> None:
    """Issue a one-time code that lets the user enrol two-factor authentication (host
    access is admin). Hand it over; the user runs `senim users enroll-totp`."""
    from auth import accounts, login

    with _runtime() as runtime:
        user_id = accounts.find_user_id(runtime, username)
        code = login.invite_totp(runtime, user_id, _meta(), actor_id=_actor(), hours=hours)
    out.print(f"one-time 2FA enrolment invite for {username}, valid {hours} h (shown once):")
    out.print(f"  {code}", markup=False, highlight=False)
    out.print(f"{username} runs: senim users enroll-totp --username {username} --invite <code>")


@users_app.command("enroll-totp")
def users_enroll_totp(
    username: Annotated[str, typer.Option("--username")],
    invite: Annotated[str, typer.Option("--invite", help="The admin's one-time invite.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Enrol your authenticator app: your password and an admin's invite; then confirm
    with `senim users confirm-totp`."""
    from auth import login

    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else typer.prompt("Password", hide_input=True)
    )
    with _runtime() as runtime:
        enrollment = login.enroll_totp_with_invite(runtime, username, password, invite, _meta())
    out.print("Add this to your authenticator app (shown once):")
    out.print(f"  otpauth URI: {enrollment.otpauth_uri}", markup=False)
    out.print(_qr_text(enrollment.otpauth_uri), markup=False, highlight=False)
    out.print(f"then run: senim users confirm-totp --username {username} --code <6 digits>")


def _qr_text(uri: str) -> str:
    """The otpauth URI as a QR code drawn in text, for a terminal to show."""
    import io

    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(uri)
    text = io.StringIO()
    code.print_ascii(out=text, invert=True)
    return text.getvalue()


@users_app.command("confirm-totp")
def users_confirm_totp(
    username: Annotated[str, typer.Option("--username")],
    code: Annotated[str, typer.Option("--code", help="The current 6-digit code.")],
) -> None:
    """Confirm a pending TOTP enrollment and print the 10 single-use recovery codes (once)."""
    from auth import accounts, login

    with _runtime() as runtime:
        user_id = accounts.find_user_id(runtime, username)
        confirmed = login.confirm_totp(runtime, user_id, code, _meta(), issue=False)
    out.print(
        "two-factor authentication enrolled. Recovery codes (store them offline, shown once):"
    )
    for recovery in confirmed.recovery_codes:
        out.print(f"  {recovery}")


@users_app.command("list")
def users_list() -> None:
    """All accounts with roles, 2FA state and last sign-in."""
    from auth import accounts

    with _runtime() as runtime:
        users = accounts.list_users(runtime)
    table = Table("username", "roles", "active", "2FA", "last login", "id")
    for u in users:
        table.add_row(
            u.username,
            ", ".join(u.roles),
            "yes" if u.is_active else "no",
            "yes" if u.totp_enrolled else "no",
            u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "-",
            u.id,
        )
    out.print(table)


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Option("--username")]) -> None:
    """Disable an account; its tokens and the API keys it minted stop working at once."""
    from auth import accounts

    with _runtime() as runtime:
        user = accounts.disable_user(
            runtime, accounts.find_user_id(runtime, username), _meta(), actor_id=_actor()
        )
    out.print(f"disabled {user.username} (its sessions and the API keys it minted are revoked)")
    _sync_mlflow_users()


@users_app.command("revoke-role")
def users_revoke_role(
    username: Annotated[str, typer.Option("--username")],
    role: Annotated[str, typer.Option("--role")],
) -> None:
    """Take a role away; keys the account minted with a role it may no longer grant are
    revoked with it."""
    from auth import accounts

    with _runtime() as runtime:
        user = accounts.remove_role(
            runtime,
            accounts.find_user_id(runtime, username),
            role,
            _meta(),
            actor_id=_actor(),
            actor_roles=CLI_ROLES,
        )
    out.print(f"{user.username} now has roles {', '.join(user.roles) or 'none'}")
    _sync_mlflow_users()


@users_app.command("grant")
def users_grant(
    username: Annotated[str, typer.Option("--username")],
    role: Annotated[str, typer.Option("--role")],
) -> None:
    """Grant a role to an account."""
    from auth import accounts

    with _runtime() as runtime:
        user = accounts.grant_role(
            runtime,
            accounts.find_user_id(runtime, username),
            role,
            _meta(),
            actor_id=_actor(),
            actor_roles=CLI_ROLES,
        )
    out.print(f"{user.username} now has roles {', '.join(user.roles)}")
    _sync_mlflow_users()


def _sync_mlflow_users() -> None:
    """Mirror the change on the team MLflow server when one is configured (see mlflow_cli)."""
    from senim.cli.mlflow_commands import sync_after_user_change

    sync_after_user_change()


@keys_app.command("create")
def keys_create(
    name: Annotated[
        str, typer.Option("--name", help="What the key is for, e.g. loan-origination.")
    ],
    role: Annotated[
        str, typer.Option("--role", help="service or edge_device (keys are for machines).")
    ],
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Optional scope; repeatable.")
    ] = None,
    expires_days: Annotated[int, typer.Option("--expires-days", min=1, max=730)] = 365,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="Write the key to this file (0600; it must not exist yet). "
            "Default: SENIM_HOME/keys/NAME.key.",
        ),
    ] = None,
    print_key: Annotated[
        bool, typer.Option("--print", help="Print the key once instead of writing a file.")
    ] = False,
    re_enrol: Annotated[
        bool,
        typer.Option(
            "--re-enrol",
            help="edge_device: replace the host's enrolled key, revoking it (admin only).",
        ),
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Base URL of the Senim service (http/https); required for an edge_device "
            "key file, which a camera host then uses as is.",
        ),
    ] = None,
) -> None:
    """Create an API key. The key is written (or printed) once and never stored in clear.

    For ``--role edge_device --server URL`` the file is a complete host enrolment
    (``edge.protocol.EdgeKeyFile``): the key, the server, the public key that signs model
    manifests, and the host id (the key's ``--name``). Everything that could fail is
    checked before the key exists, so a refusal never leaves a live key nobody saw.
    """
    from auth import machine_keys
    from senim.environment import resolve_stores

    if print_key and key_file is not None:
        raise ConfigError("--print and --key-file exclude each other: print it, or write it")
    if server is not None:
        server = _server_url(server)
    target = None if print_key else key_file or resolve_stores().home / "keys" / f"{name}.key"
    enrolment = role == "edge_device" and target is not None
    if enrolment and server is None:
        raise SenimError(
            "--server is required for an edge_device key file: the host reads the service "
            "URL from it (e.g. --server https://senim.example.com)"
        )
    if target is not None:
        _check_new_key_file(target)
    # Before the key exists: a broken signing key must not leave an unusable key behind.
    manifest_public_key = _manifest_public_key() if enrolment else None
    with _runtime() as runtime:
        created = machine_keys.create_key(
            runtime,
            name,
            role,
            _meta(),
            actor_id=_actor(),
            actor_roles=CLI_ROLES,
            scopes=scope or [],
            expires_in_days=expires_days,
            re_enrol=re_enrol,
        )
        if target is None:
            out.print(
                f"created key {created.view.prefix} ({role}). Copy it now, it is not shown again:"
            )
            out.print(created.key, markup=False, highlight=False)
            return
        payload = {"api_key": created.key, "prefix": created.view.prefix, "role": role}
        if server is not None:
            payload["server"] = server
        if manifest_public_key is not None:
            payload["manifest_public_key"] = manifest_public_key
            payload["host_id"] = created.view.name
        try:
            with open(target, "x", encoding="utf-8", opener=_private_opener) as handle:
                json.dump(payload, handle)
        except OSError as exc:  # lost a race for the path: nobody may hold an unseen key
            machine_keys.revoke_key(
                runtime, created.view.prefix, _meta(), actor_id=_actor(), actor_roles=CLI_ROLES
            )
            raise SenimError(
                f"cannot write {target}: {exc.strerror}; the key was revoked"
            ) from None
    out.print(f"created key {created.view.prefix} ({role}); written to {target} (0600)")


def _check_new_key_file(path: Path) -> None:
    """The key file must be new and its folder writable (created 0700 when missing)."""
    if path.exists():
        raise SenimError(
            f"{path} exists: choose another --key-file or remove it (no key was created)"
        )
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SenimError(
            f"cannot create {path.parent}: {exc.strerror} (no key was created)"
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise SenimError(f"{path.parent} is not writable (no key was created)")


def _server_url(text: str) -> str:
    """The service's base URL, checked: http(s), a host, nothing after the path."""
    from urllib.parse import urlsplit

    from senim.addresses import is_loopback_host

    url = text.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise SenimError(
            f"--server must be an http:// or https:// URL with a host and no credentials, "
            f"query or fragment, e.g. https://senim.example.com; got {text!r}"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        err.print(
            f"warning: {url} is plain http: the host's API key and events cross the network "
            "unencrypted; use https:// (TLS on `senim serve --ssl-certfile/--ssl-keyfile` or a "
            "reverse proxy in front)",
            markup=False,
            highlight=False,
        )
    return url


def _manifest_public_key() -> str:
    """The public half of the key that signs edge manifests (created on first use)."""
    from senim.environment import resolve_stores
    from serving.edge_signing import signing_key_for

    return signing_key_for(resolve_stores()).public_key_text


def _private_opener(path: str, flags: int) -> int:
    import os

    return os.open(path, flags, 0o600)


@keys_app.command("list")
def keys_list() -> None:
    """Keys by prefix, role, expiry, last use and revocation (never the secret)."""
    from auth import machine_keys

    with _runtime() as runtime:
        keys = machine_keys.list_keys(runtime)
    table = Table("prefix", "name", "role", "expires", "last used", "revoked")
    for k in keys:
        table.add_row(
            k.prefix,
            k.name,
            k.role,
            _when(k.expires_at),
            _when(k.last_used_at),
            _when(k.revoked_at),
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Option("--prefix", help="The key's prefix.")]) -> None:
    """Revoke a key; it stops working at once."""
    from auth import machine_keys

    with _runtime() as runtime:
        view = machine_keys.revoke_key(
            runtime, prefix, _meta(), actor_id=_actor(), actor_roles=CLI_ROLES
        )
    out.print(f"revoked key {view.prefix} ({view.name})")


@audit_app.command("tail")
def audit_tail(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome")] = None,
) -> None:
    """The newest audit rows, oldest first."""
    from auth.audit import query

    with _runtime() as runtime, runtime.sessions() as session:
        rows = list(
            reversed(query(session, actor=actor, action=action, outcome=outcome, limit=limit))
        )
        for r in rows:
            out.print(
                f"{r.at.isoformat(timespec='seconds')} {r.outcome:<7} {r.actor} {r.action} "
                f"{r.resource} ip={r.client_ip} {json.dumps(r.details, sort_keys=True)}",
                markup=False,
                highlight=False,
            )


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if value else "-"
