from __future__ import annotations

import random

from edge.backoff import Backoff, jittered


def test_given_repeated_failures_when_delayed_then_doubling_up_to_the_cap():
    backoff = Backoff(base_seconds=1.0, max_seconds=10.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0]


def test_given_jitter_when_delayed_then_spread_stays_within_the_fraction():
    rng = random.Random(0)
    delays = [Backoff(4.0, 100.0, jitter=0.25).delay(1, rng) for _ in range(200)]
    assert all(3.0 <= d <= 5.0 for d in delays) and len(set(delays)) > 100
    assert all(9.0 <= jittered(10.0, 0.1, rng) <= 11.0 for _ in range(100))
