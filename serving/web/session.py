"""Browser sessions on the auth layer's tokens: cookies, renewal, CSRF.

A sign-in is ``auth.login.login`` (lockout, rate limits, risk rules and audit as for the
API); the access token and the refresh token it returns live in two cookies that scripts
cannot read (``HttpOnly``), that are never sent from another site (``SameSite=Strict``)
and, unless ``web.secure_cookies`` is false, only over https (``Secure``). An expired
access token is renewed from the refresh token (rotation, reuse detection) on the next
page. Sign-out revokes both (``auth.sessions.logout``).

Every form carries a CSRF token: for a session, an HMAC of its refresh family (stable
across renewals, void once the session ends); before sign-in, an HMAC of a random nonce
kept in its own cookie. The HMAC key is derived from the auth layer's secret box key, so
every worker of a service agrees on it and nothing new has to be stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from auth.asgi import request_meta
from auth.errors import AuthError, TokenExpired
from auth.permissions import Permission, has_permission
from auth.principals import Principal, authenticate_bearer
from auth.request_context import trusted_proxies_from_env
from auth.runtime import AuthRuntime, RequestMeta
from auth.sessions import TokenPair, refresh_tokens
from auth.tokens import decode_access_token

ACCESS_COOKIE = "senim_session"
REFRESH_COOKIE = "senim_refresh"
NONCE_COOKIE = "senim_signin"
COOKIE_PATH = "/web"
CSRF_FIELD = "csrf"


@dataclass
class WebSession:
    """A signed-in browser: who, their token, and the CSRF token its forms carry."""

    principal: Principal
    username: str
    access_token: str
    csrf: str
    renewed: TokenPair | None = field(default=None, repr=False)

    def may(self, permission: Permission) -> bool:
        return self.principal.mfa_satisfied and has_permission(self.principal.roles, permission)


def meta_of(request: Any) -> RequestMeta:
    return request_meta(request.scope, trusted_proxies_from_env())


def csrf_key(runtime: AuthRuntime) -> bytes:
    return runtime.secret_box.derive_key(b"senim-web-csrf")


def csrf_token(runtime: AuthRuntime, purpose: str) -> str:
    digest = hmac.new(csrf_key(runtime), purpose.encode(), hashlib.sha256).hexdigest()
    return digest


def csrf_matches(runtime: AuthRuntime, purpose: str, presented: object) -> bool:
    if not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(csrf_token(runtime, purpose), presented)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def session_of(runtime: AuthRuntime, request: Any) -> WebSession | None:
    """The browser's session, renewed from its refresh token when the access token has
    expired; None when there is none (or it was ended, disabled or tampered with)."""
    access = request.cookies.get(ACCESS_COOKIE)
    refresh = request.cookies.get(REFRESH_COOKIE)
    renewed = None
    principal = None
    if access:
        try:
            principal = authenticate_bearer(runtime, access)
        except TokenExpired:
            principal = None
        except AuthError:
            return None
    if principal is None:
        if not refresh:
            return None
        try:
            renewed = refresh_tokens(runtime, refresh, meta_of(request))
            access = renewed.access_token
            principal = authenticate_bearer(runtime, access)
        except AuthError:
            return None
    claims = decode_access_token(runtime.tokens, access, now=runtime.now())
    family = str(claims.extra.get("fam") or claims.jti)
    return WebSession(
        principal=principal,
        username=_username(runtime, principal.subject),
        access_token=access,
        csrf=csrf_token(runtime, f"session:{family}"),
        renewed=renewed,
    )


def set_session_cookies(response: Any, pair: TokenPair, secure: bool, refresh_days: int) -> None:
    common = {"httponly": True, "samesite": "strict", "secure": secure, "path": COOKIE_PATH}
    response.set_cookie(ACCESS_COOKIE, pair.access_token, **common)
    response.set_cookie(REFRESH_COOKIE, pair.refresh_token, max_age=refresh_days * 86_400, **common)


def clear_session_cookies(response: Any, secure: bool) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(
            name, path=COOKIE_PATH, secure=secure, httponly=True, samesite="strict"
        )


def set_nonce_cookie(response: Any, nonce: str, secure: bool) -> None:
    response.set_cookie(
        NONCE_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=secure,
        path=COOKIE_PATH,
        max_age=3600,
    )


def _username(runtime: AuthRuntime, user_id: str) -> str:
    from auth.models import User

    with runtime.sessions() as session:
        user = session.get(User, user_id)
        return user.username if user is not None else user_id
