"""One error shape on every route: ``{"error": <code>, "message": ..., "fields": [...]}``.

The auth layer and Senim's own routes answer that way already; BentoML's API routes
answer a refused body with ``{"error": "25 validation error for ...", "detail": [pydantic
errors with documentation URLs]}`` and other client errors as ``[{"error": ...}]``.
``UniformErrors`` rewrites those 4xx answers into the shared shape, naming each field.
"""

from __future__ import annotations

import json
from typing import Any

from auth.asgi import ASGIApp, Receive, Scope, Send


def field_name(location: list | tuple) -> str:
    """``applications.3.currentRatio`` from pydantic's ``loc`` (the body wrapper dropped)."""
    return ".".join(str(part) for part in location if part not in ("body",)) or "body"


def uniform(payload: Any, status: int) -> dict | None:
    """The shared shape for a BentoML 4xx payload, or None when it has it already (or is
    not one of BentoML's)."""
    if isinstance(payload, dict) and isinstance(payload.get("detail"), list):
        fields = [
            {"field": field_name(item.get("loc", ())), "problem": item.get("msg", "invalid")}
            for item in payload["detail"]
            if isinstance(item, dict)
        ]
        named = ", ".join(f["field"] for f in fields[:5])
        return {
            "error": "invalid_request",
            "message": f"the request is invalid: {named}" if named else "the request is invalid",
            "fields": fields,
        }
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        message = str(payload[0].get("error", "bad request"))
        return {"error": "bad_request" if status == 400 else "client_error", "message": message}
    return None


class UniformErrors:
    """Rewrite BentoML's 4xx bodies under ``prefix`` into the shared shape."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def shaping_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                if 400 <= message["status"] < 500 and _is_json(message.get("headers", [])):
                    held["start"] = message  # buffer this answer: it may be rewritten
                    return
                await send(message)
                return
            if "start" not in held or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await _send_shaped(send, held["start"], b"".join(chunks))

        await self.app(scope, receive, shaping_send)


async def _send_shaped(send: Send, start: dict[str, Any], body: bytes) -> None:
    try:
        shaped = uniform(json.loads(body), start["status"])
    except ValueError:
        shaped = None
    if shaped is not None:
        body = json.dumps(shaped).encode()
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and b"json" in v.lower() for k, v in headers)
