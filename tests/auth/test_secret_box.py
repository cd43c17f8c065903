"""Encryption at rest (AES-256-GCM) and where its key and the JWT keys come from."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from auth.keys import load_encryption_key, load_jwt_keys, load_secret_box
from auth.secret_box import SecretBox, SecretBoxError
from senim.errors import ConfigError

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture()
def box() -> SecretBox:
    return SecretBox(os.urandom(32))


def mode_of(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_given_secret_when_encrypted_then_decrypts_back_and_is_versioned(box):
    token = box.encrypt(SEED, "user:42")
    assert token.startswith("v1:") and SEED not in token
    assert box.decrypt(token, "user:42") == SEED


def test_given_same_secret_twice_when_encrypted_then_nonces_differ(box):
    assert box.encrypt(SEED, "user:42") != box.encrypt(SEED, "user:42")


def test_given_flipped_byte_when_decrypted_then_error(box):
    raw = bytearray(base64.urlsafe_b64decode(box.encrypt(SEED, "user:42")[3:]))
    raw[-1] ^= 0x01
    tampered = "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(SecretBoxError):
        box.decrypt(tampered, "user:42")


@pytest.mark.parametrize("token", ["", "v2:abcd", "v1:!!!!", "v1:" + "A" * 8, SEED])
def test_given_malformed_token_when_decrypted_then_error(box, token):
    with pytest.raises(SecretBoxError):
        box.decrypt(token, "user:42")


def test_given_ciphertext_moved_to_other_row_when_decrypted_then_error(box):
    with pytest.raises(SecretBoxError):
        box.decrypt(box.encrypt(SEED, "user:42"), "user:43")


def test_given_other_key_when_decrypted_then_error(box):
    with pytest.raises(SecretBoxError):
        SecretBox(os.urandom(32)).decrypt(box.encrypt(SEED, "user:42"), "user:42")


def test_given_no_env_key_when_loaded_then_file_created_0600_and_reused(tmp_path):
    first = load_encryption_key({}, tmp_path)
    path = tmp_path / "auth" / "encryption.key"
    assert mode_of(path) == 0o600 and len(first) == 32
    assert load_encryption_key({}, tmp_path) == first
    token = load_secret_box({}, tmp_path).encrypt(SEED, "u")
    assert load_secret_box({}, tmp_path).decrypt(token, "u") == SEED


def test_given_key_file_readable_by_others_when_loaded_then_clear_error(tmp_path):
    load_encryption_key({}, tmp_path)
    path = tmp_path / "auth" / "encryption.key"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_encryption_key({}, tmp_path)


def test_given_valid_env_key_when_loaded_then_used_and_nothing_written(tmp_path):
    key = os.urandom(32)
    env = {"SENIM_AUTH_ENCRYPTION_KEY": base64.b64encode(key).decode()}
    assert load_encryption_key(env, tmp_path) == key
    assert not (tmp_path / "auth").exists()


@pytest.mark.parametrize(
    ("value", "problem"),
    [("not base64 at all!", "not valid base64"), (base64.b64encode(b"short").decode(), "5 bytes")],
)
def test_given_malformed_env_key_when_loaded_then_error_names_variable(tmp_path, value, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        load_encryption_key({"SENIM_AUTH_ENCRYPTION_KEY": value}, tmp_path)
    assert "SENIM_AUTH_ENCRYPTION_KEY" in str(caught.value)


def test_given_hs256_without_env_when_loaded_then_key_file_0600_and_reused(tmp_path):
    signing, verifying = load_jwt_keys({}, tmp_path, "HS256")
    assert signing == verifying and len(signing) >= 32
    assert mode_of(tmp_path / "auth" / "jwt.key") == 0o600
    assert load_jwt_keys({}, tmp_path, "HS256")[0] == signing


def test_given_short_hs256_env_secret_when_loaded_then_error(tmp_path):
    with pytest.raises(ConfigError, match="SENIM_JWT_SECRET"):
        load_jwt_keys({"SENIM_JWT_SECRET": "too-short"}, tmp_path, "HS256")


def test_given_eddsa_without_env_when_loaded_then_pair_generated_and_reused(tmp_path):
    private_key, public_key = load_jwt_keys({}, tmp_path, "EdDSA")
    assert isinstance(private_key, ed25519.Ed25519PrivateKey)
    assert mode_of(tmp_path / "auth" / "jwt_ed25519.pem") == 0o600
    again, _ = load_jwt_keys({}, tmp_path, "EdDSA")
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert again.public_key().public_bytes(*raw) == public_key.public_bytes(*raw)


def test_given_rs256_without_pem_files_when_loaded_then_error_names_variables(tmp_path):
    with pytest.raises(ConfigError, match="SENIM_JWT_PRIVATE_KEY_FILE"):
        load_jwt_keys({}, tmp_path, "RS256")


def test_given_mismatched_eddsa_pem_files_when_loaded_then_error(tmp_path):
    def write(path, key):
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    private_path, public_path = tmp_path / "private.pem", tmp_path / "public.pem"
    write(private_path, ed25519.Ed25519PrivateKey.generate())
    public_path.write_bytes(
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    env = {
        "SENIM_JWT_PRIVATE_KEY_FILE": str(private_path),
        "SENIM_JWT_PUBLIC_KEY_FILE": str(public_path),
    }
    with pytest.raises(ConfigError, match="not the public half"):
        load_jwt_keys(env, tmp_path, "EdDSA")


def test_given_a_purpose_when_a_key_is_derived_then_it_is_stable_and_separate(box):
    first = box.derive_key(b"senim-web-csrf")

    assert first == box.derive_key(b"senim-web-csrf") and len(first) == 32
    assert first != box.derive_key(b"another-purpose")
    assert first != SecretBox(os.urandom(32)).derive_key(b"senim-web-csrf")
