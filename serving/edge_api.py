"""The HTTP side of model distribution to camera hosts (paths from ``edge.protocol``).

- ``GET /v1/edge/models/{model}/manifest``: the signed manifest of the served release.
- ``GET /v1/edge/models/{model}/artifact/{version}``: its int8 TFLite file, with Range
  (resumable downloads over poor links) and ``ETag`` = the file's sha256.
- ``POST /v1/edge/events``: one ``EdgeEvent``; ``Idempotency-Key`` must equal its
  ``event_id``. 201 stored, 200 a duplicate, 409 the key was used for another event.
- ``POST /v1/edge/heartbeat``: one ``Heartbeat``, kept as the host's latest; 204.

Mount the app behind ``auth.asgi.AuthMiddleware`` with ``EDGE_REQUIRED_PERMISSIONS``.
Each handler checks its permission again, so a mount that forgets the tuple still
refuses a ``service`` key. A key posts only for the host it is named after; admins may
post for any. Every pull and every event is audited; heartbeats only when refused (a
fleet beating every few seconds would bury the trail).

The signing key and the registry client load on first use, not when the app is built,
so building it has no side effects; ``LazyEdgeApp`` defers building too.
"""

# No ``from __future__ import annotations``: FastAPI resolves the handler signatures.

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from auth.asgi import Receive, Scope, Send, request_meta
from auth.errors import AuthError
from auth.fastapi_deps import auth_error_handler, current_principal
from auth.permissions import Permission
from auth.principals import Principal, require
from auth.request_context import trusted_proxies_from_env
from auth.runtime import AuthRuntime, RequestMeta
from edge.protocol import (
    EVENTS_PATH,
    HEARTBEAT_PATH,
    IDEMPOTENCY_HEADER,
    EdgeEvent,
    Heartbeat,
    ProtocolError,
)
from senim.environment import Stores
from senim.errors import ConfigError, StoreUnreachableError
from serving.edge_distribution import (
    ArtifactIntegrityError,
    EdgeDistribution,
    EdgeModelNotFound,
)
from serving.edge_signing import EdgeSigningKey, signing_key_for
from serving.edge_store import (
    IdempotencyConflict,
    host_overview,
    may_post_for,
    record_event,
    record_heartbeat,
)

logger = logging.getLogger(__name__)

# For the service's AuthMiddleware ``required``; first match wins, so put these before
# any broader ``/v1/`` entry.
HOSTS_PATH = "/v1/edge/hosts"
EDGE_REQUIRED_PERMISSIONS: tuple[tuple[str, Permission], ...] = (
    ("/v1/edge/models/", Permission.PULL_EDGE_MODEL),
    (HOSTS_PATH, Permission.READ_EDGE_HOSTS),
    (EVENTS_PATH, Permission.POST_EDGE_EVENTS),
    (HEARTBEAT_PATH, Permission.POST_EDGE_EVENTS),
)
# An event or heartbeat is a few hundred bytes; this leaves room and no more.
MAX_BODY_BYTES = 16 * 1024
_FIELD = re.compile(r"(?:bad|missing field\(s\)|unknown field\(s\)) ([A-Za-z_]+)")


class EdgeError(Exception):
    """An answer other than success: ``{"error": code, "message": ..., "field"?: ...}``."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def to_dict(self) -> dict[str, str]:
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class EdgeBackend:
    """The signing key and the distribution, each loaded once on first use."""

    def __init__(
        self,
        stores: Stores,
        model_name: str,
        *,
        signing_key: EdgeSigningKey | None = None,
        distribution: EdgeDistribution | None = None,
    ) -> None:
        self.stores = stores
        self.model_name = model_name
        self._signing_key = signing_key
        self._distribution = distribution
        self._lock = threading.Lock()

    def online_seconds(self) -> int:
        """``emotion_service.edge_online_seconds`` from the workspace's params."""
        from senim.config import load_params

        return load_params(self.stores.params_path).emotion_service.edge_online_seconds

    def signing_key(self) -> EdgeSigningKey:
        with self._lock:
            if self._signing_key is None:
                self._signing_key = signing_key_for(self.stores)
            return self._signing_key

    def distribution(self) -> EdgeDistribution:
        key = self.signing_key()
        with self._lock:
            if self._distribution is None:
                from pipelines.common.mlflow_store import mlflow_client

                self._distribution = EdgeDistribution(
                    mlflow_client(self.stores),
                    self.model_name,
                    self.stores.home / "edge-cache",
                    key.key_id,
                )
            return self._distribution


