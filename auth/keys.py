"""Where the auth keys come from: the environment first, else files under ``home/auth``.

Embedded (single-host) installs get keys generated on first use, written 0600 and reused;
production sets the environment variables (or mounts PEM files) and nothing is written.
Every problem raises ConfigError with the variable or file named and how to fix it.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa

from auth.secret_box import KEY_BYTES, SecretBox
from senim.errors import ConfigError

ENV_ENCRYPTION_KEY = "SENIM_AUTH_ENCRYPTION_KEY"
ENV_JWT_SECRET = "SENIM_JWT_SECRET"
ENV_JWT_PRIVATE_KEY_FILE = "SENIM_JWT_PRIVATE_KEY_FILE"
ENV_JWT_PUBLIC_KEY_FILE = "SENIM_JWT_PUBLIC_KEY_FILE"
MIN_HMAC_KEY_BYTES = 32
MIN_RSA_BITS = 2048
_GENERATE_KEY_HINT = (
    'generate one with: python -c "import base64, os; '
    'print(base64.b64encode(os.urandom(32)).decode())"'
)


def auth_key_dir(home: Path) -> Path:
    return Path(home) / "auth"


# --- files -------------------------------------------------------------------------------


def _create_file_once(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` unless it exists, race-free: the first writer wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)  # atomic and never overwrites: a concurrent creator keeps its key
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            except FileExistsError:
                return
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _require_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path}: key file is accessible to other users (mode {mode:o}); run: chmod 600 {path}"
        )


def _read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    if not path.exists():
        _create_file_once(path, make())
    _require_private(path)
    return path.read_bytes()


# --- encryption at rest ------------------------------------------------------------------


def _decode_encryption_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"{origin}: not valid base64; expected base64 of {KEY_BYTES} random bytes "
            f"({_GENERATE_KEY_HINT})"
        ) from None
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"{origin}: decodes to {len(key)} bytes; expected base64 of exactly {KEY_BYTES} "
            f"random bytes ({_GENERATE_KEY_HINT})"
        )
    return key


def load_encryption_key(env: Mapping[str, str], home: Path) -> bytes:
    """``SENIM_AUTH_ENCRYPTION_KEY`` (base64 of 32 bytes), else ``home/auth/encryption.key``."""
    value = env.get(ENV_ENCRYPTION_KEY)
    if value:
        return _decode_encryption_key(value, ENV_ENCRYPTION_KEY)
    path = auth_key_dir(home) / "encryption.key"
    raw = _read_or_create(path, lambda: base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")
    return _decode_encryption_key(raw.decode("ascii", errors="replace"), str(path))


def load_secret_box(env: Mapping[str, str], home: Path) -> SecretBox:
    return SecretBox(load_encryption_key(env, home))


# --- JWT signing keys --------------------------------------------------------------------


def _hmac_key(env: Mapping[str, str], home: Path) -> bytes:
    value = env.get(ENV_JWT_SECRET)
    if value:
        key, origin = value.encode("utf-8"), ENV_JWT_SECRET
    else:
        path = auth_key_dir(home) / "jwt.key"
        key = _read_or_create(path, lambda: secrets.token_urlsafe(48).encode("ascii") + b"\n")
        key, origin = key.strip(), str(path)
    if len(key) < MIN_HMAC_KEY_BYTES:
        raise ConfigError(
            f"{origin}: the HS256 secret is {len(key)} bytes; it must be at least "
            f'{MIN_HMAC_KEY_BYTES} random bytes (e.g. python -c "import secrets; '
            f'print(secrets.token_urlsafe(48))")'
        )
    return key


def _check_key_type(private_key: Any, algorithm: str, origin: str) -> None:
    if algorithm == "EdDSA" and not isinstance(
        private_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
    ):
        raise ConfigError(f"{origin}: EdDSA needs an Ed25519 (or Ed448) private key")
    if algorithm == "RS256":
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ConfigError(f"{origin}: RS256 needs an RSA private key")
        if private_key.key_size < MIN_RSA_BITS:
            raise ConfigError(
                f"{origin}: RSA key has {private_key.key_size} bits; use at least {MIN_RSA_BITS}"
            )


def _load_private_pem(path: Path, origin: str) -> Any:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"{origin}: {path} is not an unencrypted PEM private key (PKCS#8 or traditional)"
        ) from None


def _load_public_pem(path: Path, origin: str) -> Any:
    try:
        return serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{origin}: {path} is not a PEM public key") from None


def _public_der(key: Any) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem_pair_from_env(env: Mapping[str, str], algorithm: str) -> tuple[Any, Any]:
    private_path, public_path = env.get(ENV_JWT_PRIVATE_KEY_FILE), env.get(ENV_JWT_PUBLIC_KEY_FILE)
    if not private_path or not public_path:
        missing = ENV_JWT_PRIVATE_KEY_FILE if not private_path else ENV_JWT_PUBLIC_KEY_FILE
        raise ConfigError(
            f"{missing} is not set; {algorithm} needs both {ENV_JWT_PRIVATE_KEY_FILE} and "
            f"{ENV_JWT_PUBLIC_KEY_FILE} (PEM files)"
        )
    private_key = _load_private_pem(Path(private_path), ENV_JWT_PRIVATE_KEY_FILE)
    _check_key_type(private_key, algorithm, ENV_JWT_PRIVATE_KEY_FILE)
    public_key = _load_public_pem(Path(public_path), ENV_JWT_PUBLIC_KEY_FILE)
    if _public_der(public_key) != _public_der(private_key.public_key()):
        raise ConfigError(
            f"{ENV_JWT_PUBLIC_KEY_FILE}: {public_path} is not the public half of {private_path}"
        )
    return private_key, public_key


def _embedded_ed25519_pair(home: Path) -> tuple[Any, Any]:
    private_path = auth_key_dir(home) / "jwt_ed25519.pem"
    public_path = auth_key_dir(home) / "jwt_ed25519.pub.pem"

    def make() -> bytes:
        return ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    _read_or_create(private_path, make)
    private_key = _load_private_pem(private_path, str(private_path))
    _check_key_type(private_key, "EdDSA", str(private_path))
    public_key = private_key.public_key()
    if not public_path.exists():  # for verifiers elsewhere; derived, so never trusted back
        pem = public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _create_file_once(public_path, pem, mode=0o644)
    return private_key, public_key


def load_jwt_keys(env: Mapping[str, str], home: Path, algorithm: str) -> tuple[Any, Any]:
    """``(signing_key, verify_key)`` for ``algorithm``.

    HS256: ``SENIM_JWT_SECRET`` (>= 32 bytes) else ``home/auth/jwt.key``; both halves are the
    same bytes. EdDSA/RS256: the PEM files named by ``SENIM_JWT_PRIVATE_KEY_FILE`` and
    ``SENIM_JWT_PUBLIC_KEY_FILE``; EdDSA alone falls back to a generated Ed25519 pair in
    ``home/auth``, RS256 has no fallback (generate the RSA pair with your PKI).
    """
    if algorithm == "HS256":
        key = _hmac_key(env, home)
        return key, key
    if algorithm not in ("EdDSA", "RS256"):
        raise ConfigError(f"auth.jwt_algorithm: {algorithm!r} is not one of HS256, EdDSA, RS256")
    if env.get(ENV_JWT_PRIVATE_KEY_FILE) or env.get(ENV_JWT_PUBLIC_KEY_FILE):
        return _pem_pair_from_env(env, algorithm)
    if algorithm == "EdDSA":
        return _embedded_ed25519_pair(home)
    raise ConfigError(
        f"RS256 needs {ENV_JWT_PRIVATE_KEY_FILE} and {ENV_JWT_PUBLIC_KEY_FILE} (PEM files of an "
        f"RSA key of at least {MIN_RSA_BITS} bits); none are set"
    )
