"""The Ed25519 key that signs edge model manifests, loaded from configuration.

Hosts trust a manifest only if it verifies with the public key they received at
enrolment, so the private key must stay private and must never change behind their back:
the file is refused when group or others can read it, and the embedded default
(``SENIM_HOME/keys/edge-signing.key``) is created once, atomically, and never overwritten.
A key named by ``SENIM_EDGE_SIGNING_KEY_FILE`` is never created: a missing production
key is a configuration error, not a reason to mint one the fleet does not know.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.protocol import (
    ModelManifest,
    ProtocolError,
    generate_signing_key,
    key_id,
    private_key_from_text,
    private_key_to_text,
    public_key_to_text,
    sign_manifest,
)
from senim.environment import Stores
from senim.errors import ConfigError

ENV_VAR = "SENIM_EDGE_SIGNING_KEY_FILE"
_PRIVATE_BITS = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True)
class EdgeSigningKey:
    """The private key with the public facts hosts and manifests refer to."""

    private_key: Ed25519PrivateKey
    path: Path

    @property
    def public_key_text(self) -> str:
        """Base64 of the 32-byte public key: what enrolment writes into a host's key file."""
        return public_key_to_text(self.private_key)

    @property
    def key_id(self) -> str:
        return key_id(self.private_key)

    def sign(self, manifest: ModelManifest) -> dict[str, Any]:
        """The manifest endpoint's body: ``{"manifest": {...}, "signature": b64}``."""
        return sign_manifest(manifest, self.private_key)


def signing_key_for(stores: Stores) -> EdgeSigningKey:
    """The configured key; the embedded default is created on first use."""
    return load_signing_key(
        stores.edge_signing_key_path, create=stores.edge_signing_key_file is None
    )


def load_signing_key(path: Path, *, create: bool = False) -> EdgeSigningKey:
    """Read the key at ``path`` (created first when ``create`` and missing)."""
    if create and not path.exists():
        _create_key_file(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"{ENV_VAR}: the edge signing key file {path} does not exist; unset {ENV_VAR} "
            "to use the embedded default, or copy the fleet's key there (mode 0600)"
        ) from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{ENV_VAR}: {path} is not a regular file")
    if mode & _PRIVATE_BITS:
        raise ConfigError(
            f"{ENV_VAR}: the edge signing key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
        )
    try:
        text = path.read_text(encoding="ascii")
        private_key = private_key_from_text(text)
    except (OSError, UnicodeDecodeError, ProtocolError) as exc:
        raise ConfigError(f"{ENV_VAR}: {path} is not an edge signing key: {exc}") from None
    return EdgeSigningKey(private_key, path)


def _create_key_file(path: Path) -> None:
    """Write a fresh key to ``path`` unless another process got there first.

    The key goes to a private temporary file that is then hard-linked into place: the
    link fails if ``path`` exists, so a concurrent creator's key is kept, never replaced,
    and ``path`` is never seen half-written.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = private_key_to_text(generate_signing_key()) + "\n"
    handle, temporary = tempfile.mkstemp(prefix=".edge-signing-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="ascii") as file:  # mkstemp makes it 0600
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
