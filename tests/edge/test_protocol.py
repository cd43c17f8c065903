"""The host trusts no manifest field before the signature verifies over all of them."""

from __future__ import annotations

import base64
import copy

import pytest

from edge.protocol import (
    ProtocolError,
    generate_signing_key,
    sign_manifest,
    verify_signed_manifest,
)
from tests.edge.conftest import manifest_for

CHANGED = {
    "manifest_version": 2,
    "model": "other-model",
    "version": "99",
    "alias": "champion",
    "format": "tflite-fp16",
    "artifact_url": "/v1/edge/models/fer-emotion/artifact/99",
    "size": 12,
    "sha256": "0" * 64,
    "created_at": "2030-01-01T00:00:00+00:00",
    "classes": ["Happy"],
    "input_shape": [96, 96],
    "key_id": "0123456789abcdef",
}


@pytest.fixture()
def signed(signing_key) -> dict:
    return sign_manifest(manifest_for(b"model-bytes", "3", signing_key), signing_key)


def test_given_untouched_body_when_verified_then_manifest_is_returned(signed, signing_key):
    assert verify_signed_manifest(signed, signing_key.public_key()).version == "3"


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_given_any_manifest_field_changed_when_verified_then_rejected(signed, signing_key, field):
    tampered = copy.deepcopy(signed)
    tampered["manifest"][field] = CHANGED[field]
    with pytest.raises(ProtocolError, match="does not verify"):
        verify_signed_manifest(tampered, signing_key.public_key())


def test_given_signature_bytes_flipped_when_verified_then_rejected(signed, signing_key):
    raw = bytearray(base64.b64decode(signed["signature"]))
    raw[0] ^= 0xFF
    tampered = {**signed, "signature": base64.b64encode(bytes(raw)).decode()}
    with pytest.raises(ProtocolError, match="does not verify"):
        verify_signed_manifest(tampered, signing_key.public_key())


def test_given_body_signed_by_another_key_when_verified_then_rejected(signing_key):
    other = generate_signing_key()
    body = sign_manifest(manifest_for(b"x", "3", signing_key), other)
    with pytest.raises(ProtocolError, match="does not verify"):
        verify_signed_manifest(body, signing_key.public_key())


def test_given_key_id_of_another_key_when_verified_then_rejected(signing_key):
    body = sign_manifest(manifest_for(b"x", "3", signing_key, key_id="f" * 16), signing_key)
    with pytest.raises(ProtocolError, match="not the enrolled key"):
        verify_signed_manifest(body, signing_key.public_key())


def test_given_unknown_format_signed_when_verified_then_rejected_naming_format(signing_key):
    body = sign_manifest(manifest_for(b"x", "3", signing_key, format="onnx"), signing_key)
    with pytest.raises(ProtocolError, match="bad format"):
        verify_signed_manifest(body, signing_key.public_key())
