"""A web app on its own SQLite auth database for in-process page tests: people sign in
through the sign-in form (password and a TOTP code) under a frozen clock."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pyotp
from fastapi.testclient import TestClient

from auth import accounts
from auth.models import TotpSecret
from auth.runtime import AuthRuntime, RequestMeta
from auth.totp import new_totp_secret
from senim.config import Params
from serving.web.app import create_web_app

PASSWORD = "orbit-lantern-velvet-42"
# A Monday, 09:00 UTC: office hours, so the sign-in risk rules see nothing unusual.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
META = RequestMeta(ip="local", user_agent="pytest", device_fingerprint="pytest")
OFFICE_IP = "198.51.100.20"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) SenimTest/1.0"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class FrozenClock:
    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return (self.current - START).total_seconds()

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Person:
    username: str
    id: str
    totp_secret: str


class Site:
    """The web app on its own auth database, with a signed-up admin."""

    def __init__(self, root: Path) -> None:
        self.clock = FrozenClock()
        self.params = Params().with_overrides(
            auth={"argon2_time_cost": 1, "argon2_memory_kib": 19456},
            web={"secure_cookies": False, "audit_page_size": 10},
        )
        self.runtime = AuthRuntime.build(
            self.params.auth,
            f"sqlite:///{root / 'auth.db'}",
            root / "home",
            env={},
            clock=self.clock.now,
            monotonic=self.clock.monotonic,
        )
        # All the admin pages reach: the loaded service's auth runtime and params.
        state = SimpleNamespace(loaded=SimpleNamespace(runtime=self.runtime, params=self.params))
        self.app = create_web_app(state)
        self.admin = self.person("site-admin", ["admin"], bootstrap=True)
        self._clients: list[TestClient] = []

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.runtime.close()

    def person(self, username: str, roles: list[str], *, bootstrap: bool = False) -> Person:
        """An account with ``roles`` and a confirmed authenticator (TOTP) secret."""
        user = accounts.create_user(
            self.runtime,
            username,
            PASSWORD,
            roles,
            META,
            actor_id=None if bootstrap else "cli:test",
            actor_roles=("admin",),
        )
        secret = new_totp_secret()
        with self.runtime.sessions.begin() as session:
            session.add(
                TotpSecret(
                    user_id=user.id,
                    secret_encrypted=self.runtime.secret_box.encrypt(secret, context=user.id),
                    created_at=self.runtime.now(),
                    confirmed_at=self.runtime.now(),
                )
            )
        return Person(username, user.id, secret)

    def browser(self) -> TestClient:
        client = TestClient(self.app, client=(OFFICE_IP, 50000), headers={"User-Agent": BROWSER})
        self._clients.append(client)
        return client

    def sign_in(self, person: Person, client: TestClient | None = None) -> TestClient:
        """Through the sign-in form, with a fresh TOTP code (each code works once)."""
        client = client or self.browser()
        self.clock.advance(30)  # the next TOTP step
        page = client.get("/web/sign-in")
        assert page.status_code == 200
        code = pyotp.TOTP(person.totp_secret).at(self.clock.now())
        response = client.post(
            "/web/sign-in",
            data={
                "username": person.username,
                "password": PASSWORD,
                "code": code,
                "csrf": csrf_of(page.text),
                "next": "/web/",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return client

    def roles_of(self, username: str) -> list[str]:
        return accounts.get_user(self.runtime, accounts.find_user_id(self.runtime, username)).roles

    def audit_actions(self) -> list[str]:
        from auth.audit import query

        self.runtime.audit.flush()
        with self.runtime.sessions() as session:
            return [row.action for row in query(session, limit=1000)]


def csrf_of(page: str) -> str:
    match = CSRF.search(page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def notice_of(page: str) -> str:
    match = re.search(r'<p class="notice ok" role="status">(.*?)</p>', page, re.S)
    return html.unescape(match.group(1)) if match else ""


def problem_of(page: str, field: str) -> str:
    match = re.search(rf'<span class="problem" id="{re.escape(field)}-problem">(.*?)</span>', page)
    return html.unescape(match.group(1)) if match else ""


def row_of(page: str, text: str) -> str:
    """The table row that mentions ``text``."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if text in row:
            return row
    raise AssertionError(f"no row mentions {text!r}")


def audit_rows(page: str) -> list[list[str]]:
    """The audit table's rows as cell texts: id, when, actor, action, resource, outcome..."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
        ]
        if len(cells) == 8:
            rows.append([html.unescape(cell) for cell in cells])
    return rows


def post_form(client: TestClient, page_path: str, path: str, data: dict) -> object:
    """Open ``page_path`` for its CSRF token, then post ``data`` to ``path``."""
    token = csrf_of(client.get(page_path).text)
    return client.post(path, data={**data, "csrf": token}, follow_redirects=False)
