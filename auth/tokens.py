"""Short-lived signed access tokens (JWT) and opaque refresh tokens.

The verifier trusts exactly one algorithm, the configured one: the token header never
chooses the key or the algorithm, so ``alg: none`` and HS256/public-key confusion fail.
Time is injectable (``now``) so tests can freeze it; PyJWT's own clock checks are off and
done here against that ``now``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from auth.errors import TokenExpired, TokenInvalid
from senim.config import AuthParams

ALGORITHMS = ("HS256", "EdDSA", "RS256")
ACCESS_TYPE = "access"
MAX_LEEWAY = timedelta(seconds=5)
MIN_HMAC_KEY_BYTES = 32
_RESERVED_CLAIMS = frozenset({"iss", "aud", "sub", "roles", "exp", "iat", "nbf", "jti", "typ"})
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "typ"]


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    algorithm: str
    signing_key: Any = field(repr=False)
    verify_key: Any = field(repr=False)
    access_ttl: timedelta
    leeway: timedelta = timedelta(seconds=5)  # clock skew between hosts, at most MAX_LEEWAY

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        if not timedelta(0) <= self.leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY.seconds} seconds")
        if self.access_ttl <= timedelta(0):
            raise ValueError("access_ttl must be positive")
        if self.algorithm == "HS256":
            for key in (self.signing_key, self.verify_key):
                if not isinstance(key, bytes | str) or len(key) < MIN_HMAC_KEY_BYTES:
                    raise ValueError(f"HS256 needs a secret of at least {MIN_HMAC_KEY_BYTES} bytes")

    @classmethod
    def from_params(cls, params: AuthParams, signing_key: Any, verify_key: Any) -> TokenSettings:
        """Settings from ``params.yaml``'s ``auth`` section and keys from ``auth.keys``."""
        return cls(
            issuer=params.issuer,
            audience=params.audience,
            algorithm=params.jwt_algorithm,
            signing_key=signing_key,
            verify_key=verify_key,
            access_ttl=timedelta(minutes=params.access_token_minutes),
        )


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class AccessClaims:
    subject: str
    roles: tuple[str, ...]
    jti: str
    expires_at: datetime
    issued_at: datetime
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


def _utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def issue_access_token(
    settings: TokenSettings,
    *,
    subject: str,
    roles: list[str],
    now: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> IssuedToken:
    """Sign an access token for ``subject``; ``extra`` may not override registered claims."""
    if not subject:
        raise ValueError("subject must be a non-empty string")
    clashes = _RESERVED_CLAIMS.intersection(extra or {})
    if clashes:
        raise ValueError(f"extra claims may not set {', '.join(sorted(clashes))}")
    issued = int(_utc_now(now).timestamp())
    expires = issued + int(settings.access_ttl.total_seconds())
    jti = uuid.uuid4().hex
    payload = {
        **(extra or {}),
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": subject,
        "roles": list(roles),
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "jti": jti,
        "typ": ACCESS_TYPE,
    }
    token = jwt.encode(
        payload, settings.signing_key, algorithm=settings.algorithm, headers={"typ": "JWT"}
    )
    return IssuedToken(token=token, jti=jti, expires_at=datetime.fromtimestamp(expires, UTC))


def _numeric_date(payload: Mapping[str, Any], claim: str) -> float:
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenInvalid()
    return float(value)


def decode_access_token(
    settings: TokenSettings, token: str, *, now: datetime | None = None
) -> AccessClaims:
    """Verify signature, issuer, audience, type and lifetime; raise TokenExpired when only the
    lifetime is over, TokenInvalid (generic message) for everything else."""
    try:
        payload = jwt.decode(
            token,
            settings.verify_key,
            algorithms=[settings.algorithm],
            audience=settings.audience,
            issuer=settings.issuer,
            options={
                "require": _REQUIRED_CLAIMS,
                "strict_aud": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    if payload.get("typ") != ACCESS_TYPE:
        raise TokenInvalid()
    subject, jti, roles = payload["sub"], payload["jti"], payload.get("roles")
    if not subject or not jti or not isinstance(roles, list):
        raise TokenInvalid()
    if not all(isinstance(role, str) for role in roles):
        raise TokenInvalid()
    expires, issued = _numeric_date(payload, "exp"), _numeric_date(payload, "iat")
    not_before = _numeric_date(payload, "nbf") if "nbf" in payload else issued
    current, leeway = _utc_now(now).timestamp(), settings.leeway.total_seconds()
    if issued > current + leeway or not_before > current + leeway:
        raise TokenInvalid()
    if expires <= current - leeway:
        raise TokenExpired()
    return AccessClaims(
        subject=subject,
        roles=tuple(roles),
        jti=jti,
        expires_at=datetime.fromtimestamp(expires, UTC),
        issued_at=datetime.fromtimestamp(issued, UTC),
        extra={key: value for key, value in payload.items() if key not in _RESERVED_CLAIMS},
    )


def new_opaque_token() -> str:
    """A refresh (or similar) token: 256 random bits, 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> str:
    """SHA-256 hex, the form stored and looked up. A slow salted hash buys nothing for 256
    random bits (ASVS 6.5.2 allows a plain hash from 112 bits) and would make lookup by hash
    impossible."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
