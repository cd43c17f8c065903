"""API keys for machine clients: ``snm_<prefix>_<secret>``.

The 8-character prefix is stored in clear and shown in listings so a user can tell keys
apart; the 43-character secret (~256 bits) is shown once at creation and only its hash is
kept. The ``snm_`` marker lets secret scanners recognise a leaked key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass, field

from auth.errors import TokenInvalid

API_KEY_MARKER = "snm"
PREFIX_CHARS = 8
SECRET_CHARS = 43  # 43 base62 characters = 256 bits
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_KEY_RE = re.compile(
    rf"{API_KEY_MARKER}_([a-z0-9]{{{PREFIX_CHARS}}})_([A-Za-z0-9]{{{SECRET_CHARS}}})"
)


@dataclass(frozen=True)
class NewApiKey:
    key: str = field(repr=False)  # show to the user once, never store
    prefix: str
    key_hash: str


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_api_key() -> NewApiKey:
    """A fresh key; the caller stores ``prefix`` and ``key_hash`` (the prefix should be
    unique in storage: on the rare collision, generate again)."""
    prefix = _random(_PREFIX_ALPHABET, PREFIX_CHARS)
    key = f"{API_KEY_MARKER}_{prefix}_{_random(_SECRET_ALPHABET, SECRET_CHARS)}"
    return NewApiKey(key=key, prefix=prefix, key_hash=api_key_hash(key))


def parse_api_key(key: str) -> tuple[str, str]:
    """``(prefix, secret)``; TokenInvalid for anything not shaped like one of our keys."""
    match = _KEY_RE.fullmatch(key) if isinstance(key, str) else None
    if match is None:
        raise TokenInvalid("The API key is invalid.")
    return match.group(1), match.group(2)


def api_key_hash(key: str) -> str:
    """SHA-256 hex of the whole key; a fast hash suffices for 256 random bits (ASVS 6.5.2)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(api_key_hash(key).encode("ascii"), stored_hash.encode("utf-8"))
