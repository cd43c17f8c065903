"""The admin pages: accounts, machine API keys and the audit log.

``/web/admin/users`` and ``/web/admin/keys`` need ``manage_users``; minting a key also needs
``create_api_key`` and, as ``POST /auth/keys`` does, a sign-in with the second factor within
``auth.key_creation_max_auth_age_seconds``; revoking one needs ``revoke_api_key``.
``/web/admin/audit`` needs ``read_audit``.

Every change goes through ``auth.accounts`` and ``auth.machine_keys`` (their checks, their
audit rows). A refusal there is shown next to the field it concerns, with its own 4xx
status. A change that succeeds redirects (303) back to its list, whose notice is chosen by
a fixed code in the query string and names only what the page itself lists (a user, a
role, a key prefix): a link cannot put words of its own on the page.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

# At module level: the handlers' annotations are strings (``from __future__ import
# annotations``) that FastAPI resolves in this module's globals; ``Request`` must be there
# or it would be taken for a query parameter.
from fastapi import Request

from auth import accounts, machine_keys
from auth.errors import (
    AuthError,
    Conflict,
    FreshSignInRequired,
    NotFound,
    WeakPassword,
)
from auth.models import AUDIT_OUTCOMES
from auth.permissions import ROLES_REQUIRING_2FA, Permission, Role, may_grant_role
from serving.web.session import WebSession, meta_of

USERS = "/web/admin/users"
KEYS = "/web/admin/keys"
AUDIT = "/web/admin/audit"
FILTER_MAX = 128  # as the API's audit filters (auth.http_models.Filter)
DB_INT_MAX = 2**63 - 1
_PREFIX = re.compile(r"[a-z0-9]{1,32}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

# The notices a redirect may ask for: ``{user}``, ``{role}`` and ``{key}`` are filled in only
# from what the page lists, never from the query string's text.
NOTICES = {
    "user-created": "Created the account {user}.",
    "role-granted": "Granted {role} to {user}.",
    "role-removed": (
        "Removed {role} from {user}; API keys they minted with a role they may no longer "
        "grant are revoked."
    ),
    "user-disabled": ("Disabled {user}: their sessions and the API keys they minted are revoked."),
    "key-revoked": "Revoked the API key {key}; it stops working at once.",
}


def add_admin_routes(app: Any, web: Any) -> None:
    from starlette.concurrency import run_in_threadpool

    from serving.web.context import guard, posted

    # --- users ---------------------------------------------------------------------------

    @app.get(USERS)
    async def users_page(request: Request):
        session = await guard(web, request, Permission.MANAGE_USERS)
        if not isinstance(session, WebSession):
            return session
        return await _users_page(web, request, session, notice_from=request.query_params)

    @app.post(USERS)
    async def create_user(request: Request):
        session, form = await posted(web, request, Permission.MANAGE_USERS)
        if form is None:
            return session
        username, email = _text(form, "username"), _text(form, "email")
        password = form.get("password") if isinstance(form.get("password"), str) else ""
        roles = [r for r in form.getlist("roles") if isinstance(r, str)]
        values = {"username": username, "email": email, "roles": roles}
        problems = {}
        if not username:
            problems["username"] = "Enter a username."
        if not password:
            problems["password"] = "Enter a password."
        if not roles:
            problems["roles"] = "Choose at least one role."
        if email and not _looks_like_email(email):
            problems["email"] = "Enter an email address such as name@example.com, or nothing."
        if problems:
            return await _users_page(web, request, session, 422, form=values, problems=problems)
        principal = session.principal
        try:
            user = await run_in_threadpool(
                accounts.create_user,
                web.runtime,
                username,
                password,
                roles,
                meta_of(request),
                actor_id=principal.label,
                actor_roles=principal.roles,
                email=email or None,
            )
        except AuthError as exc:
            field = _new_user_field(exc)
            return await _users_page(
                web,
                request,
                session,
                exc.status,
                form=values,
                problems={field: exc.message} if field else {},
                error=None if field else exc.message,
            )
        return _redirect(web, session, USERS, "user-created", user=user.id)

    @app.post(USERS + "/{user_id}/roles")
    async def grant_role(request: Request, user_id: str):
        session, form = await posted(web, request, Permission.MANAGE_USERS)
        if form is None:
            return session
        role = _text(form, "role")
        where = f"grant-{user_id}"
        if not role:
            return await _row_problem(request, session, 422, where, "Choose a role to grant.")
        return await _change_row(
            request, session, where, accounts.grant_role, user_id, role,
            actor_roles=session.principal.roles, notice="role-granted", user=user_id, role=role,
        )  # fmt: skip

    @app.post(USERS + "/{user_id}/roles/remove")
    async def remove_role(request: Request, user_id: str):
        session, form = await posted(web, request, Permission.MANAGE_USERS)
        if form is None:
            return session
        role = _text(form, "role")
        where = f"remove-{user_id}"
        if user_id == session.principal.subject and role == Role.ADMIN:
            return await _row_problem(
                request, session, 409, where,
                "You cannot remove your own admin role here; another admin can.",
            )  # fmt: skip
        return await _change_row(
            request, session, where, accounts.remove_role, user_id, role,
            actor_roles=session.principal.roles, notice="role-removed", user=user_id, role=role,
        )  # fmt: skip

    @app.post(USERS + "/{user_id}/disable")
    async def disable_user(request: Request, user_id: str):
        session, form = await posted(web, request, Permission.MANAGE_USERS)
        if form is None:
            return session
        where = f"disable-{user_id}"
        if user_id == session.principal.subject:
            return await _row_problem(
                request, session, 409, where,
                "You cannot disable your own account here; another admin can.",
            )  # fmt: skip
        if _text(form, "confirm") != "yes":
            return await _row_problem(
                request, session, 422, where, "Tick the box to confirm: this cannot be undone here."
            )
        return await _change_row(
            request, session, where, accounts.disable_user, user_id,
            notice="user-disabled", user=user_id,
        )  # fmt: skip

    async def _change_row(
        request, session, where: str, change, *args, notice: str, actor_roles=None, **shown
    ):
        """One account change from a user's row, as the signed-in admin; back to the users
        page with ``notice``, or with the refusal beside that row."""
        actor = {"actor_id": session.principal.label}
        if actor_roles is not None:
            actor["actor_roles"] = actor_roles
        try:
            await run_in_threadpool(change, web.runtime, *args, meta_of(request), **actor)
        except AuthError as exc:
            return await _row_refused(web, request, session, exc, where)
        return _redirect(web, session, USERS, notice, **shown)

    async def _row_problem(request, session, status: int, where: str, message: str):
        return await _users_page(web, request, session, status, problems={where: message})

    async def _users_page(
        web, request, session, status=200, *, form=None, problems=None, error=None, notice_from=None
    ):
        users = await run_in_threadpool(accounts.list_users, web.runtime)
        names = {user.id: user.username for user in users}
        return web.page(
            request,
            session,
            "admin_users.html",
            status,
            title="Users",
            users=users,
            roles=[role.value for role in Role],
            two_factor_roles=sorted(role.value for role in ROLES_REQUIRING_2FA),
            grantable=_grantable(session),
            form=form or {"username": "", "email": "", "roles": []},
            problems=problems or {},
            error=error,
            done=_notice(notice_from, names=names) if notice_from else None,
            me=session.principal.subject,
            min_length=web.runtime.params.password_min_length,
            when=_when,
        )

    async def _row_refused(web, request, session, exc: AuthError, where: str):
        """A refused change on one user's row: its message beside that row's control (a
        user that is not listed has no row: then at the top)."""
        if isinstance(exc, NotFound):
            return await _users_page(web, request, session, exc.status, error=exc.message)
        return await _row_problem(request, session, exc.status, where, exc.message)

    # --- API keys ------------------------------------------------------------------------

    @app.get(KEYS)
    async def keys_page(request: Request):
        session = await guard(web, request, Permission.MANAGE_USERS)
        if not isinstance(session, WebSession):
            return session
        return await _keys_page(web, request, session, notice_from=request.query_params)

    @app.post(KEYS)
    async def create_key(request: Request):
        from auth.principals import require_fresh_sign_in

        session, form = await posted(web, request, Permission.MANAGE_USERS)
        if form is None:
            return session
        if not session.may(Permission.CREATE_API_KEY):
            return _refuse(web, request, session, Permission.CREATE_API_KEY)
        name, role, days_text = _text(form, "name"), _text(form, "role"), _text(form, "expires")
        re_enrol = _text(form, "re_enrol") == "yes"
        values = {"name": name, "role": role, "expires": days_text, "re_enrol": re_enrol}
        problems = {}
        if not name:
            problems["name"] = "Enter a name: what the key is for (for a camera, its host)."
        if role not in machine_keys.KEY_ROLES:
            problems["role"] = "Choose " + " or ".join(sorted(machine_keys.KEY_ROLES)) + "."
        days = _days(days_text)
        if days is None:
            problems["expires"] = (
                f"Enter a whole number of days from 1 to {machine_keys.MAX_KEY_DAYS}."
            )
        if problems:
            return await _keys_page(web, request, session, 422, form=values, problems=problems)
        principal, meta = session.principal, meta_of(request)
        try:
            require_fresh_sign_in(web.runtime, principal, meta, "api_key:create")
            created = await run_in_threadpool(
                machine_keys.create_key,
                web.runtime,
                name,
                role,
                meta,
                actor_id=principal.label,
                actor_roles=principal.roles,
                expires_in_days=days,
                re_enrol=re_enrol,
            )
        except FreshSignInRequired as exc:
            return await _keys_page(
                web,
                request,
                session,
                exc.status,
                form=values,
                error=exc.message,
                sign_in_again=True,
            )
        except AuthError as exc:
            field = _new_key_field(exc)
            return await _keys_page(
                web,
                request,
                session,
                exc.status,
                form=values,
                problems={field: exc.message} if field else {},
                error=None if field else exc.message,
            )
        # The key is on this one response only (no-store), never in a redirect or a log.
        return await _keys_page(web, request, session, 201, created=created)

    @app.post(KEYS + "/{prefix}/revoke")
    async def revoke_key(request: Request, prefix: str):
        session, form = await posted(web, request, Permission.MANAGE_USERS)
        if form is None:
            return session
        if not session.may(Permission.REVOKE_API_KEY):
            return _refuse(web, request, session, Permission.REVOKE_API_KEY)
        if not _PREFIX.fullmatch(prefix):
            return await _keys_page(web, request, session, 404, error="No API key has that prefix.")
        where = f"revoke-{prefix}"
        if _text(form, "confirm") != "yes":
            return await _keys_page(
                web,
                request,
                session,
                422,
                problems={where: "Tick the box to confirm: a revoked key cannot be restored."},
            )
        principal = session.principal
        try:
            await run_in_threadpool(
                machine_keys.revoke_key,
                web.runtime,
                prefix,
                meta_of(request),
                actor_id=principal.label,
                actor_roles=principal.roles,
            )
        except AuthError as exc:
            if isinstance(exc, NotFound):
                return await _keys_page(web, request, session, exc.status, error=exc.message)
            return await _keys_page(
                web, request, session, exc.status, problems={where: exc.message}
            )
        return _redirect(web, session, KEYS, "key-revoked", key=prefix)

    async def _keys_page(
        web,
        request,
        session,
        status=200,
        *,
        form=None,
        problems=None,
        error=None,
        notice_from=None,
        created=None,
        sign_in_again=False,
    ):
        keys = await run_in_threadpool(machine_keys.list_keys, web.runtime)
        now = web.runtime.now()
        rows = [(view, _key_state(view, now)) for view in reversed(keys)]
        listed = {view.prefix for view in keys}
        key_roles = sorted(
            r for r in machine_keys.KEY_ROLES if may_grant_role(session.principal.roles, r)
        )
        return web.page(
            request,
            session,
            "admin_keys.html",
            status,
            title="API keys",
            keys=rows,
            key_roles=key_roles,
            max_days=machine_keys.MAX_KEY_DAYS,
            form=form or {"name": "", "role": "", "expires": "365", "re_enrol": False},
            problems=problems or {},
            error=error,
            created=created,
            sign_in_again=sign_in_again,
            max_auth_age=web.runtime.params.key_creation_max_auth_age_seconds,
            done=_notice(notice_from, keys=listed) if notice_from else None,
            when=_when,
        )

    # --- audit log -----------------------------------------------------------------------

    @app.get(AUDIT)
    async def audit_page(request: Request):
        session = await guard(web, request, Permission.READ_AUDIT)
        if not isinstance(session, WebSession):
            return session
        values, filters, problems = _audit_filters(request.query_params)
        page_size = web.params.web.audit_page_size
        context = {
            "title": "Audit log",
            "values": values,
            "problems": problems,
            "outcomes": AUDIT_OUTCOMES,
            "rows": [],
            "older": None,
            "newest": None,
            "lagging": False,
            "paged": filters.get("before_id") is not None,
        }
        if problems:
            return web.page(request, session, "admin_audit.html", 422, **context)
        rows, lagging = await run_in_threadpool(_audit_rows, web.runtime, filters, page_size)
        older = None
        if len(rows) == page_size:
            older_query = {**{k: v for k, v in values.items() if v}, "before": rows[-1]["id"]}
            older = f"{AUDIT}?{urlencode(older_query)}"
        kept = {k: v for k, v in values.items() if v}
        newest = f"{AUDIT}?{urlencode(kept)}" if kept else AUDIT
        context.update(rows=rows, older=older, newest=newest, lagging=lagging)
        return web.page(request, session, "admin_audit.html", 200, **context)


# --- helpers (no request state) ----------------------------------------------------------


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _looks_like_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return (
        bool(at and local and domain)
        and 3 <= len(email) <= 254
        and not any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in email)
    )


def _days(text: str) -> int | None:
    """Days until a key expires: a whole number 1..MAX_KEY_DAYS (blank: 365)."""
    if not text:
        return 365
    if not text.isascii() or not text.isdigit():
        return None
    days = int(text)
    return days if 1 <= days <= machine_keys.MAX_KEY_DAYS else None


def _grantable(session: WebSession) -> list[str]:
    return [role.value for role in Role if may_grant_role(session.principal.roles, role)]


def _new_user_field(exc: AuthError) -> str | None:
    """Which field of the new-account form ``exc`` is about (None: the form as a whole)."""
    if isinstance(exc, WeakPassword):
        return "password"
    if isinstance(exc, Conflict) or exc.message.startswith("username"):
        return "username"
    if "role" in exc.message:
        return "roles"
    return None


def _new_key_field(exc: AuthError) -> str | None:
    message = exc.message
    if message.startswith("only an admin may re-enrol"):
        return "re_enrol"
    if isinstance(exc, Conflict) or message.startswith("name"):
        return "name"
    if message.startswith("expires_in_days"):
        return "expires"
    if "role" in message and not message.startswith("missing permission"):
        return "role"
    return None


def _key_state(view: machine_keys.ApiKeyView, now: datetime) -> str:
    if view.revoked_at is not None:
        return "revoked"
    if view.expires_at is not None and view.expires_at <= now:
        return "expired"
    return "active"


def _when(moment: datetime | None) -> str:
    """A stored time as the pages show it: UTC to the second."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _notice(
    query: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
    keys: set[str] | None = None,
) -> str | None:
    """The notice a redirect asked for, filled in from what is listed; None when it names
    something that is not (or a code that does not exist)."""
    template = NOTICES.get(query.get("done", ""))
    if template is None:
        return None
    fill: dict[str, str] = {}
    if "{user}" in template:
        user = (names or {}).get(query.get("user", ""))
        if user is None:
            return None
        fill["user"] = user
    if "{role}" in template:
        role = query.get("role", "")
        if role not in {r.value for r in Role}:
            return None
        fill["role"] = role
    if "{key}" in template:
        key = query.get("key", "")
        if key not in (keys or set()):
            return None
        fill["key"] = key
    return template.format(**fill)


