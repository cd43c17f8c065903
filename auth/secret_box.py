"""Encryption at rest for small secrets (TOTP seeds): AES-256-GCM with a per-row context.

The context (e.g. the user id) is bound as associated data, so a ciphertext copied onto
another row fails to decrypt instead of silently granting that user someone else's seed.
Keys come from ``auth.keys.load_secret_box``.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_VERSION = "v1:"


class SecretBoxError(Exception):
    """A stored secret could not be decrypted: tampered, wrong key or wrong context.

    A server-side fault (HTTP 500), never the client's: the message names no detail.
    """


class SecretBox:
    """Seal and open strings with one 256-bit key; output ``v1:<base64url(nonce+ct)>``."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"SecretBox needs a {KEY_BYTES}-byte key, got {len(key)} bytes")
        self._aead = AESGCM(key)
        self._key = key

    def derive_key(self, purpose: bytes) -> bytes:
        """A 32-byte key for ``purpose`` (HKDF-SHA256 of the box's key): other secrets,
        such as the web pages' CSRF key, without storing or configuring another one."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(self._key)

    def __repr__(self) -> str:
        return "SecretBox(key=<hidden>)"

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)  # random 96-bit nonce: safe far beyond our volumes
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, context: str) -> str:
        if not isinstance(token, str) or not token.startswith(_VERSION):
            raise SecretBoxError("Stored secret has an unknown format.")
        try:
            raw = base64.b64decode(token[len(_VERSION) :], altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise SecretBoxError("Stored secret is not valid base64.") from None
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SecretBoxError("Stored secret is truncated.")
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag:
            raise SecretBoxError(
                "Stored secret failed its integrity check (tampered, wrong key or wrong row)."
            ) from None
        return plain.decode("utf-8")
