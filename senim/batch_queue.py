"""Drain a queue into batches for the background database writers.

The audit log and the prediction log both batch rows this way; they differ only in what
they do when a batch cannot be written (retry forever vs. count and drop).
"""

from __future__ import annotations

import queue
import time
from typing import Any


class StopMarker:
    """Queued after the last row: the writer exits once it reaches it."""


def next_batch(
    rows: queue.Queue,
    *,
    batch_size: int,
    window_s: float,
    first_timeout: float | None = None,
) -> tuple[list[Any], bool]:
    """Up to ``batch_size`` rows, waiting at most ``window_s`` after the first.

    Returns ``(batch, stop)``; with ``first_timeout`` an idle queue yields an empty batch
    after that many seconds instead of blocking forever.
    """
    try:
        first = rows.get(timeout=first_timeout)
    except queue.Empty:
        return [], False
    if isinstance(first, StopMarker):
        return [], True
    batch = [first]
    deadline = time.monotonic() + window_s
    while len(batch) < batch_size:
        try:
            item = rows.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if isinstance(item, StopMarker):
            return batch, True
        batch.append(item)
    return batch, False
