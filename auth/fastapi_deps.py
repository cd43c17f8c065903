"""FastAPI glue for any service behind the auth layer: who is calling, may they do this.

``require_permission(runtime, Permission.SCORE)`` is a dependency that yields the caller's
``Principal`` or ends the request with a 4xx JSON error (install ``auth_error_handler``
for ``AuthError`` on the app). It reuses the principal ``AuthMiddleware`` put in
``scope["state"]``, or authenticates the headers itself where no middleware ran.

A module that declares routes with ``Depends(require_permission(...))`` made inside a
function must not use ``from __future__ import annotations``: FastAPI would see the
annotation as a string it cannot resolve and treat the parameter as a query field.
"""

# No ``from __future__ import annotations``: FastAPI must see the dependency objects
# in the signatures (closures over ``runtime``), not strings it cannot resolve.

from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer

from auth.asgi import request_meta
from auth.errors import AuthError
from auth.permissions import Permission
from auth.principals import Principal, authenticate_headers, require
from auth.request_context import trusted_proxies_from_env
from auth.runtime import AuthRuntime

# Declared for the OpenAPI document only (auto_error=False): the headers themselves are
# read and checked by ``authenticate_headers``, with its own error codes.
BEARER_SCHEME = HTTPBearer(auto_error=False, description="Access token from /auth/login")
API_KEY_SCHEME = APIKeyHeader(name="X-API-Key", auto_error=False, description="Machine API key")


async def auth_error_handler(_: Request, exc: AuthError) -> JSONResponse:
    """``{"error": code, "message": ...}`` with the error's status, Retry-After and, for
    401, ``WWW-Authenticate``."""
    headers = {}
    if getattr(exc, "retry_after", None):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


def current_principal(
    runtime: AuthRuntime, trusted_proxies: Iterable | None = None
) -> Callable[..., Principal]:
    """A dependency returning the authenticated caller (any valid token or key)."""
    trusted = tuple(trusted_proxies_from_env() if trusted_proxies is None else trusted_proxies)

    def principal(
        request: Request,
        _bearer: Annotated[object, Security(BEARER_SCHEME)] = None,
        _key: Annotated[object, Security(API_KEY_SCHEME)] = None,
    ) -> Principal:
        state = request.scope.setdefault("state", {})
        found = state.get("principal")
        if isinstance(found, Principal):
            return found
        headers = request.headers
        found = authenticate_headers(
            runtime,
            headers.get("authorization"),
            headers.get("x-api-key"),
            request_meta(request.scope, trusted),
        )
        state["principal"] = found
        return found

    return principal


def require_permission(
    runtime: AuthRuntime,
    permission: Permission,
    *,
    resource: str = "",
    trusted_proxies: Iterable | None = None,
) -> Callable[..., Principal]:
    """A dependency that lets the caller through only with ``permission`` (and 2FA done
    where their role needs it); every denial is audited."""
    trusted = tuple(trusted_proxies_from_env() if trusted_proxies is None else trusted_proxies)
    caller = current_principal(runtime, trusted)

    def allowed(request: Request, principal: Annotated[Principal, Depends(caller)]) -> Principal:
        meta = request_meta(request.scope, trusted)
        return require(runtime, principal, permission, meta, resource or request.url.path)

    return allowed
