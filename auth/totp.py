"""TOTP second factor (RFC 6238: SHA1, 6 digits, 30 s) and one-time recovery codes.

Replay protection is the caller's job to persist: ``verify_totp`` returns the matched time
step, the caller stores it, and passes it back as ``last_used_step`` next time (ASVS 6.5.1).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import time

import pyotp
import qrcode
from qrcode.image.pil import PilImage

from auth.errors import TotpInvalid

TOTP_DIGITS = 6
TOTP_PERIOD_SECONDS = 30
TOTP_DRIFT_STEPS = 1
_SECRET_BASE32_CHARS = 32  # 32 base32 characters = 160 bits, the RFC 4226 recommendation
_CODE_RE = re.compile(r"[0-9]{6}")

# Digits and lowercase letters without the look-alikes 0/o, 1/i/l: 31 symbols, ~4.95 bits each.
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_CODE_CHARS = 24  # ~119 bits: >= 112, so a plain SHA-256 may store it (ASVS 6.5.2)
_RECOVERY_GROUP = 4


def new_totp_secret() -> str:
    """A fresh 160-bit base32 secret from a CSPRNG (ASVS 6.5.3)."""
    return pyotp.random_base32(length=_SECRET_BASE32_CHARS)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS)


def provisioning_uri(secret: str, account_name: str, issuer: str = "Senim") -> str:
    """The ``otpauth://`` URI an authenticator app scans (issuer, secret, SHA1, 6, 30)."""
    return _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_png(uri: str) -> bytes:
    """The URI as a PNG QR code, for the enrollment page."""
    image = qrcode.make(uri, image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def verify_totp(
    secret: str, code: str, *, last_used_step: int | None, now: float | None = None
) -> int:
    """Return the time step the code belongs to, or raise TotpInvalid.

    Accepts the current step and one either side (clock drift). A step at or before
    ``last_used_step`` is refused, so a code works once and an older code is dead once a
    newer one was used. Every candidate is compared in constant time.
    """
    candidate = code.replace(" ", "").strip() if isinstance(code, str) else ""
    if not _CODE_RE.fullmatch(candidate):
        raise TotpInvalid()
    timestamp = time.time() if now is None else now
    current = int(timestamp // TOTP_PERIOD_SECONDS)
    totp = _totp(secret)
    matched: int | None = None
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if step < 0:
            continue
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii")):
            matched = step if matched is None else max(matched, step)
    if matched is None or (last_used_step is not None and matched <= last_used_step):
        raise TotpInvalid()
    return matched


def new_recovery_codes(n: int = 10) -> list[str]:
    """``n`` distinct one-time codes, ``xxxx-xxxx-xxxx-xxxx-xxxx-xxxx``, ~119 bits each."""
    codes: list[str] = []
    while len(codes) < n:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_CHARS))
        code = "-".join(
            raw[i : i + _RECOVERY_GROUP] for i in range(0, RECOVERY_CODE_CHARS, _RECOVERY_GROUP)
        )
        if code not in codes:
            codes.append(code)
    return codes


def normalise_recovery_code(code: str) -> str:
    """Lowercase, without dashes or whitespace: how users retype a code."""
    return "".join(ch for ch in code.casefold() if ch != "-" and not ch.isspace())


def hash_recovery_code(code: str) -> str:
    """SHA-256 hex of the normalised code. A fast unsalted hash is enough only because each
    code carries ~119 random bits (ASVS 6.5.2 allows it from 112); do not shorten the codes
    without switching to argon2."""
    return hashlib.sha256(normalise_recovery_code(code).encode("utf-8")).hexdigest()


def recovery_code_matches(code: str, stored_hash: str) -> bool:
    return hmac.compare_digest(
        hash_recovery_code(code).encode("ascii"), stored_hash.encode("utf-8")
    )
