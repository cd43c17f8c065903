"""Tells the server the host is alive and how it is doing; the last attempt and its result go
to ``heartbeat.json`` so ``senim-edge status`` can show them without the server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from edge.protocol import API_KEY_HEADER, HEARTBEAT_PATH, Heartbeat
from edge.state_paths import write_json_atomic
from edge.timestamps import iso_utc

log = logging.getLogger(__name__)


class HeartbeatSender:
    def __init__(
        self,
        client: httpx.Client,
        server: str,
        api_key: str,
        snapshot: Callable[[], Heartbeat],
        record_path: Path,
    ) -> None:
        self.client, self.url, self.api_key = client, server.rstrip("/") + HEARTBEAT_PATH, api_key
        self.snapshot, self.record_path = snapshot, record_path

    def send_once(self) -> bool:
        heartbeat = self.snapshot()
        try:
            response = self.client.post(
                self.url, json=heartbeat.to_dict(), headers={API_KEY_HEADER: self.api_key}
            )
            ok, result = 200 <= response.status_code < 300, f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, result = False, f"{exc.__class__.__name__}: {exc}"
        if not ok:
            log.warning("heartbeat to %s failed: %s", self.url, result)
        write_json_atomic(
            self.record_path,
            {
                "sent_at": heartbeat.sent_at,
                "ok": ok,
                "result": result,
                "heartbeat": heartbeat.to_dict(),
            },
        )
        return ok

    def run(self, stop: threading.Event, every_seconds: float) -> None:
        while not stop.is_set():
            try:
                self.send_once()
            except Exception:  # noqa: BLE001 - a heartbeat must never stop the host
                log.exception("heartbeat failed")
            stop.wait(every_seconds)


def now_iso() -> str:
    return iso_utc(time.time())
