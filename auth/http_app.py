"""The auth HTTP API (FastAPI), mountable in the BentoML services under ``/auth``.

Every error is JSON ``{"error": <stable code>, "message": ...}`` with a 4xx status;
unexpected failures are a bare 500 ``internal_error`` without a trace.
"""

# No ``from __future__ import annotations``: FastAPI must see the dependency objects
# in the signatures (closures over ``runtime``), not strings it cannot resolve.

import base64
import logging
from typing import Annotated

from fastapi import Body, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from auth import accounts, machine_keys, sessions
from auth import login as login_flow
from auth.asgi import GuardMiddleware, request_meta
from auth.audit import query as audit_query
from auth.errors import AuthError, PermissionDenied
from auth.fastapi_deps import auth_error_handler, current_principal
from auth.http_models import (
    DB_INT_MAX,
    CodeBody,
    EnrolledResponse,
    ErrorResponse,
    Filter,
    KeyBody,
    LoginBody,
    LogoutBody,
    RefreshBody,
    RegisterBody,
    TokenResponse,
    UtcDatetime,
)
from auth.permissions import Permission
from auth.principals import Principal, require, require_fresh_sign_in
from auth.request_context import trusted_proxies_from_env
from auth.runtime import AuthRuntime, RequestMeta
from senim.api_docs import add_docs

log = logging.getLogger(__name__)

_ERRORS = {
    status: {"model": ErrorResponse}
    for status in (400, 401, 403, 404, 409, 413, 415, 422, 423, 429)
}
_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    415: "unsupported_media_type",
}


def _tokens(pair: sessions.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
        mfa_enrolled=pair.mfa_enrolled,
    )


def app_from_environment() -> FastAPI:
    """The auth API on the stores the environment selects (SENIM_HOME, SENIM_DATABASE_URL).

    For ``uvicorn --factory auth.http_app:app_from_environment``; services mount
    ``create_auth_app`` with their own runtime instead.
    """
    from senim.environment import prepare_home, resolve_stores

    prepare_home(resolve_stores())
    return create_auth_app(AuthRuntime.from_environment())


