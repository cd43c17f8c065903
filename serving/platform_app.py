"""The non-BentoML parts of a Senim service: the auth API, ``GET /v1/models``, any routes
the family adds (the emotion service's image upload and edge distribution), and auth on
``/v1/*``, all bound to a ``ServingState`` that loads after the app is built.

BentoML builds its ASGI app (mounts and middlewares) before the service instance exists,
so these take the state and look the runtime up per request: 503 until it is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auth.asgi import ASGIApp, AuthMiddleware, Receive, Scope, Send, send_json
from auth.errors import AuthError
from auth.permissions import Permission
from auth.request_context import trusted_proxies_from_env
from serving.serving_state import ServingState

# Adds a family's own routes to the platform app, once the auth runtime is up.
Extend = Callable[[Any, Any, ServingState], None]  # (FastAPI app, auth runtime, state)

# First match wins; any other /v1/ path only needs a valid caller.
REQUIRED_PERMISSIONS: tuple[tuple[str, Permission], ...] = (
    ("/v1/credit/outcomes", Permission.SUBMIT_OUTCOMES),
    ("/v1/credit/", Permission.SCORE),
    ("/v1/models", Permission.READ_MODELS),
    ("/v1/monitoring/", Permission.READ_MODELS),
)


class ServingAuth:
    """``AuthMiddleware`` on ``/v1/*`` with the routes' permissions; skipped only when the
    state says auth is disabled (``SENIM_SERVING_INSECURE_NO_AUTH=1``, benchmarks)."""

    def __init__(
        self,
        app: ASGIApp,
        state: ServingState,
        required: tuple[tuple[str, Permission], ...] = REQUIRED_PERMISSIONS,
    ) -> None:
        self.app = app
        self.state = state
        self.guarded = AuthMiddleware(
            app,
            runtime=state.runtime,
            protected_prefixes=("/v1/",),
            trusted_proxies=trusted_proxies_from_env(),
            required=required,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.state.auth_disabled:
            await self.app(scope, receive, send)
            return
        await self.guarded(scope, receive, send)


class LazyPlatformApp:
    """The auth API (``/auth/*``) plus ``GET /v1/models`` (and ``extend``'s routes), and
    with ``service_spec`` the whole service's docs at ``/docs``, built on first use."""

    def __init__(
        self,
        state: ServingState,
        extend: Extend | None = None,
        service_spec: Callable[[], dict] | None = None,
        title: str = "Senim service",
    ) -> None:
        self.state = state
        self.extend = extend
        self.service_spec = service_spec
        self.title = title
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        if self._app is None:
            try:
                runtime = self.state.runtime()
            except AuthError as exc:
                await send_json(send, exc.status, exc.to_dict())
                return
            self._app = build_platform_app(
                runtime, self.state, self.extend, self.service_spec, self.title
            )
        # Mounted under a prefix: route on the full path, as the auth API declares it.
        await self._app({**scope, "root_path": ""}, receive, send)


def build_platform_app(
    runtime: Any,
    state: ServingState,
    extend: Extend | None = None,
    service_spec: Callable[[], dict] | None = None,
    title: str = "Senim service",
):
    from auth.http_app import create_auth_app

    app = create_auth_app(runtime)

    @app.get("/v1/models", tags=["models"])
    def get_models() -> dict[str, Any]:
        """What this service is serving: version, alias, metrics, data version."""
        loaded = state.loaded
        if loaded is None:  # the middleware already answers 503 before load
            return {"models": []}
        return {"models": loaded.model_cards()}

    if extend is not None:
        extend(app, runtime, state)
    if service_spec is not None:
        from serving.service_docs import add_service_docs

        add_service_docs(app, service_spec, title)
    return app


__all__ = ["LazyPlatformApp", "ServingAuth", "build_platform_app", "send_json"]
