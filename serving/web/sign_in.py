"""Sign-in, sign-out and the start page.

Sign-in is the API's login (``auth.login.login``): the same lockout, rate limits, risk
rules, second factor and audit. The one "code" field takes the authenticator's six digits
or, as the fallback, a recovery code. The sign-in form is protected against CSRF with a
nonce cookie and its HMAC in the form (there is no session yet to bind it to).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request  # module level: FastAPI resolves the annotation

from auth.errors import AuthError, TotpRequired
from auth.permissions import Permission
from serving.web.session import (
    ACCESS_COOKIE,
    CSRF_FIELD,
    NONCE_COOKIE,
    REFRESH_COOKIE,
    WebSession,
    clear_session_cookies,
    csrf_matches,
    csrf_token,
    meta_of,
    new_nonce,
    set_nonce_cookie,
    set_session_cookies,
)

MAX_FIELD_CHARS = 256


def add_sign_in_routes(app: Any, web: Any) -> None:
    from fastapi.responses import RedirectResponse
    from starlette.concurrency import run_in_threadpool

    from serving.web.context import (
        csrf_matches_session,
        forbidden_csrf,
        guard,
        posted,
        safe_next,
    )

    def sign_in_page(
        request: Request,
        status: int = 200,
        *,
        problem: str = "",
        username: str = "",
        target: str = "/web/",
        needs_code: bool = False,
    ):
        nonce = new_nonce()
        response = web.page(
            request,
            None,
            "sign_in.html",
            status,
            title="Sign in",
            problem=problem,
            username=username,
            target=target,
            needs_code=needs_code,
            signin_csrf=csrf_token(web.runtime, f"sign-in:{nonce}"),
        )
        set_nonce_cookie(response, nonce, web.secure)
        return response

    @app.get("/web/sign-in")
    async def sign_in_form(request: Request, next: str = "/web/") -> Any:  # noqa: A002
        return sign_in_page(request, target=safe_next(next))

    @app.post("/web/sign-in")
    async def sign_in(request: Request) -> Any:
        from auth.login import login

        form = await request.form()
        nonce = request.cookies.get(NONCE_COOKIE, "")
        if not nonce or not csrf_matches(web.runtime, f"sign-in:{nonce}", form.get(CSRF_FIELD)):
            return forbidden_csrf(web, request, None)
        username = _text(form.get("username"))
        password = _text(form.get("password"))
        code = _text(form.get("code")).replace(" ", "")
        target = safe_next(_text(form.get("next")))
        if not username or not password:
            return sign_in_page(
                request,
                422,
                problem="Enter your username and password.",
                username=username,
                target=target,
            )
        totp = code if code.isdigit() and len(code) == 6 else None
        recovery = code if code and totp is None else None
        try:
            pair = await run_in_threadpool(
                login,
                web.runtime,
                username,
                password,
                meta_of(request),
                totp_code=totp,
                recovery_code=recovery,
            )
        except TotpRequired:
            return sign_in_page(
                request,
                401,
                problem="Enter the 6-digit code from your authenticator app (or a recovery code).",
                username=username,
                target=target,
                needs_code=True,
            )
        except AuthError as exc:
            return sign_in_page(
                request,
                exc.status,
                problem=_sign_in_problem(exc),
                username=username,
                target=target,
                needs_code=bool(code),
            )
        response = RedirectResponse(target, status_code=303)
        set_session_cookies(response, pair, web.secure, web.params.auth.refresh_token_days)
        response.delete_cookie(NONCE_COOKIE, path="/web")
        return response

    @app.post("/web/sign-out")
    async def sign_out(request: Request) -> Any:
        from auth.sessions import logout

        session = await run_in_threadpool(web.session, request)
        response = RedirectResponse("/web/sign-in", status_code=303)
        clear_session_cookies(response, web.secure)
        if session is None:
            return response
        form = await request.form()
        if not csrf_matches_session(session, form.get(CSRF_FIELD)):
            return forbidden_csrf(web, request, session)
        refresh = request.cookies.get(REFRESH_COOKIE)
        access = session.access_token or request.cookies.get(ACCESS_COOKIE, "")
        try:
            await run_in_threadpool(logout, web.runtime, access, refresh, meta_of(request))
        except AuthError:
            pass  # already ended: the cookies go either way
        return response

    @app.get("/web/enroll")
    async def enrol_form(request: Request) -> Any:
        """First sign-in of a role that needs two factors: scan, then confirm a code."""
        from auth.login import enroll_totp

        session = await guard(web, request, allow_enrolment=True)
        if not isinstance(session, WebSession):
            return session
        if session.principal.mfa_satisfied:
            return RedirectResponse("/web/", status_code=303)
        try:
            enrolment = await run_in_threadpool(
                enroll_totp, web.runtime, session.principal.subject, meta_of(request)
            )
        except AuthError as exc:
            return web.error(request, session, exc.status, "Two-factor enrolment", exc.message)
        return web.page(
            request,
            session,
            "enroll.html",
            title="Set up two-factor sign-in",
            enrolment=_enrolment_view(enrolment),
            problem="",
        )

    @app.post("/web/enroll")
    async def enrol(request: Request) -> Any:
        from auth.login import confirm_totp

        session, form = await posted(web, request, allow_enrolment=True)
        if form is None:
            return session
        code = _text(form.get("code")).replace(" ", "")
        try:
            confirmed = await run_in_threadpool(
                confirm_totp, web.runtime, session.principal.subject, code, meta_of(request)
            )
        except AuthError as exc:
            message = (
                "That code is not valid: enter the current one."
                if exc.code == "totp_invalid"
                else exc.message
            )
            return web.page(
                request,
                session,
                "enroll.html",
                exc.status,
                title="Set up two-factor sign-in",
                enrolment=None,
                problem=message,
            )
        response = web.page(
            request,
            None,
            "enrolled.html",
            title="Two-factor sign-in is on",
            codes=confirmed.recovery_codes,
        )
        set_session_cookies(
            response, confirmed.tokens, web.secure, web.params.auth.refresh_token_days
        )
        return response

    @app.get("/web/")
    async def home(request: Request) -> Any:
        session = await guard(web, request)
        if not isinstance(session, WebSession):
            return session
        return web.page(request, session, "home.html", title="Senim", cards=_cards(session))


def _cards(session: WebSession) -> list[tuple[str, str, str]]:
    cards = []
    if session.may(Permission.SCORE):
        cards.append(
            (
                "/web/score",
                "Score an application",
                "One company's figures, or a CSV file of many: band, 0-100 score, "
                "decision and the reasons.",
            )
        )
        cards.append(
            (
                "/web/history",
                "Your scored applications",
                "Search what you scored; export it as CSV.",
            )
        )
    if session.may(Permission.PROMOTE_MODEL):
        cards.append(
            (
                "/web/review",
                "Review models",
                "Versions awaiting review, their evidence beside the champion's; "
                "approve, reject or roll back.",
            )
        )
    if session.may(Permission.MANAGE_USERS):
        cards.append(("/web/admin/users", "Users and roles", "Accounts, roles, API keys."))
    if session.may(Permission.READ_AUDIT):
        cards.append(("/web/admin/audit", "Audit log", "Who did what, filtered."))
    return cards


def _enrolment_view(enrolment: Any) -> dict[str, str]:
    """The QR code as a data: URL (the page loads nothing else) and the key to type."""
    import base64
    from urllib.parse import parse_qs, urlparse

    secret = parse_qs(urlparse(enrolment.otpauth_uri).query).get("secret", [""])[0]
    return {
        "qr": "data:image/png;base64," + base64.b64encode(enrolment.qr_png).decode(),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    }


def _text(value: object) -> str:
    return str(value).strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


def _sign_in_problem(exc: AuthError) -> str:
    if exc.code == "invalid_credentials":
        return "The username or password is wrong."
    if exc.code == "totp_invalid":
        return "That code is not valid (or was already used). Enter the current code."
    return exc.message
