"""Prometheus labels by route, never by raw path.

BentoML's traffic metrics label every request with ``scope["path"]``, so each unknown
path a client sends (404s, 401s under ``/v1/``) becomes a new time series and
``/metrics`` grows without bound. ``install_route_labels`` wraps BentoML's metrics
middleware so it sees a route template (``/auth/keys/{prefix}``) instead, and one shared
label (``unmatched``) for any path no route serves; the request itself is routed on its
real path, untouched.
"""

from __future__ import annotations

import re
from typing import Any

UNMATCHED = "unmatched"
_ORIGINAL_PATH = "senim.original_path"

# Every route the two services and the auth API serve; templated where a part varies.
ROUTES: tuple[str, ...] = (
    "/v1/credit/score",
    "/v1/credit/score_batch",
    "/v1/emotion/predict",
    "/v1/emotion/predict_faces",
    "/v1/models",
    "/v1/edge/models/{model}/manifest",
    "/v1/edge/models/{model}/artifact/{version}",
    "/v1/edge/events",
    "/v1/edge/heartbeat",
    "/v1/edge/hosts",
    "/auth/login",
    "/auth/register",
    "/auth/totp/enroll",
    "/auth/totp/confirm",
    "/auth/token/refresh",
    "/auth/logout",
    "/auth/me",
    "/auth/keys",
    "/auth/keys/{prefix}",
    "/auth/audit",
    "/auth/openapi.json",
    "/auth/docs",
    "/auth/docs/init.js",
    "/auth/docs/assets/{file}",
    "/docs",
    "/docs.json",
    "/docs/init.js",
    "/docs/openapi.json",
    "/docs/assets/{file}",
    "/",
    "/livez",
    "/readyz",
    "/healthz",
    "/metrics",
)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-z_]+\})", template)
    body = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    if template.endswith("{file}"):
        body = body.removesuffix("[^/]+") + ".+"
    return re.compile(body + "/?")


_COMPILED = tuple((template, _pattern(template)) for template in ROUTES)


def route_label(path: str) -> str:
    """The template of the route serving ``path``, or ``unmatched``."""
    for template, pattern in _COMPILED:
        if pattern.fullmatch(path):
            return template
    return UNMATCHED


class _RestorePath:
    """Inside the metrics middleware: route the request on its real path again."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if _ORIGINAL_PATH in scope:
            scope = {**scope, "path": scope[_ORIGINAL_PATH]}
            scope.pop(_ORIGINAL_PATH)
        await self.app(scope, receive, send)


def route_labelled(metrics_middleware: type) -> type:
    """A metrics middleware class that labels by ``route_label`` instead of the path."""

    class RouteLabelledMetrics:
        def __init__(self, app: Any, **options: Any) -> None:
            self.inner = metrics_middleware(_RestorePath(app), **options)

        async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
            if scope.get("type") == "http":
                scope = {**scope, _ORIGINAL_PATH: scope["path"], "path": route_label(scope["path"])}
            await self.inner(scope, receive, send)

    RouteLabelledMetrics.__name__ = f"RouteLabelled{metrics_middleware.__name__}"
    return RouteLabelledMetrics


def install_route_labels() -> None:
    """Make BentoML's service app use route-labelled traffic metrics. BentoML looks the
    middleware up when it builds the app, so this must run before (the service modules
    call it when they are imported, like their other BentoML declarations)."""
    from bentoml._internal.server.http import instruments

    current = instruments.RunnerTrafficMetricsMiddleware
    if not current.__name__.startswith("RouteLabelled"):
        instruments.RunnerTrafficMetricsMiddleware = route_labelled(current)
