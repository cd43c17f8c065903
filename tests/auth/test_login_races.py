"""One-time secrets stay one-time when requests race (conditional UPDATEs, not
read-then-write), on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable

from auth import login as login_flow
from auth import sessions
from auth.errors import AuthError
from auth.runtime import RequestMeta
from tests.auth.http_harness import OFFICE_IP, AuthHarness

RACERS = 4
META = RequestMeta(ip=OFFICE_IP, user_agent="race", device_fingerprint="race")


def _race(attempt: Callable[[], object]) -> list[object]:
    """Run ``attempt`` in RACERS threads released together; results or AuthErrors."""
    start = threading.Barrier(RACERS)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait()
        try:
            outcome = attempt()
        except AuthError as exc:
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _wins(results: list[object]) -> int:
    return sum(isinstance(r, sessions.TokenPair) for r in results)


def test_given_one_totp_code_when_used_by_racing_logins_then_exactly_one_signs_in(make_auth):
    auth: AuthHarness = make_auth(login_rate_per_identity={"burst": 50, "per_minute": 50})
    admin = auth.enrolled_admin()
    code = auth.next_code(admin)

    results = _race(
        lambda: login_flow.login(auth.runtime, admin.username, admin.password, META, totp_code=code)
    )

    assert _wins(results) == 1
    assert {r.code for r in results if isinstance(r, AuthError)} == {"totp_invalid"}


def test_given_one_recovery_code_when_used_by_racing_logins_then_exactly_one_signs_in(make_auth):
    auth: AuthHarness = make_auth(login_rate_per_identity={"burst": 50, "per_minute": 50})
    admin = auth.enrolled_admin()
    recovery = admin.recovery_codes[0]

    results = _race(
        lambda: login_flow.login(
            auth.runtime, admin.username, admin.password, META, recovery_code=recovery
        )
    )

    assert _wins(results) == 1


def test_given_one_refresh_token_when_rotated_by_racing_clients_then_one_wins_and_the_family_dies(
    auth,
):
    admin = auth.enrolled_admin()

    results = _race(lambda: sessions.refresh_tokens(auth.runtime, admin.refresh_token, META))

    assert _wins(results) == 1
    (winner,) = [r for r in results if isinstance(r, sessions.TokenPair)]
    # The losers presented a spent token: theft as far as the server can tell.
    assert (
        auth.http.post(
            "/auth/token/refresh", json={"refresh_token": winner.refresh_token}
        ).status_code
        == 401
    )
    assert auth.audit(action="token:refresh_reuse", outcome="alert")
