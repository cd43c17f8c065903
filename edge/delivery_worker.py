"""Drains the outbox in the background: each due delivery is sent once per pass; failures are
rescheduled with exponential backoff, refusals kept as dead. The frame loop never waits on
the network."""

from __future__ import annotations

import logging
import random
import threading
import time

from edge.backoff import Backoff
from edge.event_destinations import DELIVERED, PERMANENT, EventSender
from edge.outbox import DEAD, PENDING, Outbox
from edge.outbox import DELIVERED as STATUS_DELIVERED

log = logging.getLogger(__name__)
DELIVERY_BACKOFF = Backoff(base_seconds=2.0, max_seconds=300.0)


class DeliveryWorker:
    def __init__(
        self,
        outbox: Outbox,
        senders: list[EventSender],
        backoff: Backoff = DELIVERY_BACKOFF,
        idle_seconds: float = 0.5,
    ) -> None:
        self.outbox, self.backoff, self.idle_seconds = outbox, backoff, idle_seconds
        self.senders = {sender.destination: sender for sender in senders}
        self._rng = random.Random()
        self.wake = threading.Event()  # set by the frame loop when it queued an event

    def deliver_due(self, now: float | None = None) -> int:
        """One pass over what is due now; returns how many deliveries were attempted."""
        due = self.outbox.due(time.time() if now is None else now)
        for delivery in due:
            sender = self.senders.get(delivery.destination)
            if sender is None:
                # A notifier removed from the config: keep the row, retry in an hour.
                self.outbox.mark(
                    delivery, PENDING, time.time() + 3600, "destination not configured"
                )
                continue
            result = sender.send(delivery.event)
            if result.outcome == DELIVERED:
                self.outbox.mark(delivery, STATUS_DELIVERED)
            elif result.outcome == PERMANENT:
                log.error(
                    "event %s refused by %s for good: %s",
                    delivery.event.event_id,
                    delivery.destination,
                    result.detail,
                )
                self.outbox.mark(delivery, DEAD, error=result.detail)
            else:
                wait = self.backoff.delay(delivery.attempts + 1, self._rng)
                log.warning(
                    "event %s to %s failed (%s); retry in %.0fs",
                    delivery.event.event_id,
                    delivery.destination,
                    result.detail,
                    wait,
                )
                self.outbox.mark(delivery, PENDING, time.time() + wait, result.detail)
        return len(due)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # noqa: BLE001 - keep delivering whatever one pass hit
                log.exception("delivery pass failed")
            next_due = self.outbox.next_due_at()
            wait = self.idle_seconds if next_due is None else next_due - time.time()
            self.wake.wait(min(max(wait, 0.05), self.idle_seconds * 10))
            self.wake.clear()

    def drain(self, seconds: float) -> None:
        """At exit: keep delivering what is due for up to ``seconds``; the rest stays queued."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.deliver_due() == 0:
                next_due = self.outbox.next_due_at()
                if next_due is None or next_due > deadline:
                    return
                time.sleep(min(0.2, max(0.0, next_due - time.time())))