def build_edge_app(
    runtime_getter: Callable[[], AuthRuntime],
    stores: Stores,
    model_name: str,
    *,
    signing_key: EdgeSigningKey | None = None,
    distribution: EdgeDistribution | None = None,
    trusted_proxies: Iterable | None = None,
) -> FastAPI:
    """The edge routes for registered model ``model_name`` (``fer.registry.model_name``).

    ``runtime_getter`` returns the auth runtime (it may raise ``AuthUnavailable`` while
    the service starts); ``signing_key``/``distribution`` default to the configured ones.
    """
    backend = EdgeBackend(stores, model_name, signing_key=signing_key, distribution=distribution)
    trusted = tuple(trusted_proxies_from_env() if trusted_proxies is None else trusted_proxies)
    app = FastAPI(title="Senim edge distribution", openapi_url=None, docs_url=None)
    app.add_exception_handler(AuthError, auth_error_handler)
    app.add_exception_handler(EdgeError, _edge_error_handler)
    for kind in (EdgeModelNotFound, ArtifactIntegrityError, StoreUnreachableError, ConfigError):
        app.add_exception_handler(kind, _translated_error_handler)

    def caller(request: Request, permission: Permission) -> tuple[AuthRuntime, Principal]:
        runtime = runtime_getter()
        principal = current_principal(runtime, trusted)(request)
        require(runtime, principal, permission, _meta(request, trusted), request.url.path)
        return runtime, principal

    @app.api_route("/v1/edge/models/{model}/manifest", methods=["GET"])
    def get_manifest(model: str, request: Request) -> JSONResponse:
        """The signed manifest: what the host should run and how to check its file."""
        runtime, principal = caller(request, Permission.PULL_EDGE_MODEL)
        audit = _Audit(runtime, principal, _meta(request, trusted), "edge:manifest", model)
        with audit:
            _known_model(model, backend.model_name)
            key = backend.signing_key()
            manifest = backend.distribution().manifest()
            audit.details.update(version=manifest.version, alias=manifest.alias)
            return JSONResponse(key.sign(manifest))

    @app.api_route("/v1/edge/models/{model}/artifact/{version}", methods=["GET", "HEAD"])
    def get_artifact(model: str, version: str, request: Request) -> FileResponse:
        """The version's int8 file; ``Range: bytes=N-`` resumes a broken download."""
        runtime, principal = caller(request, Permission.PULL_EDGE_MODEL)
        meta = _meta(request, trusted)
        audit = _Audit(runtime, principal, meta, "edge:artifact", f"{model}/{version}")
        with audit:
            _known_model(model, backend.model_name)
            _check_range(request.headers.get("range"))
            cached = backend.distribution().artifact(version)
            audit.details.update(range=request.headers.get("range"), sha256=cached.sha256)
            return FileResponse(
                cached.path,
                media_type="application/octet-stream",
                filename=f"{model}-{version}-int8.tflite",
                headers={"ETag": f'"{cached.sha256}"'},
            )

    @app.post(EVENTS_PATH)
    async def post_event(request: Request) -> JSONResponse:
        """Store one event once; a retry with the same Idempotency-Key is a duplicate."""
        runtime, principal = await run_in_threadpool(caller, request, Permission.POST_EDGE_EVENTS)
        meta = _meta(request, trusted)
        audit = _Audit(runtime, principal, meta, "edge:event", "")
        with audit:
            event = _parse(EdgeEvent, await _json_body(request), "invalid_event")
            audit.resource = f"event:{event.event_id}"
            audit.details.update(host_id=event.host_id)
            offered = request.headers.get(IDEMPOTENCY_HEADER)
            if offered != event.event_id:
                raise EdgeError(
                    400,
                    "idempotency_key_mismatch",
                    f"the {IDEMPOTENCY_HEADER} header must equal the event's event_id",
                    field=IDEMPOTENCY_HEADER,
                )
            await _may_post(runtime, principal, event.host_id)
            try:
                stored = await run_in_threadpool(record_event, runtime, event, principal.label)
            except IdempotencyConflict as exc:
                raise EdgeError(409, "idempotency_conflict", str(exc), "event_id") from None
            audit.details.update(status=stored.status)
            status = 201 if stored.status == "created" else 200
            return JSONResponse(
                {"event_id": event.event_id, "status": stored.status}, status_code=status
            )

    @app.get(HOSTS_PATH)
    def get_hosts(request: Request) -> JSONResponse:
        """The camera hosts: online or not, last heartbeat, model version, recent events."""
        runtime, _ = caller(request, Permission.READ_EDGE_HOSTS)
        online = backend.online_seconds()
        return JSONResponse({"hosts": host_overview(runtime, online_seconds=online)})

    @app.post(HEARTBEAT_PATH)
    async def post_heartbeat(request: Request) -> Response:
        """Keep the host's latest heartbeat: its model version, FPS and outbox depth."""
        runtime, principal = await run_in_threadpool(caller, request, Permission.POST_EDGE_EVENTS)
        heartbeat = _parse(Heartbeat, await _json_body(request), "invalid_heartbeat")
        if not await run_in_threadpool(may_post_for, runtime, principal, heartbeat.host_id):
            meta = _meta(request, trusted)
            runtime.record(
                principal.label, "edge:heartbeat", f"host:{heartbeat.host_id}", "denied", meta
            )
            raise _not_your_host(heartbeat.host_id)
        await run_in_threadpool(record_heartbeat, runtime, heartbeat, principal.label)
        return Response(status_code=204)

    return app


