"""One OpenAPI document for a whole service, served with Swagger UI at ``/docs``.

BentoML describes the routes it serves itself (``/v1/credit/score``...), FastAPI the
platform app's (``/auth/*``, ``GET /v1/models``, the emotion and edge routes); a reader
needs both in one place, with the two ways to authenticate declared, so "Try it out" can
send a key or a token.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

# Routes anyone may call: no credential in the docs' "Try it out" either.
PUBLIC_PATHS = frozenset(
    {"/livez", "/readyz", "/healthz", "/metrics", "/auth/login", "/auth/token/refresh"}
)
SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A service or edge_device key (`senim keys create`).",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /auth/login (with 2FA where required).",
    },
}


def merged_openapi(service_spec: dict[str, Any], platform_spec: dict[str, Any]) -> dict:
    """The service's document with the platform app's paths and schemas added (the
    service's own win on a clash) and the security schemes declared on every route but
    the public ones."""
    merged = copy.deepcopy(service_spec)
    merged.setdefault("paths", {})
    for path, operations in platform_spec.get("paths", {}).items():
        merged["paths"].setdefault(path, operations)
    components = merged.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in platform_spec.get("components", {}).get("schemas", {}).items():
        schemas.setdefault(name, schema)
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in merged["paths"].items():
        for operation in operations.values():
            if isinstance(operation, dict):
                public = path in PUBLIC_PATHS
                operation["security"] = [] if public else [{"ApiKey": []}, {"Bearer": []}]
    return merged


def add_service_docs(app: Any, service_spec: Callable[[], dict], title: str) -> None:
    """``/docs`` (Swagger UI, local files) and ``/docs/openapi.json`` on ``app``."""
    from senim.api_docs import add_docs

    cached: list[dict] = []

    @app.get("/docs/openapi.json", include_in_schema=False)
    def service_openapi() -> dict:
        if not cached:
            cached.append(merged_openapi(service_spec(), app.openapi()))
        return cached[0]

    add_docs(app, title=title, docs_url="/docs", openapi_url="/docs/openapi.json")
