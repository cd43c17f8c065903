"""Everything the auth layer needs at run time, wired once from params and environment.

One ``AuthRuntime`` per process: the database engine, the password hasher, token keys,
the TOTP secret box, the rate limiters (in memory, per process), the lockout policy and
the audit log writer. Nothing is created at import time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from auth.audit import AuditEvent, AuditLog
from auth.errors import RateLimited
from auth.key_cache import VerifiedKeyCache
from auth.keys import load_jwt_keys, load_secret_box
from auth.lockout import LockoutPolicy
from auth.passwords import PasswordService
from auth.rate_limit import RateLimiters, TokenBucketLimiter
from auth.secret_box import SecretBox
from auth.shared_rate_limit import build_limiters
from auth.tokens import TokenSettings
from senim.config import AuthParams
from senim.platform_db.engine import make_engine, migrate, session_factory


@dataclass(frozen=True)
class RequestMeta:
    """Who is on the other end of a request, as far as we can tell."""

    ip: str = "unknown"
    user_agent: str = ""
    device_fingerprint: str = ""
    request_id: str | None = None


CLI_REQUEST = RequestMeta(ip="local", user_agent="senim-cli", device_fingerprint="cli")


def user_id_of(actor: str | None) -> str | None:
    """The users.id behind an audit actor label; None for ``host:``, ``key:`` and bootstrap."""
    if actor is None or ":" in actor or actor == "bootstrap":
        return None
    return actor


@dataclass
class AuthRuntime:
    params: AuthParams
    sessions: object  # sessionmaker[Session]
    passwords: PasswordService
    tokens: TokenSettings
    secret_box: SecretBox
    limiters: RateLimiters
    lockout: LockoutPolicy
    audit: AuditLog
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    engine: object = None
    verified_keys: VerifiedKeyCache = field(default_factory=lambda: VerifiedKeyCache(0))
    # One audited 429 per bucket a minute (see ``enforce_limit``).
    _audited_429: TokenBucketLimiter = field(
        default_factory=lambda: TokenBucketLimiter(burst=1, per_minute=1.0), repr=False
    )

    @classmethod
    def build(
        cls,
        params: AuthParams,
        database_url: str,
        home: Path,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        run_migrations: bool = True,
    ) -> AuthRuntime:
        env = os.environ if env is None else env
        engine = make_engine(database_url)
        if run_migrations:
            migrate(engine)
        sessions = session_factory(engine)
        signing, verify = load_jwt_keys(env, home, params.jwt_algorithm)
        return cls(
            params=params,
            sessions=sessions,
            passwords=PasswordService(params),
            tokens=TokenSettings.from_params(params, signing, verify),
            secret_box=load_secret_box(env, home),
            limiters=build_limiters(
                params,
                engine,
                env,
                clock=monotonic,
                wall_clock=(lambda: clock().timestamp()) if clock else time.time,
            ),
            lockout=LockoutPolicy.from_params(params),
            audit=AuditLog(sessions),
            clock=clock or (lambda: datetime.now(UTC)),
            engine=engine,
            verified_keys=VerifiedKeyCache(params.api_key_cache_seconds, clock=monotonic),
        )

    @classmethod
    def from_environment(cls, params_path: Path | None = None) -> AuthRuntime:
        """The runtime for the resolved stores (SENIM_HOME, SENIM_DATABASE_URL)."""
        from senim.config import load_params
        from senim.environment import resolve_stores

        stores = resolve_stores()
        stores.home.mkdir(parents=True, exist_ok=True)
        params = load_params(params_path or stores.params_path).auth
        return cls.build(params, stores.database_url, stores.home)

    def now(self) -> datetime:
        return self.clock()

    @property
    def local_database(self) -> bool:
        """True for SQLite: a lookup is a few tens of microseconds of local file I/O, cheap
        enough to run on an event loop; a networked database is not."""
        engine = self.engine if self.engine is not None else self.sessions.kw.get("bind")
        return engine is not None and engine.dialect.name == "sqlite"

    def record(
        self,
        actor: str,
        action: str,
        resource: str,
        outcome: str,
        meta: RequestMeta,
        *,
        urgent: bool = False,
        **details: object,
    ) -> None:
        """Audit one action; ``urgent`` (security alerts) writes before returning."""
        event = AuditEvent(
            actor=actor,
            action=action,
            resource=resource,
            outcome=outcome,
            client_ip=meta.ip,
            user_agent=meta.user_agent[:512] or None,
            request_id=meta.request_id,
            details=dict(details),
            at=self.now(),
        )
        if urgent:
            self.audit.record_sync(event)
        else:
            self.audit.record(event)

    def enforce_limit(
        self, limiter: TokenBucketLimiter, key: str, meta: RequestMeta, actor: str = "anonymous"
    ) -> None:
        """``limiter.enforce(key)``, auditing a refusal (429): at most one audit row per
        bucket a minute, so a flood cannot turn into a flood of audit writes."""
        try:
            limiter.enforce(key)
        except RateLimited:
            if self._audited_429.hit(key).allowed:
                self.record(actor, "rate_limited", key, "denied", meta)
            raise

    def close(self) -> None:
        self.audit.close()
        if self.engine is not None:
            self.engine.dispose()
