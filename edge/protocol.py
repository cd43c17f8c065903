"""The wire contract between Senim and camera hosts: signed model manifests, the enrolment
key file, and the endpoint paths. Shared by the server (``serving/edge_*``) and the edge
runner, so it imports nothing heavier than ``cryptography``.

A manifest is a flat JSON object (``ModelManifest``). The server signs the UTF-8 bytes
of its canonical form (keys sorted, no insignificant whitespace, ``ensure_ascii``) with
Ed25519; the host verifies the same bytes with the public key it received at enrolment,
so any change to any field, including the sha256 and size of the artifact, breaks the
signature. Keys travel as base64 of their 32 raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST_VERSION = 1
SUPPORTED_FORMATS = ("tflite-int8",)
EMOTIONS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")


def manifest_path(model: str) -> str:
    return f"/v1/edge/models/{model}/manifest"


def artifact_path(model: str, version: str) -> str:
    return f"/v1/edge/models/{model}/artifact/{version}"


EVENTS_PATH = "/v1/edge/events"
HEARTBEAT_PATH = "/v1/edge/heartbeat"
API_KEY_HEADER = "X-API-Key"  # the auth layer also accepts "Authorization: Bearer <key>"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class ProtocolError(ValueError):
    """A manifest, signature or key file that must not be trusted; the message says why."""


@dataclass(frozen=True)
class ModelManifest:
    """What a host needs to fetch, check and run one model version."""

    manifest_version: int
    model: str  # registered model name, e.g. fer-emotion
    version: str  # registry version
    alias: str  # the alias it was resolved from: edge, else champion
    format: str  # one of SUPPORTED_FORMATS
    artifact_url: str  # path on the server (artifact_path), or an absolute URL
    size: int  # bytes
    sha256: str  # hex digest of the artifact
    created_at: str  # ISO 8601, UTC: when the version was registered
    classes: tuple[str, ...]  # output order
    input_shape: tuple[int, ...]  # (48, 48): one grayscale uint8 face
    key_id: str  # which signing key signed it (its public key's fingerprint)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = list(self.classes)
        data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ModelManifest:
        """Parse and check a manifest; a ProtocolError names the first bad field."""
        if not isinstance(data, dict):
            raise ProtocolError("manifest: expected a JSON object")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ProtocolError(f"manifest: missing field(s) {', '.join(missing)}")
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ProtocolError(f"manifest: unknown field(s) {', '.join(unknown)}")
        checks = {
            "manifest_version": lambda v: v == MANIFEST_VERSION,
            "model": lambda v: isinstance(v, str) and v,
            "version": lambda v: isinstance(v, str) and v,
            "alias": lambda v: isinstance(v, str) and v,
            "format": lambda v: v in SUPPORTED_FORMATS,
            "artifact_url": lambda v: isinstance(v, str) and v,
            "size": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "sha256": lambda v: isinstance(v, str) and len(v) == 64 and _is_hex(v),
            "created_at": lambda v: isinstance(v, str) and v,
            "classes": lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v) and v,
            "input_shape": lambda v: (
                isinstance(v, list) and all(isinstance(n, int) and n > 0 for n in v)
            ),
            "key_id": lambda v: isinstance(v, str) and v,
        }
        for name, ok in checks.items():
            if not ok(data[name]):
                hint = f" (supported: {', '.join(SUPPORTED_FORMATS)})" if name == "format" else ""
                raise ProtocolError(f"manifest: bad {name}: {data[name]!r}{hint}")
        values = dict(data)
        values["classes"] = tuple(data["classes"])
        values["input_shape"] = tuple(data["input_shape"])
        return cls(**values)


def canonical_bytes(manifest: ModelManifest | dict[str, Any]) -> bytes:
    data = manifest.to_dict() if isinstance(manifest, ModelManifest) else manifest
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# --------------------------------------------------------------------------- keys


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_text(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_raw32(text, "signing key"))


def public_key_to_text(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw32(text, "public key"))


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short fingerprint of the public key: the first 16 hex digits of its sha256."""
    import hashlib

    return hashlib.sha256(base64.b64decode(public_key_to_text(key))).hexdigest()[:16]


# --------------------------------------------------------------------------- signing