class LazyEdgeApp:
    """``build_edge_app`` on first request, for servers that mount ASGI apps before the
    auth runtime exists (BentoML). Routes match the full path, whatever the mount."""

    def __init__(
        self, runtime_getter: Callable[[], AuthRuntime], stores: Stores, model_name: str
    ) -> None:
        self.runtime_getter = runtime_getter
        self.stores = stores
        self.model_name = model_name
        self._app: FastAPI | None = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        with self._lock:
            if self._app is None:
                self._app = build_edge_app(self.runtime_getter, self.stores, self.model_name)
        await self._app({**scope, "root_path": ""}, receive, send)


# --------------------------------------------------------------------------- helpers


class _Audit:
    """Audits one request on the way out: success, or the failure that ended it."""

    def __init__(
        self, runtime: AuthRuntime, principal: Principal, meta: RequestMeta, action: str, res: str
    ) -> None:
        self.runtime, self.principal, self.meta = runtime, principal, meta
        self.action, self.resource = action, res
        self.details: dict[str, Any] = {}

    def __enter__(self) -> "_Audit":
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, _tb: Any) -> None:
        if exc is None:
            outcome = "success"
        else:
            exc = _as_edge_error(exc)
            outcome = "denied" if exc is not None and exc.status == 403 else "failure"
            self.details["error"] = exc.code if exc is not None else "internal_error"
        self.runtime.record(
            self.principal.label, self.action, self.resource, outcome, self.meta, **self.details
        )
        return None


def _as_edge_error(exc: BaseException) -> EdgeError | None:
    """The client-facing form of an error; server-side details go to the log only."""
    if isinstance(exc, EdgeError):
        return exc
    if isinstance(exc, EdgeModelNotFound):
        return EdgeError(404, "model_not_found", str(exc))
    if isinstance(exc, ArtifactIntegrityError):
        logger.error("edge artifact refused: %s", exc)
        return EdgeError(502, "artifact_integrity", "the stored artifact failed its checksum")
    if isinstance(exc, StoreUnreachableError):
        logger.error("edge distribution: %s", exc)
        return EdgeError(503, "registry_unavailable", "the model registry is unreachable")
    if isinstance(exc, ConfigError):
        logger.error("edge distribution misconfigured: %s", exc)
        return EdgeError(503, "edge_unavailable", "edge distribution is not configured")
    return None


# One or more byte ranges, as RFC 9110 writes them ("bytes=0-99", "bytes=100-", "bytes=-50").
_RANGE = re.compile(r"bytes=(\d+-\d*|-\d+)(\s*,\s*(\d+-\d*|-\d+))*")


def _check_range(value: str | None) -> None:
    """A malformed Range header gets our JSON 400 naming it, not a plain-text one."""
    if value is not None and not _RANGE.fullmatch(value.strip()):
        raise EdgeError(
            400, "invalid_range", f"Range {value[:80]!r} is not bytes=START-[END]", field="Range"
        )


async def _edge_error_handler(_: Request, exc: EdgeError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status)


async def _translated_error_handler(request: Request, exc: Exception) -> JSONResponse:
    return await _edge_error_handler(request, _as_edge_error(exc))


def _meta(request: Request, trusted: tuple) -> RequestMeta:
    return request_meta(request.scope, trusted)


def _known_model(model: str, served: str) -> None:
    if model != served:
        raise EdgeError(
            404, "model_not_found", f"no edge model {model!r}; this server has {served}"
        )


async def _may_post(runtime: AuthRuntime, principal: Principal, host_id: str) -> None:
    if not await run_in_threadpool(may_post_for, runtime, principal, host_id):
        raise _not_your_host(host_id)


def _not_your_host(host_id: str) -> EdgeError:
    return EdgeError(
        403,
        "forbidden",
        f"this key may not post for host {host_id!r}: a key posts only for the host it is "
        "named after",
        field="host_id",
    )


async def _json_body(request: Request) -> Any:
    """The request's JSON, refusing another media type, a body over MAX_BODY_BYTES
    (counted as it arrives, whatever Content-Length says) and text that is not JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise EdgeError(415, "unsupported_media_type", "send the body as application/json")
    declared = request.headers.get("content-length", "")
    too_large = EdgeError(
        413, "payload_too_large", f"the request body is over {MAX_BODY_BYTES} bytes"
    )
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgeError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def _parse(kind: Any, data: Any, code: str) -> Any:
    try:
        return kind.from_dict(data)
    except ProtocolError as exc:
        match = _FIELD.search(str(exc))
        raise EdgeError(400, code, str(exc), match.group(1) if match else None) from None


__all__ = ["EDGE_REQUIRED_PERMISSIONS", "EdgeBackend", "LazyEdgeApp", "build_edge_app"]
