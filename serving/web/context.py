"""What every page handler stands on: the loaded service (``Web``), the session guard
(sign-in redirect, 403 for a missing permission or second factor), the CSRF check of a
posted form, and the menu a person sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auth.permissions import Permission
from serving.web.pages import render
from serving.web.session import (
    CSRF_FIELD,
    WebSession,
    clear_session_cookies,
    session_of,
    set_session_cookies,
)


class NotReady(Exception):
    """The service has not loaded yet: pages answer 503."""


@dataclass
class Web:
    """What every page handler reaches through: the service's state, loaded per request."""

    state: Any  # serving.serving_state.ServingState of the credit service

    @property
    def loaded(self) -> Any:
        loaded = self.state.loaded
        if loaded is None:
            raise NotReady()
        return loaded

    @property
    def runtime(self) -> Any:
        return self.loaded.runtime

    @property
    def params(self) -> Any:
        return self.loaded.params

    @property
    def secure(self) -> bool:
        return self.params.web.secure_cookies

    def session(self, request: Any) -> WebSession | None:
        return session_of(self.runtime, request)

    def finish(self, response: Any, session: WebSession | None) -> Any:
        """Set renewed session cookies on ``response`` (the access token had expired)."""
        if session is not None and session.renewed is not None:
            set_session_cookies(
                response, session.renewed, self.secure, self.params.auth.refresh_token_days
            )
        return response

    def page(
        self, request: Any, session: WebSession | None, name: str, status: int = 200, **context: Any
    ) -> Any:
        """Render ``name`` with what the layout needs (who, what they may open)."""
        response = render(
            name,
            status,
            session=session,
            nav=navigation(session),
            path=request.url.path,
            csrf=session.csrf if session else "",
            **context,
        )
        return self.finish(response, session)

    def error(
        self, request: Any, session: WebSession | None, status: int, title: str, message: str
    ) -> Any:
        """The error page, with this person's menu, saying what went wrong and what to do."""
        return self.page(request, session, "error.html", status, title=title, message=message)


def csrf_matches_session(session: WebSession, presented: object) -> bool:
    import hmac

    return isinstance(presented, str) and hmac.compare_digest(session.csrf, presented)


def navigation(session: WebSession | None) -> list[tuple[str, str]]:
    """The menu: only what this person may open."""
    if session is None:
        return []
    items = [("/web/", "Home")]
    if session.may(Permission.SCORE):
        items += [("/web/score", "Score"), ("/web/history", "History")]
    if session.may(Permission.PROMOTE_MODEL):
        items.append(("/web/review", "Review"))
    if session.may(Permission.MANAGE_USERS):
        items += [("/web/admin/users", "Users"), ("/web/admin/keys", "API keys")]
    if session.may(Permission.READ_AUDIT):
        items.append(("/web/admin/audit", "Audit log"))
    return items


async def guard(
    web: Web, request: Any, permission: Permission | None = None, allow_enrolment: bool = False
) -> Any:
    """The session, or the response that replaces the page: sign-in for no session, the
    enrolment page for a role that needs a second factor it has not set up, 403 for a
    missing permission."""
    from fastapi.responses import RedirectResponse
    from starlette.concurrency import run_in_threadpool

    session = await run_in_threadpool(web.session, request)
    if session is None:
        target = request.url.path
        response = RedirectResponse(f"/web/sign-in?next={_quote(target)}", status_code=303)
        clear_session_cookies(response, web.secure)
        return response
    if not session.principal.mfa_satisfied and not allow_enrolment:
        # A role that needs two factors, signed in with a password only: enrol first.
        return web.finish(RedirectResponse("/web/enroll", status_code=303), session)
    if permission is not None and not session.may(permission):
        return refuse_permission(web, request, session, permission)
    return session


def refuse_permission(web: Web, request: Any, session: WebSession, permission: Any) -> Any:
    """403 for a permission this person lacks, audited."""
    web.runtime.record(
        session.principal.label,
        f"authorize:{permission}",
        request.url.path,
        "denied",
        _meta(request),
        via="web",
    )
    return web.error(
        request,
        session,
        403,
        "Not allowed",
        f"Your roles do not include {permission}; ask an admin.",
    )


async def posted(
    web: Web, request: Any, permission: Permission | None = None, allow_enrolment: bool = False
) -> Any:
    """For a POST: the guarded session and its form, or the refusal; a form without this
    session's CSRF token is refused (403) before anything is read from it."""
    session = await guard(web, request, permission, allow_enrolment)
    if not isinstance(session, WebSession):
        return session, None
    form = await request.form()
    if not csrf_matches_session(session, form.get(CSRF_FIELD)):
        return forbidden_csrf(web, request, session), None
    return session, form


def forbidden_csrf(web: Web, request: Any, session: WebSession | None) -> Any:
    web.runtime.record(
        session.principal.label if session else "anonymous",
        "web:csrf",
        request.url.path,
        "denied",
        _meta(request),
    )
    return web.error(
        request,
        session,
        403,
        "Form refused",
        "This form was not sent from this site's own page (or its page "
        "is too old). Open the page again and resend it.",
    )


def _meta(request: Any) -> Any:
    from serving.web.session import meta_of

    return meta_of(request)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path of this app only (never another site)."""
    if not target or not target.startswith("/web/") or target.startswith("//") or "\\" in target:
        return "/web/"
    return target


__all__ = [
    "NotReady",
    "Web",
    "forbidden_csrf",
    "guard",
    "navigation",
    "posted",
    "safe_next",
]
