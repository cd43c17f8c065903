"""The non-BentoML parts of a Senim service: the auth API, ``GET /v1/models``, and auth
on ``/v1/*``, all bound to a ``CreditServingState`` that loads after the app is built.

BentoML builds its ASGI app (mounts and middlewares) before the service instance exists,
so these take the state and look the runtime up per request: 503 until it is loaded.
"""

from __future__ import annotations

from typing import Any

from auth.asgi import ASGIApp, AuthMiddleware, Receive, Scope, Send, send_json
from auth.errors import AuthError
from auth.permissions import Permission
from auth.request_context import trusted_proxies_from_env
from serving.credit_serving_state import CreditServingState

# First match wins; any other /v1/ path only needs a valid caller.
REQUIRED_PERMISSIONS: tuple[tuple[str, Permission], ...] = (
    ("/v1/credit/", Permission.SCORE),
    ("/v1/models", Permission.READ_MODELS),
)


class ServingAuth:
    """``AuthMiddleware`` on ``/v1/*`` with the routes' permissions; skipped only when the
    state says auth is disabled (``SENIM_SERVING_INSECURE_NO_AUTH=1``, benchmarks)."""

    def __init__(self, app: ASGIApp, state: CreditServingState) -> None:
        self.app = app
        self.state = state
        self.guarded = AuthMiddleware(
            app,
            runtime=state.runtime,
            protected_prefixes=("/v1/",),
            trusted_proxies=trusted_proxies_from_env(),
            required=REQUIRED_PERMISSIONS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.state.auth_disabled:
            await self.app(scope, receive, send)
            return
        await self.guarded(scope, receive, send)


class LazyPlatformApp:
    """The auth API (``/auth/*``) plus ``GET /v1/models``, built on first use."""

    def __init__(self, state: CreditServingState) -> None:
        self.state = state
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
            self._app = build_platform_app(runtime, self.state)
        # Mounted under a prefix: route on the full path, as the auth API declares it.
        await self._app({**scope, "root_path": ""}, receive, send)


def build_platform_app(runtime: Any, state: CreditServingState):
    from auth.http_app import create_auth_app

    app = create_auth_app(runtime)

    @app.get("/v1/models", tags=["models"])
    def get_models() -> dict[str, Any]:
        """What this service is serving: version, alias, metrics, data version."""
        loaded = state.loaded
        if loaded is None:  # the middleware already answers 503 before load
            return {"models": []}
        card = loaded.scorer.card
        return {
            "models": [
                {
                    "name": card.model_name,
                    "version": card.model_version,
                    "alias": card.alias,
                    "bento_model": card.bento_tag,
                    "run_id": card.run_id,
                    "data_version": card.data_version,
                    "git_commit": card.git_commit,
                    "metrics": card.metrics,
                }
            ]
        }

    return app


__all__ = ["LazyPlatformApp", "ServingAuth", "build_platform_app", "send_json"]