def sign_manifest(manifest: ModelManifest, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The response body of the manifest endpoint: ``{"manifest": {...}, "signature": b64}``."""
    signature = key.sign(canonical_bytes(manifest))
    return {"manifest": manifest.to_dict(), "signature": base64.b64encode(signature).decode()}


def verify_signed_manifest(body: Any, public_key: Ed25519PublicKey) -> ModelManifest:
    """The manifest from a signed response body, or a ProtocolError when the signature does
    not verify over exactly these fields (checked before the fields are trusted)."""
    if not isinstance(body, dict) or set(body) != {"manifest", "signature"}:
        raise ProtocolError("signed manifest: expected an object with manifest and signature")
    signature = body["signature"]
    if not isinstance(signature, str):
        raise ProtocolError("signed manifest: signature must be base64 text")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("signed manifest: signature is not valid base64") from exc
    if not isinstance(body["manifest"], dict):
        raise ProtocolError("signed manifest: manifest must be an object")
    try:
        public_key.verify(raw, canonical_bytes(body["manifest"]))
    except InvalidSignature as exc:
        raise ProtocolError("signed manifest: the signature does not verify") from exc
    manifest = ModelManifest.from_dict(body["manifest"])
    enrolled = key_id(public_key)
    if manifest.key_id != enrolled:
        raise ProtocolError(
            f"signed manifest: key_id {manifest.key_id} is not the enrolled key {enrolled}"
        )
    return manifest


# --------------------------------------------------------------------------- key file


@dataclass(frozen=True)
class EdgeKeyFile:
    """What ``senim keys create --role edge_device --key-file F`` writes (mode 0600)."""

    api_key: str
    prefix: str
    role: str
    server: str  # base URL of the Senim service the host pulls from
    manifest_public_key: str  # base64 Ed25519 public key
    host_id: str  # the key's name: identifies the host in events and audit

    @classmethod
    def load(cls, path: str | Path) -> EdgeKeyFile:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ProtocolError(f"{path}: key file not found") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"{path}: not a Senim key file ({exc})") from exc
        if not isinstance(data, dict):
            raise ProtocolError(f"{path}: not a Senim key file (expected a JSON object)")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if not isinstance(data.get(n), str) or not data.get(n)]
        if missing:
            raise ProtocolError(
                f"{path}: missing {', '.join(missing)}; create edge keys with "
                "`senim keys create --role edge_device --server URL --key-file F`"
            )
        if data["role"] != "edge_device":
            raise ProtocolError(f"{path}: role is {data['role']!r}, not edge_device")
        public_key_from_text(data["manifest_public_key"])  # fails early on a bad key
        return cls(**{n: data[n] for n in names})

    def public_key(self) -> Ed25519PublicKey:
        return public_key_from_text(self.manifest_public_key)


def _raw32(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError, AttributeError) as exc:
        raise ProtocolError(f"{what}: not valid base64") from exc
    if len(raw) != 32:
        raise ProtocolError(f"{what}: expected 32 bytes of Ed25519 key, got {len(raw)}")
    return raw


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return text == text.lower()


# --------------------------------------------------------------------------- events


EVENT_KINDS = ("emotion_persisted",)


@dataclass(frozen=True)
class EdgeEvent:
    """One rule firing on a host. ``event_id`` (a UUID) is also the Idempotency-Key the
    host sends, so a retried delivery is stored once."""

    event_id: str
    host_id: str
    kind: str  # one of EVENT_KINDS
    rule: str  # the rule's name in the host's config
    emotion: str  # one of EMOTIONS
    confidence: float  # 0..1, the smoothed probability when the rule fired
    started_at: str  # ISO 8601 UTC: when the emotion began to persist
    duration_seconds: float  # how long it had persisted when the rule fired
    face_id: int  # the tracker's id for the face on this host
    model_version: str
    clip_path: str | None  # the clip on the host's disk (video never leaves the host)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> EdgeEvent:
        """Parse and check an event; a ProtocolError names the first bad field."""
        _check_fields(cls, data, "event", optional={"clip_path"})
        checks = {
            "event_id": lambda v: isinstance(v, str) and 8 <= len(v) <= 64,
            "host_id": lambda v: isinstance(v, str) and 0 < len(v) <= 128,
            "kind": lambda v: v in EVENT_KINDS,
            "rule": lambda v: isinstance(v, str) and 0 < len(v) <= 128,
            "emotion": lambda v: v in EMOTIONS,
            "confidence": lambda v: _number(v) and 0 <= v <= 1,
            "started_at": lambda v: isinstance(v, str) and _iso(v),
            "duration_seconds": lambda v: _number(v) and 0 <= v <= 86400,
            "face_id": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "model_version": lambda v: isinstance(v, str) and 0 < len(v) <= 64,
            "clip_path": lambda v: v is None or (isinstance(v, str) and len(v) <= 1024),
        }
        _run_checks(checks, data, "event")
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Heartbeat:
    host_id: str
    model_version: str | None  # None before the first model is in service
    fps: float  # frames per second of the whole loop, recent average
    outbox_depth: int  # deliveries still waiting
    uptime_seconds: float
    sent_at: str  # ISO 8601 UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Heartbeat:
        _check_fields(cls, data, "heartbeat", optional={"model_version"})
        checks = {
            "host_id": lambda v: isinstance(v, str) and 0 < len(v) <= 128,
            "model_version": lambda v: v is None or (isinstance(v, str) and 0 < len(v) <= 64),
            "fps": lambda v: _number(v) and 0 <= v <= 10000,
            "outbox_depth": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "uptime_seconds": lambda v: _number(v) and v >= 0,
            "sent_at": lambda v: isinstance(v, str) and _iso(v),
        }
        _run_checks(checks, data, "heartbeat")
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


def _check_fields(cls: type, data: Any, what: str, optional: set[str]) -> None:
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: expected a JSON object")
    names = [f.name for f in fields(cls)]
    missing = [n for n in names if n not in data and n not in optional]
    if missing:
        raise ProtocolError(f"{what}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ProtocolError(f"{what}: unknown field(s) {', '.join(unknown)}")


def _run_checks(checks: dict, data: dict, what: str) -> None:
    for name, ok in checks.items():
        if not ok(data.get(name)):
            raise ProtocolError(f"{what}: bad {name}: {data.get(name)!r}")


def _number(value: Any) -> bool:
    import math

    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _iso(text: str) -> bool:
    from datetime import datetime

    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