def _redirect(web: Any, session: WebSession, path: str, done: str, **subjects: str) -> Any:
    from fastapi.responses import RedirectResponse

    target = f"{path}?{urlencode({'done': done, **subjects})}"
    return web.finish(RedirectResponse(target, status_code=303), session)


def _refuse(web: Any, request: Any, session: WebSession, permission: Permission) -> Any:
    """403 for a permission beyond the page's own (audited, as ``guard`` does)."""
    from serving.web.context import refuse_permission

    return refuse_permission(web, request, session, permission)


def _audit_filters(
    query: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """``(values as typed, filters for auth.audit.query, problems by field)``.

    Dates are whole UTC days: ``since`` from the start of its day, ``until`` to the end of
    its day (both inclusive)."""
    values = {
        name: query.get(name, "").strip()
        for name in ("actor", "action", "outcome", "since", "until")
    }
    filters: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name in ("actor", "action"):
        text = values[name]
        if len(text) > FILTER_MAX or any(unicodedata.category(ch) == "Cc" for ch in text):
            problems[name] = f"Enter at most {FILTER_MAX} characters, without control characters."
        elif text:
            filters[name] = text
    if values["outcome"]:
        if values["outcome"] in AUDIT_OUTCOMES:
            filters["outcome"] = values["outcome"]
        else:
            problems["outcome"] = "Choose one of " + ", ".join(AUDIT_OUTCOMES) + "."
    days: dict[str, date] = {}
    for name in ("since", "until"):
        text = values[name]
        if not text:
            continue
        day = _parse_day(text)
        if day is None:
            problems[name] = "Enter a date as YYYY-MM-DD (UTC), e.g. 2026-03-02."
        else:
            days[name] = day
    if "since" in days:
        filters["since"] = datetime.combine(days["since"], time.min, UTC)
    if "until" in days:
        if "since" in days and days["until"] < days["since"]:
            problems["until"] = "Enter a date on or after the Since date."
        elif days["until"] < date.max:
            filters["until"] = datetime.combine(days["until"] + timedelta(days=1), time.min, UTC)
    before = query.get("before", "").strip()
    if before:
        if before.isascii() and before.isdigit() and 1 <= int(before) <= DB_INT_MAX:
            filters["before_id"] = int(before)
        else:
            problems["before"] = "The page link is broken: start again from the newest events."
    return values, filters, problems


def _parse_day(text: str) -> date | None:
    if not _DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _audit_rows(runtime: Any, filters: dict[str, Any], limit: int) -> tuple[list[dict], bool]:
    """One page of audit rows, newest first, with usernames beside user ids; and whether
    the writer was still behind (its newest events may be missing)."""
    import sqlalchemy as sa

    from auth.audit import query
    from auth.models import User

    lagging = False
    try:
        runtime.audit.flush()
    except TimeoutError:
        lagging = True
    filters = dict(filters)
    if "actor" in filters:  # a username is looked up; anything else is an actor as stored
        try:
            filters["actor"] = accounts.find_user_id(runtime, filters["actor"])
        except NotFound:
            pass
    with runtime.sessions() as session:
        records = query(session, limit=limit, **filters)
        ids = {r.actor for r in records}
        found = session.execute(sa.select(User.id, User.username).where(User.id.in_(ids)))
        names = {user_id: username for user_id, username in found}
        rows = [
            {
                "id": r.id,
                "at": _when(r.at),
                "actor": r.actor,
                "actor_name": names.get(r.actor),
                "action": r.action,
                "resource": r.resource,
                "outcome": r.outcome,
                "client_ip": r.client_ip or "",
                "details": (
                    json.dumps(r.details, sort_keys=True, ensure_ascii=False, default=str)
                    if r.details
                    else ""
                ),
            }
            for r in records
        ]
    return rows, lagging


__all__ = ["add_admin_routes"]
