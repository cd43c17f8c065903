"""A fake Senim server (and webhook / Telegram endpoints) in a thread, for the edge tests:
serves a signed manifest and artifacts with Range support, can cut a download halfway, be
"down" (503), and stores events once per Idempotency-Key like the real one."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeState:
    manifest_body: dict | None = None  # the signed body served at the manifest path
    artifacts: dict[str, bytes] = field(default_factory=dict)  # version -> bytes
    cut_next_download_at: int | None = None  # send this many bytes, then drop the connection
    ignore_range: bool = False  # answer 200 with the whole file even when asked for a range
    down: bool = False  # every request gets 503
    events_down: bool = False  # POST /v1/edge/events gets 503 and stores nothing
    fail_events_with: int | None = None  # status for POST /v1/edge/events (after storing)
    events: dict[str, dict] = field(default_factory=dict)  # Idempotency-Key -> event
    event_posts: int = 0
    heartbeats: list[dict] = field(default_factory=list)
    webhook: list[dict] = field(default_factory=list)
    telegram: list[dict] = field(default_factory=list)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # method, path, headers
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: FakeState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        """Keep test output quiet: the tests assert on ``FakeState``, not on the log."""

    def _record(self) -> None:
        with self.state.lock:
            self.state.requests.append((self.command, self.path, dict(self.headers)))

    def _json(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._record()
        state = self.state
        if state.down:
            return self._json(503, {"detail": "down"})
        if self.path.endswith("/manifest"):
            if state.manifest_body is None:
                return self._json(404, {"detail": "no model"})
            return self._json(200, state.manifest_body)
        match = re.fullmatch(r"/v1/edge/models/[^/]+/artifact/([^/]+)", self.path)
        if not match or match.group(1) not in state.artifacts:
            return self._json(404, {"detail": "not found"})
        self._send_artifact(state.artifacts[match.group(1)])

    def _send_artifact(self, content: bytes) -> None:
        state = self.state
        start = 0
        requested = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if requested and not state.ignore_range:
            start = int(requested.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        else:
            self.send_response(200)
        body = content[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with state.lock:
            cut, state.cut_next_download_at = state.cut_next_download_at, None
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def do_POST(self) -> None:
        self._record()
        state = self.state
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"null")
        if state.down:
            return self._json(503, {"detail": "down"})
        if self.path == "/v1/edge/events":
            if state.events_down:
                return self._json(503, {"detail": "events down"})
            key = self.headers.get("Idempotency-Key")
            with state.lock:
                state.event_posts += 1
                duplicate = key in state.events
                state.events.setdefault(key, body)
                fail = state.fail_events_with
            if fail:
                return self._json(fail, {"detail": "failing on purpose"})
            return self._json(200 if duplicate else 201, {"event_id": key})
        if self.path == "/v1/edge/heartbeat":
            with state.lock:
                state.heartbeats.append(body)
            return self._json(200, {"ok": True})
        if self.path == "/hook":
            with state.lock:
                state.webhook.append(body)
            return self._json(200, {"ok": True})
        if re.fullmatch(r"/bot[^/]+/sendMessage", self.path):
            with state.lock:
                state.telegram.append(body)
            return self._json(200, {"ok": True})
        self._json(404, {"detail": "not found"})


@contextmanager
def running_fake_server(state: FakeState | None = None) -> Iterator[tuple[str, FakeState]]:
    state = state or FakeState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
