"""Where events go, one sender per destination, each answering the same question: delivered,
retry later, or refused for good. The server gets the event itself with its id as the
Idempotency-Key; notifiers get a copy (webhook: the JSON; Telegram: a line of text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from edge.config import Notifier, TelegramNotifier, WebhookNotifier
from edge.protocol import API_KEY_HEADER, EVENTS_PATH, IDEMPOTENCY_HEADER, EdgeEvent

SERVER_DESTINATION = "server"
DELIVERED, RETRY, PERMANENT = "delivered", "retry", "permanent"
_RETRYABLE_4XX = (408, 425, 429)


@dataclass(frozen=True)
class SendResult:
    outcome: str  # DELIVERED, RETRY or PERMANENT
    detail: str = ""


class EventSender(Protocol):
    destination: str

    def send(self, event: EdgeEvent) -> SendResult: ...


def classify_response(response: httpx.Response) -> SendResult:
    code = response.status_code
    if 200 <= code < 300:
        return SendResult(DELIVERED, f"HTTP {code}")
    detail = f"HTTP {code}: {response.text[:200]}"
    if 400 <= code < 500 and code not in _RETRYABLE_4XX:
        return SendResult(PERMANENT, detail)
    return SendResult(RETRY, detail)


def _post(client: httpx.Client, url: str, **kwargs) -> SendResult:
    try:
        return classify_response(client.post(url, **kwargs))
    except httpx.HTTPError as exc:
        return SendResult(RETRY, f"{exc.__class__.__name__}: {exc}")


class ServerSender:
    destination = SERVER_DESTINATION

    def __init__(self, client: httpx.Client, server: str, api_key: str) -> None:
        self.client, self.url, self.api_key = client, server.rstrip("/") + EVENTS_PATH, api_key

    def send(self, event: EdgeEvent) -> SendResult:
        headers = {API_KEY_HEADER: self.api_key, IDEMPOTENCY_HEADER: event.event_id}
        return _post(self.client, self.url, json=event.to_dict(), headers=headers)


class WebhookSender:
    def __init__(self, client: httpx.Client, notifier: WebhookNotifier) -> None:
        self.client, self.notifier = client, notifier
        self.destination = notifier.destination

    def send(self, event: EdgeEvent) -> SendResult:
        headers = {IDEMPOTENCY_HEADER: event.event_id}
        return _post(self.client, self.notifier.url, json=event.to_dict(), headers=headers)


class TelegramSender:
    def __init__(self, client: httpx.Client, notifier: TelegramNotifier) -> None:
        self.client, self.notifier = client, notifier
        self.destination = notifier.destination

    def send(self, event: EdgeEvent) -> SendResult:
        url = f"{self.notifier.api_base}/bot{self.notifier.token()}/sendMessage"
        payload = {"chat_id": self.notifier.chat_id, "text": telegram_text(event)}
        result = _post(self.client, url, json=payload)
        # The token is part of the URL: never let it reach a log line.
        return SendResult(result.outcome, result.detail.replace(self.notifier.token(), "***"))


def telegram_text(event: EdgeEvent) -> str:
    return (
        f"[{event.host_id}] {event.rule}: {event.emotion} "
        f"({event.confidence:.0%}) on face {event.face_id} for {event.duration_seconds:.1f}s "
        f"since {event.started_at} (model {event.model_version})"
    )


def build_senders(
    client: httpx.Client, server: str, api_key: str, notifiers: tuple[Notifier, ...]
) -> list[EventSender]:
    senders: list[EventSender] = [ServerSender(client, server, api_key)]
    for notifier in notifiers:
        if isinstance(notifier, WebhookNotifier):
            senders.append(WebhookSender(client, notifier))
        else:
            senders.append(TelegramSender(client, notifier))
    return senders
