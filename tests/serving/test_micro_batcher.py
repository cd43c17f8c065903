"""MicroBatcher: concurrent submissions share calls; small batches skip the thread hop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from serving.micro_batcher import MicroBatcher


def _run(batcher: MicroBatcher, items: list[int]) -> list[int]:
    async def main() -> list[int]:
        return list(await asyncio.gather(*(batcher.submit(i) for i in items)))

    return asyncio.run(main())


def test_given_concurrent_items_when_submitted_then_answers_in_order_from_shared_calls():
    calls: list[list[int]] = []
    batcher = MicroBatcher(lambda items: calls.append(list(items)) or [i * 2 for i in items], 64)
    assert _run(batcher, list(range(10))) == [i * 2 for i in range(10)]
    assert batcher.batches == len(calls) < 10 and batcher.items == 10


def test_given_a_small_batch_when_inline_allowed_then_it_runs_on_the_event_loop_thread():
    threads: list[int] = []

    def score(items):
        threads.append(threading.get_ident())
        return list(items)

    loop_thread = []

    async def main():
        loop_thread.append(threading.get_ident())
        batcher = MicroBatcher(score, 64, inline_max=4)
        await asyncio.gather(*(batcher.submit(i) for i in range(3)))
        return batcher

    batcher = asyncio.run(main())
    assert threads == loop_thread and batcher.inline_batches == 1


def test_given_a_batch_larger_than_inline_max_then_it_runs_in_a_worker_thread():
    threads: list[int] = []

    def score(items):
        threads.append(threading.get_ident())
        return list(items)

    batcher = MicroBatcher(score, 64, inline_max=2)
    assert _run(batcher, list(range(8))) == list(range(8))
    assert batcher.inline_batches == 0 and threading.get_ident() not in threads


def test_given_a_failing_call_then_every_request_of_its_batch_gets_the_error():
    def score(items):
        raise RuntimeError("model broke")

    batcher = MicroBatcher(score, 64, inline_max=8)

    async def main():
        return await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)

    errors = asyncio.run(main())
    assert all(isinstance(e, RuntimeError) and "model broke" in str(e) for e in errors)


@pytest.mark.parametrize("kwargs", [{"max_size": 0}, {"max_size": 4, "inline_max": -1}])
def test_given_bad_sizes_when_built_then_refused(kwargs):
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, **kwargs)
