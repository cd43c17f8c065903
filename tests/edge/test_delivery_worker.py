"""Outbox delivery: nothing lost while a destination is down, nothing stored twice."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from edge.backoff import Backoff
from edge.config import TelegramNotifier, WebhookNotifier
from edge.delivery_worker import DeliveryWorker
from edge.event_destinations import build_senders
from edge.outbox import Outbox
from edge.protocol import EdgeEvent

NO_WAIT = Backoff(base_seconds=0.0, max_seconds=0.0, jitter=0.0)


def _event(n: int = 0) -> EdgeEvent:
    return EdgeEvent(
        event_id=uuid.uuid4().hex,
        host_id="cam-1",
        kind="emotion_persisted",
        rule="sad",
        emotion="Sad",
        confidence=0.8,
        started_at="2026-11-22T10:00:00+00:00",
        duration_seconds=3.0 + n,
        face_id=n,
        model_version="1",
        clip_path=None,
    )


@pytest.fixture()
def client():
    with httpx.Client(timeout=5) as client:
        yield client


def _worker(outbox, client, url, notifiers=(), backoff=NO_WAIT):
    return DeliveryWorker(outbox, build_senders(client, url, "sk_edge_test", notifiers), backoff)


def test_given_server_down_when_it_returns_then_every_event_is_stored_exactly_once(
    tmp_path, fake_server, client
):
    url, state = fake_server
    outbox = Outbox(tmp_path / "outbox.db")
    events = [_event(i) for i in range(3)]
    for event in events:
        outbox.enqueue(event, ["server"])
    worker = _worker(outbox, client, url)
    state.down = True
    worker.deliver_due()
    assert outbox.depth() == 3 and state.events == {}
    state.down = False
    worker.deliver_due()
    worker.deliver_due()
    assert outbox.depth() == 0
    assert sorted(state.events) == sorted(e.event_id for e in events)
    assert state.event_posts == 3
    assert state.events[events[0].event_id] == events[0].to_dict()
    headers = [h for m, p, h in state.requests if p == "/v1/edge/events"]
    assert all(h["X-API-Key"] == "sk_edge_test" for h in headers)


def test_given_answer_lost_after_store_when_retried_then_duplicate_counts_as_delivered(
    tmp_path, fake_server, client
):
    url, state = fake_server
    outbox = Outbox(tmp_path / "outbox.db")
    event = _event()
    outbox.enqueue(event, ["server"])
    worker = _worker(outbox, client, url)
    state.fail_events_with = 500  # stored, but the host sees a failure
    worker.deliver_due()
    state.fail_events_with = None
    worker.deliver_due()
    assert outbox.depth() == 0
    assert list(state.events) == [event.event_id] and state.event_posts == 2
    assert outbox.counts() == {"server": {"delivered": 1}}


def test_given_event_refused_with_422_when_delivered_then_dead_and_not_retried(
    tmp_path, fake_server, client
):
    url, state = fake_server
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.enqueue(_event(), ["server"])
    worker = _worker(outbox, client, url)
    state.fail_events_with = 422
    worker.deliver_due()
    worker.deliver_due()
    assert state.event_posts == 1
    assert outbox.counts() == {"server": {"dead": 1}}


@pytest.mark.parametrize("code", [429, 408, 503])
def test_given_retryable_status_when_delivered_then_still_pending(
    tmp_path, fake_server, client, code
):
    url, state = fake_server
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.enqueue(_event(), ["server"])
    state.fail_events_with = code
    _worker(outbox, client, url, backoff=Backoff(60.0, 60.0, 0.0)).deliver_due()
    assert outbox.counts() == {"server": {"pending": 1}}
    assert outbox.next_due_at() > time.time() + 30


def test_given_queued_events_when_host_restarts_then_outbox_still_holds_them(tmp_path):
    outbox = Outbox(tmp_path / "outbox.db")
    event = _event()
    outbox.enqueue(event, ["server", "webhook:ops"])
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.db")
    assert reopened.depth() == 2
    assert reopened.recent_events() == [event]


def test_given_webhook_and_telegram_when_delivered_then_each_gets_its_copy(
    tmp_path, fake_server, client, monkeypatch
):
    url, state = fake_server
    monkeypatch.setenv("SENIM_TEST_TG", "42:secret")
    notifiers = (
        WebhookNotifier("ops", f"{url}/hook"),
        TelegramNotifier("oncall", "777", "SENIM_TEST_TG", api_base=url),
    )
    outbox = Outbox(tmp_path / "outbox.db")
    event = _event()
    outbox.enqueue(event, ["server", "webhook:ops", "telegram:oncall"])
    _worker(outbox, client, url, notifiers).deliver_due()
    assert outbox.depth() == 0
    assert state.webhook == [event.to_dict()]
    (message,) = state.telegram
    assert message["chat_id"] == "777" and "sad: Sad (80%)" in message["text"]
    assert any(p == "/bot42:secret/sendMessage" for _, p, _ in state.requests)


def test_given_webhook_down_when_server_up_then_server_is_not_sent_twice(
    tmp_path, fake_server, client
):
    url, state = fake_server
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.enqueue(_event(), ["server", "webhook:ops"])
    notifiers = (WebhookNotifier("ops", "http://127.0.0.1:9/hook"),)
    worker = _worker(outbox, client, url, notifiers)
    for _ in range(3):
        worker.deliver_due()
    assert state.event_posts == 1
    assert outbox.counts() == {"server": {"delivered": 1}, "webhook:ops": {"pending": 1}}