def create_auth_app(runtime: AuthRuntime) -> FastAPI:
    """The auth API bound to ``runtime``; no work happens until a request arrives."""
    app = FastAPI(
        title="Senim auth",
        version="1",
        docs_url=None,  # served below from local files, not FastAPI's CDN page
        openapi_url="/auth/openapi.json",
        redoc_url=None,
        responses=_ERRORS,
    )
    add_docs(app, title="Senim auth", docs_url="/auth/docs", openapi_url="/auth/openapi.json")
    trusted = trusted_proxies_from_env()
    app.add_middleware(GuardMiddleware, max_body_bytes=runtime.params.max_body_bytes)

    def meta(request: Request) -> RequestMeta:
        return request_meta(request.scope, trusted)

    Meta = Annotated[RequestMeta, Depends(meta)]
    Caller = Annotated[Principal, Depends(current_principal(runtime, trusted))]
    app.add_exception_handler(AuthError, auth_error_handler)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "problem": err.get("msg", "invalid"),
            }
            for err in exc.errors()
        ]
        return JSONResponse(
            {
                "error": "invalid_request",
                "message": "the request is invalid; see fields",
                "fields": fields,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the auth API")
        return JSONResponse(
            {"error": "internal_error", "message": "internal error"}, status_code=500
        )

    @app.post("/auth/login", response_model=TokenResponse)
    def post_login(body: LoginBody, m: Meta) -> TokenResponse:
        return _tokens(
            login_flow.login(
                runtime,
                body.username,
                body.password,
                m,
                totp_code=body.totp_code,
                recovery_code=body.recovery_code,
            )
        )

    @app.post("/auth/register", status_code=201)
    def post_register(body: RegisterBody, caller: Caller, m: Meta) -> dict:
        _user_only(runtime, caller, m, "user:create")
        require(runtime, caller, Permission.MANAGE_USERS, m, "user")
        user = accounts.create_user(
            runtime,
            body.username,
            body.password,
            body.roles,
            m,
            actor_id=caller.label,
            actor_roles=caller.roles,
            email=body.email,
        )
        return {"id": user.id, "username": user.username, "roles": user.roles}

    @app.post("/auth/totp/enroll")
    def post_enroll(caller: Caller, m: Meta) -> dict:
        _user_only(runtime, caller, m, "totp:enroll")
        runtime.enforce_limit(runtime.limiters.token_ip, f"totp:{m.ip}", m, caller.label)
        enrollment = login_flow.enroll_totp(runtime, caller.subject, m)
        return {
            "otpauth_uri": enrollment.otpauth_uri,
            "qr_png_base64": base64.b64encode(enrollment.qr_png).decode(),
        }

    @app.post("/auth/totp/confirm", response_model=EnrolledResponse)
    def post_confirm(body: CodeBody, caller: Caller, m: Meta) -> dict:
        _user_only(runtime, caller, m, "totp:confirm")
        runtime.enforce_limit(
            runtime.limiters.login_identity, f"totp:{caller.subject}", m, caller.label
        )
        confirmed = login_flow.confirm_totp(runtime, caller.subject, body.code, m)
        return {
            "recovery_codes": confirmed.recovery_codes,
            **_tokens(confirmed.tokens).model_dump(),
        }

    @app.post("/auth/token/refresh", response_model=TokenResponse)
    def post_refresh(body: RefreshBody, m: Meta) -> TokenResponse:
        runtime.enforce_limit(runtime.limiters.token_ip, f"refresh:{m.ip}", m)
        return _tokens(sessions.refresh_tokens(runtime, body.refresh_token, m))

    @app.post("/auth/logout", status_code=204)
    def post_logout(
        request: Request, caller: Caller, m: Meta, body: Annotated[LogoutBody | None, Body()] = None
    ) -> None:
        """Ends this access token at once, and the refresh token's session (every session
        of the account when no refresh token is sent)."""
        _user_only(runtime, caller, m, "logout")
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        sessions.logout(runtime, token, body.refresh_token if body else None, m)

    @app.get("/auth/me")
    def get_me(caller: Caller) -> dict:
        return {
            "subject": caller.subject,
            "kind": caller.kind,
            "roles": list(caller.roles),
            "permissions": sorted(caller.permissions),
            "mfa_satisfied": caller.mfa_satisfied,
        }

    @app.post("/auth/keys", status_code=201)
    def post_key(body: KeyBody, caller: Caller, m: Meta) -> dict:
        """Mint a machine key (role ``service`` or ``edge_device``). Needs a sign-in with
        the second factor in the last ``auth.key_creation_max_auth_age_seconds``."""
        _user_only(runtime, caller, m, "api_key:create")
        require(runtime, caller, Permission.CREATE_API_KEY, m, "api_key")
        require_fresh_sign_in(runtime, caller, m, "api_key:create")
        created = machine_keys.create_key(
            runtime,
            body.name,
            body.role,
            m,
            actor_id=caller.label,
            actor_roles=caller.roles,
            scopes=body.scopes,
            expires_in_days=body.expires_in_days,
            re_enrol=body.re_enrol,
        )
        return {"key": created.key, **_key_json(created.view)}

    @app.get("/auth/keys")
    def get_keys(caller: Caller, m: Meta) -> list[dict]:
        """Every key for user managers; the caller's own keys for anyone else."""
        require(runtime, caller, Permission.CREATE_API_KEY, m, "api_key")
        everyone = Permission.MANAGE_USERS in caller.permissions
        minted_by = None if everyone else caller.subject
        return [_key_json(v) for v in machine_keys.list_keys(runtime, minted_by=minted_by)]

    @app.delete("/auth/keys/{prefix}")
    def delete_key(
        prefix: Annotated[str, Path(pattern="^[a-z0-9]{1,32}$")], caller: Caller, m: Meta
    ) -> dict:
        _user_only(runtime, caller, m, "api_key:revoke")
        require(runtime, caller, Permission.REVOKE_API_KEY, m, f"key:{prefix}")
        return _key_json(
            machine_keys.revoke_key(
                runtime, prefix, m, actor_id=caller.label, actor_roles=caller.roles
            )
        )

    @app.get("/auth/audit")
    def get_audit(
        caller: Caller,
        m: Meta,
        actor: Annotated[Filter | None, Query()] = None,
        action: Annotated[Filter | None, Query()] = None,
        outcome: Annotated[str | None, Query(pattern="^(success|failure|denied|alert)$")] = None,
        since: Annotated[
            UtcDatetime | None, Query(description="inclusive, with a UTC offset")
        ] = None,
        until: Annotated[
            UtcDatetime | None, Query(description="exclusive, with a UTC offset")
        ] = None,
        limit_: Annotated[int, Query(alias="limit", ge=1, le=1000)] = 100,
        before_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    ) -> list[dict]:
        require(runtime, caller, Permission.READ_AUDIT, m, "audit")
        runtime.audit.flush()
        with runtime.sessions() as session:
            rows = audit_query(
                session,
                actor=actor,
                action=action,
                outcome=outcome,
                since=since,
                until=until,
                limit=limit_,
                before_id=before_id,
            )
            return [
                {
                    "id": r.id,
                    "at": r.at.isoformat(),
                    "actor": r.actor,
                    "action": r.action,
                    "resource": r.resource,
                    "outcome": r.outcome,
                    "client_ip": r.client_ip,
                    "request_id": r.request_id,
                    "details": r.details,
                }
                for r in rows
            ]

    return app


def _user_only(runtime: AuthRuntime, caller: Principal, meta: RequestMeta, action: str) -> None:
    """Account, key and 2FA management need a person, never a machine key."""
    if caller.kind != "user":
        runtime.record(caller.label, action, "", "denied", meta, reason="api_key_not_allowed")
        raise PermissionDenied("this endpoint is for user accounts, not API keys")


def _key_json(view: machine_keys.ApiKeyView) -> dict:
    return {
        "prefix": view.prefix,
        "name": view.name,
        "role": view.role,
        "scopes": view.scopes,
        "created_at": view.created_at.isoformat(),
        "expires_at": view.expires_at.isoformat() if view.expires_at else None,
        "last_used_at": view.last_used_at.isoformat() if view.last_used_at else None,
        "revoked_at": view.revoked_at.isoformat() if view.revoked_at else None,
    }
