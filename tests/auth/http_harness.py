"""Drive the auth HTTP API in tests: a frozen clock, a runtime, clients and ready accounts.

``AuthHarness`` wraps one ``AuthRuntime`` and its FastAPI app. Time only moves when a test
calls ``clock.advance``: token expiry, lockout, TOTP steps and rate-limit refills all read
the same ``FrozenClock``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa
from fastapi.testclient import TestClient

from auth import accounts
from auth.audit import query as audit_query
from auth.http_app import create_auth_app
from auth.runtime import AuthRuntime, RequestMeta
from auth.tokens import issue_access_token
from senim.config import Params

# A Monday, 09:00 UTC: office hours, far from any DST or midnight edge.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "orbit-lantern-velvet-42"
# Each argon2 hash costs ~10 ms instead of ~100 ms; the lowest cost AuthParams accepts.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 19456}
OFFICE_IP = "198.51.100.20"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) SenimTest/1.0"


class FrozenClock:
    """Wall clock and monotonic clock in one: both move only on ``advance``."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start
        self._start = start

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return (self.current - self._start).total_seconds()

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        self.current += timedelta(seconds=seconds, **delta)
        return self.current


@dataclass
class Account:
    """A user the test can sign in as; ``totp_secret`` once enrolled."""

    username: str
    password: str
    user_id: str
    totp_secret: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def auth_params(**overrides: Any):
    """Validated AuthParams with cheap hashing plus ``overrides`` (nested dicts allowed)."""
    return Params().with_overrides(auth={**CHEAP_ARGON2, **overrides}).auth


class AuthHarness:
    def __init__(self, database_url: str, home: Path, **param_overrides: Any) -> None:
        self.clock = FrozenClock()
        self.runtime = AuthRuntime.build(
            auth_params(**param_overrides),
            database_url,
            home,
            env={},
            clock=self.clock.now,
            monotonic=self.clock.monotonic,
        )
        self.app = create_auth_app(self.runtime)
        self._clients: dict[tuple[str, str], TestClient] = {}
        self.http = self.client()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self.runtime.close()

    # --- clients -------------------------------------------------------------------------

    def client(self, ip: str = OFFICE_IP, user_agent: str = BROWSER) -> TestClient:
        """A client calling from ``ip`` with ``user_agent`` (the device fingerprint)."""
        key = (ip, user_agent)
        if key not in self._clients:
            self._clients[key] = TestClient(
                self.app, client=(ip, 50000), headers={"User-Agent": user_agent}
            )
        return self._clients[key]

    # --- accounts ------------------------------------------------------------------------

    def bootstrap_admin(self, username: str = "root-admin", password: str = PASSWORD) -> Account:
        """The first admin, created directly (as `senim users create` does), no 2FA yet."""
        view = accounts.create_user(
            self.runtime, username, password, ["admin"], RequestMeta(ip="local"), actor_id=None
        )
        return Account(username, password, view.id)

    def login(self, account: Account, client: TestClient | None = None, **extra: Any):
        body = {"username": account.username, "password": account.password, **extra}
        return (client or self.http).post("/auth/login", json=body)

    def sign_in(self, account: Account, client: TestClient | None = None) -> Account:
        """Log in (with a fresh TOTP code when enrolled) and keep the tokens on ``account``."""
        extra = {"totp_code": self.next_code(account)} if account.totp_secret else {}
        response = self.login(account, client, **extra)
        assert response.status_code == 200, response.json()
        self._keep_tokens(account, response.json())
        return account

    def next_code(self, account: Account) -> str:
        """Move to the next 30-second step and return its code (each step works once)."""
        self.clock.advance(30)
        return pyotp.TOTP(account.totp_secret).at(self.clock.now())

    def enroll(self, account: Account, client: TestClient | None = None) -> dict:
        """Enroll and confirm TOTP with the account's current tokens; the reply of confirm."""
        client = client or self.http
        enrolled = client.post("/auth/totp/enroll", headers=account.auth)
        assert enrolled.status_code == 200, enrolled.json()
        account.totp_secret = pyotp.parse_uri(enrolled.json()["otpauth_uri"]).secret
        confirmed = client.post(
            "/auth/totp/confirm", json={"code": self.next_code(account)}, headers=account.auth
        )
        assert confirmed.status_code == 200, confirmed.json()
        body = confirmed.json()
        self._keep_tokens(account, body)
        account.recovery_codes = body["recovery_codes"]
        return body

    def enrolled_admin(self, username: str = "root-admin") -> Account:
        admin = self.bootstrap_admin(username)
        self.sign_in(admin)
        self.enroll(admin)
        return admin

    def enrolled_user(self, admin: Account, username: str, roles: list[str]) -> Account:
        """Registered by ``admin`` over HTTP, signed in and enrolled in TOTP."""
        response = self.http.post(
            "/auth/register",
            json={"username": username, "password": PASSWORD, "roles": roles},
            headers=admin.auth,
        )
        assert response.status_code == 201, response.json()
        user = Account(username, PASSWORD, response.json()["id"])
        self.sign_in(user)
        self.enroll(user)
        return user

    def mint_access_token(self, account: Account, roles: list[str], mfa: bool = True) -> str:
        """A valid access token without a login round trip (for the fuzzer's many cases)."""
        return issue_access_token(
            self.runtime.tokens,
            subject=account.user_id,
            roles=roles,
            now=self.clock.now(),
            extra={"mfa": mfa, "auth_time": int(self.clock.now().timestamp())},
        ).token

    # --- inspection ----------------------------------------------------------------------

    def audit(self, **filters: Any) -> list:
        """Audit rows (newest first) once every queued event is written."""
        self.runtime.audit.flush()
        with self.runtime.sessions() as session:
            return audit_query(session, limit=1000, **filters)

    def scalar(self, statement: sa.Select) -> Any:
        with self.runtime.sessions() as session:
            return session.scalar(statement)

    @staticmethod
    def _keep_tokens(account: Account, body: dict) -> None:
        account.access_token = body["access_token"]
        account.refresh_token = body["refresh_token"]
