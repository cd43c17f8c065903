"""ASGI building blocks shared by the auth app and every service that mounts it.

- ``GuardMiddleware``: body size limit (413), the BentoML pickle content type refused
  (415: deserialising pickle from a client is remote code execution), a request id on
  every response, ``Cache-Control: no-store``.
- ``AuthMiddleware``: authenticates requests under protected path prefixes and puts the
  ``Principal`` in ``scope["state"]["principal"]``; anything else gets a 401 JSON error.
- ``request_meta``: client IP (proxy-aware), user agent, device fingerprint, request id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from auth.errors import AuthError
from auth.request_context import client_ip, device_fingerprint
from auth.runtime import AuthRuntime, RequestMeta

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FORBIDDEN_CONTENT_TYPES = ("application/vnd.bentoml+pickle",)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def request_meta(scope: Scope, trusted_proxies: Iterable = ()) -> RequestMeta:
    user_agent = _header(scope, b"user-agent")[:512]
    return RequestMeta(
        ip=client_ip(scope, tuple(trusted_proxies)),
        user_agent=user_agent,
        device_fingerprint=device_fingerprint(user_agent, _header(scope, b"accept-language")),
        request_id=scope.get("state", {}).get("request_id")
        or _header(scope, b"x-request-id")[:64]
        or None,
    )


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
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class GuardMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id")[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        rid = (b"x-request-id", request_id.encode("latin-1", "replace"))
        content_type = _header(scope, b"content-type").split(";")[0].strip().lower()
        if content_type in FORBIDDEN_CONTENT_TYPES:
            await send_json(
                send,
                415,
                {"error": "unsupported_media_type", "message": f"{content_type} is not accepted"},
                [rid],
            )
            return
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_json(
                send,
                413,
                {"error": "payload_too_large", "message": f"body over {self.max_body_bytes} bytes"},
                [rid],
            )
            return
        received = 0
        too_large = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        started = False

        async def tagged_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append(rid)
                if not any(h[0].lower() == b"cache-control" for h in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, limited_receive, tagged_send)
        if too_large and not started:
            await send_json(
                send,
                413,
                {"error": "payload_too_large", "message": f"body over {self.max_body_bytes} bytes"},
                [rid],
            )


class AuthMiddleware:
    """Authenticate every request under ``protected_prefixes`` (e.g. ``/v1/``)."""

    def __init__(
        self,
        app: ASGIApp,
        runtime: AuthRuntime,
        protected_prefixes: tuple[str, ...] = ("/v1/",),
        trusted_proxies: Iterable = (),
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.protected_prefixes = protected_prefixes
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.protected_prefixes):
            await self.app(scope, receive, send)
            return
        from auth.principals import authenticate_headers

        meta = request_meta(scope, self.trusted_proxies)
        try:
            principal = authenticate_headers(
                self.runtime,
                _header(scope, b"authorization") or None,
                _header(scope, b"x-api-key") or None,
                meta,
            )
        except AuthError as exc:
            headers = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
            retry = getattr(exc, "retry_after", None)
            if retry:
                headers.append((b"retry-after", str(retry).encode()))
            await send_json(send, exc.status, exc.to_dict(), headers)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
