"""ASGI building blocks shared by the auth app and every service that mounts it.

- ``GuardMiddleware``: body size limit (413), the BentoML pickle content type refused
  (415: deserialising pickle from a client is remote code execution), JSON nested
  deeper than ``MAX_JSON_DEPTH`` and multipart bodies without a boundary refused (400,
  fast: parsers choke on them), a request id on every response, ``Cache-Control:
  no-store`` and the security headers (``SECURITY_HEADERS``).
- ``AuthMiddleware``: authenticates requests under protected path prefixes, checks the
  permission their prefix requires, and puts the ``Principal`` in
  ``scope["state"]["principal"]``; a failure gets a 401/403/429 JSON error.
- ``request_meta``: client IP (proxy-aware), user agent, device fingerprint, request id.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool

from auth.errors import AuthError
from auth.permissions import Permission
from auth.request_context import client_ip, device_fingerprint
from auth.runtime import AuthRuntime, RequestMeta

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FORBIDDEN_CONTENT_TYPES = ("application/vnd.bentoml+pickle",)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# No Senim request nests deeper than a few levels (a face is [[row]] in {"faces": [...]}).
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_A_BRACKET = re.compile(rb"[^\[\]{}]+")
# On every response: no MIME sniffing, no framing, no referrer, nothing loaded from
# anywhere (JSON needs nothing; the docs pages set their own, wider policy).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)


def header(scope: Scope, name: bytes) -> str:
    """A request header's value from an ASGI scope (``name`` lower-case), or \"\"."""
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _printable(text: str) -> str:
    """Client-sent header text without control characters (PostgreSQL refuses NUL)."""
    return "".join(ch for ch in text if ch.isprintable())


def _request_id(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token (it is echoed in a header
    and written to the audit log), else a fresh one."""
    offered = header(scope, b"x-request-id").strip()
    if _REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def request_meta(scope: Scope, trusted_proxies: Iterable = ()) -> RequestMeta:
    user_agent = _printable(header(scope, b"user-agent"))[:512]
    return RequestMeta(
        ip=client_ip(scope, tuple(trusted_proxies))[:45],
        user_agent=user_agent,
        device_fingerprint=device_fingerprint(user_agent, header(scope, b"accept-language")),
        # Kept in the scope so every layer of one request logs the same id.
        request_id=scope.setdefault("state", {}).setdefault("request_id", _request_id(scope)),
    )


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (0 for a scalar), counted
    without parsing: brackets inside strings are skipped."""
    brackets = _NOT_A_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus any of ``SECURITY_HEADERS`` the app did not set itself."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *(pair for pair in SECURITY_HEADERS if pair[0] not in present)]


async def send_json(
    send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *with_security_headers(list(headers)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class GuardMiddleware:
    """Refuse oversized bodies and pickle before the app sees them.

    The body is read here, up to ``max_body_bytes``, and handed on whole: a body that
    grows past the limit (chunked, or longer than its Content-Length said) is answered
    413 without the app ever starting on it.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        rid = (b"x-request-id", request_id.encode("ascii"))
        content_type = header(scope, b"content-type").split(";")[0].strip().lower()
        if content_type in FORBIDDEN_CONTENT_TYPES:
            await send_json(
                send,
                415,
                {"error": "unsupported_media_type", "message": f"{content_type} is not accepted"},
                [rid],
            )
            return
        too_large = {
            "error": "payload_too_large",
            "message": f"the request body is over {self.max_body_bytes} bytes",
        }
        declared = header(scope, b"content-length").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_json(send, 413, too_large, [rid])
            return
        if content_type.startswith("multipart/") and "boundary=" not in header(
            scope, b"content-type"
        ).lower().replace(" ", ""):
            problem = {"error": "bad_request", "message": f"{content_type} without a boundary"}
            await send_json(send, 400, problem, [rid])
            return
        first = await self._read_body(receive)
        if first is None:
            await send_json(send, 413, too_large, [rid])
            return
        if _is_json(content_type) and first.get("body"):
            body = first["body"]
            # Cheap pre-check: a body with few brackets cannot nest deeply.
            if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and (
                json_depth(body) > MAX_JSON_DEPTH
            ):
                problem = {
                    "error": "bad_request",
                    "message": f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
                }
                await send_json(send, 400, problem, [rid])
                return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        async def tagged_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append(rid)
                if not any(h[0].lower() == b"cache-control" for h in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": with_security_headers(headers)}
            await send(message)

        await self.app(scope, replay, tagged_send)

    async def _read_body(self, receive: Receive) -> dict[str, Any] | None:
        """The whole body as one ``http.request`` message; None once it passes the limit.

        A disconnect before the end is passed on as it came, for the app to see.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


class AuthMiddleware:
    """Authenticate every request under ``protected_prefixes`` (e.g. ``/v1/``).

    ``required`` maps path prefixes to the permission they need, first match wins; a
    protected path that matches none only needs a valid caller. ``runtime`` may be a
    zero-argument callable returning the runtime, for servers that build it after the
    middleware stack (BentoML creates the service instance in its lifespan).
    """

    def __init__(
        self,
        app: ASGIApp,
        runtime: AuthRuntime | Callable[[], AuthRuntime],
        protected_prefixes: tuple[str, ...] = ("/v1/",),
        trusted_proxies: Iterable = (),
        required: Iterable[tuple[str, Permission]] = (),
    ) -> None:
        self.app = app
        self._runtime = runtime
        self.protected_prefixes = protected_prefixes
        self.trusted_proxies = tuple(trusted_proxies)
        self.required = tuple(required)

    @property
    def runtime(self) -> AuthRuntime:
        return self._runtime if isinstance(self._runtime, AuthRuntime) else self._runtime()

    def _permission_for(self, path: str) -> Permission | None:
        return next((perm for prefix, perm in self.required if path.startswith(prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.protected_prefixes):
            await self.app(scope, receive, send)
            return
        meta = request_meta(scope, self.trusted_proxies)
        try:
            runtime = self.runtime
            call = (
                _authorize,
                runtime,
                header(scope, b"authorization") or None,
                header(scope, b"x-api-key") or None,
                meta,
                self._permission_for(scope["path"]),
                scope["path"],
            )
            # A networked database's round trip must not stall the event loop; an
            # embedded SQLite lookup is cheaper than the hop to a worker thread.
            if runtime.local_database:
                principal = call[0](*call[1:])
            else:
                principal = await run_in_threadpool(*call)
        except AuthError as exc:
            headers = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
            retry = getattr(exc, "retry_after", None)
            if retry:
                headers.append((b"retry-after", str(retry).encode()))
            await send_json(send, exc.status, exc.to_dict(), headers)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _authorize(
    runtime: AuthRuntime,
    authorization: str | None,
    api_key: str | None,
    meta: RequestMeta,
    permission: Permission | None,
    resource: str,
):
    from auth.principals import authenticate_headers, require

    principal = authenticate_headers(runtime, authorization, api_key, meta)
    if permission is not None:
        require(runtime, principal, permission, meta, resource)
    return principal
