"""Exponential backoff with jitter, shared by model sync, delivery and stream reconnects, so
a fleet of hosts that lost the server at the same moment does not come back in lockstep."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt ``n`` (0-based retries): ``base * 2**n``, capped, +/- ``jitter``."""

    base_seconds: float = 1.0
    max_seconds: float = 300.0
    jitter: float = 0.2  # fraction of the delay, drawn uniformly either side

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        if failures <= 0:
            return 0.0
        raw = min(self.max_seconds, self.base_seconds * 2 ** min(failures - 1, 30))
        spread = raw * self.jitter
        return max(0.0, raw + (rng or random).uniform(-spread, spread))


def jittered(seconds: float, jitter: float = 0.1, rng: random.Random | None = None) -> float:
    """``seconds`` +/- ``jitter`` of itself: spreads periodic polls across hosts."""
    spread = seconds * jitter
    return max(0.0, seconds + (rng or random).uniform(-spread, spread))
