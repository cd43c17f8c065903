"""`senim serve credit --workers 2`: two serving processes, one per-key rate limit.

Without a shared store each worker would keep its own buckets and a key could make
``workers x burst`` requests at once; the buckets live in the platform database instead
(``auth.rate_limit_store: auto``), so the burst holds for the service as a whole.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serving.credit_server import deployed_credit_service

pytestmark = pytest.mark.integration

BURST = 6


@pytest.fixture(scope="module")
def service(_trained_store_session, tmp_path_factory):
    with deployed_credit_service(
        _trained_store_session["root"],
        tmp_path_factory.mktemp("credit-workers"),
        serve_args=("--workers", "2"),
        auth={
            "api_key_rate": {"burst": BURST, "per_minute": 1},
            "argon2_time_cost": 1,
            "argon2_memory_kib": 19456,
        },
    ) as running:
        _until_every_worker_is_ready(running["url"])
        yield running


def _until_every_worker_is_ready(url: str, in_a_row: int = 30, timeout_s: float = 120) -> None:
    """/readyz answered by one worker says nothing of the other (it may still be loading
    the model): wait for many ready answers in a row over fresh connections."""
    import time

    deadline = time.monotonic() + timeout_s
    streak = 0
    while streak < in_a_row:
        assert time.monotonic() < deadline, "a worker never became ready"
        streak = streak + 1 if httpx.get(url + "/readyz", timeout=10).status_code == 200 else 0
        if not streak:
            time.sleep(0.5)


def test_given_two_workers_when_a_key_sends_many_requests_at_once_then_the_burst_holds(service):
    key = service["callers"].key()[0]

    def ask(_: int) -> int:
        # a fresh connection each time, so the workers share the requests
        return httpx.get(service["url"] + "/v1/models", headers={"X-API-Key": key}, timeout=30
                         ).status_code  # fmt: skip

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(ask, range(3 * BURST)))

    assert statuses.count(200) == BURST, statuses
    assert statuses.count(429) == 2 * BURST, statuses


def test_given_two_workers_then_the_service_says_so_and_answers(service):
    log = service["server"].log()

    assert "with 2 workers (shared rate limits)" in log
    assert httpx.get(service["url"] + "/readyz", timeout=10).status_code == 200
