"""Coalesce concurrent single-item calls into one batched call, without a waiting window.

``POST /v1/credit/score`` takes one application per request, so BentoML's adaptive
batching (which merges request bodies that are already lists) cannot apply to it. Most
of a model call's cost is fixed (DataFrame, preprocessing, booster set-up), so under
load the service scores whatever arrived while the previous call ran, all in one call:
at low load a request runs alone and waits for nothing; at high load each call amortises
its fixed cost over every request queued behind it.

A small batch (at most ``inline_max`` items) runs on the event loop itself: handing a
sub-millisecond call to a worker thread and back costs more than the call, and the GIL
keeps the thread from running beside the loop anyway. A larger batch goes to a thread,
so the loop keeps accepting connections while it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio.to_thread

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    """Runs ``score(items) -> results`` (same length, same order), in a worker thread when
    the batch holds more than ``inline_max`` items.

    One batch runs at a time per batcher; use it from one event loop (a server worker).
    If ``score`` raises, every request of that batch gets the exception.
    """

    def __init__(
        self,
        score: Callable[[Sequence[Item]], Sequence[Result]],
        max_size: int,
        inline_max: int = 0,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        if inline_max < 0:
            raise ValueError(f"inline_max must be zero or more, got {inline_max}")
        self._score = score
        self._max_size = max_size
        self._inline_max = inline_max
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running = False
        self.batches = 0  # calls made, for tests and metrics
        self.items = 0
        self.inline_batches = 0  # of which on the event loop

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                # Let requests already read reach the queue first, so they share this call.
                await asyncio.sleep(0)
                batch = self._pending[: self._max_size]
                del self._pending[: self._max_size]
                live = [(item, future) for item, future in batch if not future.cancelled()]
                if not live:
                    continue
                self.batches += 1
                self.items += len(live)
                items = [item for item, _ in live]
                try:
                    if len(items) <= self._inline_max:
                        self.inline_batches += 1
                        results = self._score(items)
                    else:
                        results = await anyio.to_thread.run_sync(self._score, items)
                    if len(results) != len(live):
                        raise RuntimeError(
                            f"batched call returned {len(results)} results for {len(live)} items"
                        )
                except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                    for _, future in live:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(live, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._running = False
