"""The manifest signing key: created once (0600) in the embedded default, read from
SENIM_EDGE_SIGNING_KEY_FILE otherwise, refused when others can read it."""

from __future__ import annotations

import os
import stat

import pytest

from edge.protocol import (
    ModelManifest,
    generate_signing_key,
    key_id,
    private_key_to_text,
    public_key_from_text,
    verify_signed_manifest,
)
from senim.environment import resolve_stores
from senim.errors import ConfigError
from serving.edge_signing import load_signing_key, signing_key_for


def _stores(tmp_path, **env: str):
    return resolve_stores({"SENIM_HOME": str(tmp_path / "home"), "SENIM_WORKSPACE": ".", **env})


def _manifest(kid: str) -> ModelManifest:
    return ModelManifest(
        manifest_version=1, model="fer-emotion", version="3", alias="edge", format="tflite-int8",
        artifact_url="/v1/edge/models/fer-emotion/artifact/3", size=1234, sha256="ab" * 32,
        created_at="2026-03-02T09:00:00Z", classes=("Angry", "Happy"), input_shape=(48, 48),
        key_id=kid,
    )  # fmt: skip


def test_given_the_embedded_default_when_first_used_then_a_0600_key_is_created_and_kept(
    tmp_path,
):
    stores = _stores(tmp_path)

    first = signing_key_for(stores)
    again = signing_key_for(stores)

    path = tmp_path / "home" / "keys" / "edge-signing.key"
    assert first.path == path and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again.public_key_text == first.public_key_text
    assert first.key_id == key_id(public_key_from_text(first.public_key_text))
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_given_a_key_when_a_manifest_is_signed_then_its_public_key_verifies_it(tmp_path):
    key = signing_key_for(_stores(tmp_path))

    body = key.sign(_manifest(key.key_id))

    public = public_key_from_text(key.public_key_text)
    assert verify_signed_manifest(body, public) == _manifest(key.key_id)


def test_given_an_env_key_file_when_loaded_then_that_key_is_used(tmp_path):
    private = generate_signing_key()
    path = tmp_path / "fleet.key"
    path.write_text(private_key_to_text(private))
    path.chmod(0o600)

    key = signing_key_for(_stores(tmp_path, SENIM_EDGE_SIGNING_KEY_FILE=str(path)))

    assert key.path == path and key.key_id == key_id(private)


def test_given_an_env_key_file_that_is_missing_when_loaded_then_config_error_not_created(
    tmp_path,
):
    path = tmp_path / "missing.key"

    with pytest.raises(ConfigError, match="does not exist"):
        signing_key_for(_stores(tmp_path, SENIM_EDGE_SIGNING_KEY_FILE=str(path)))

    assert not path.exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_given_a_key_file_readable_by_others_when_loaded_then_refused_with_chmod_hint(
    tmp_path, mode
):
    path = tmp_path / "fleet.key"
    path.write_text(private_key_to_text(generate_signing_key()))
    path.chmod(mode)

    with pytest.raises(ConfigError, match="group or others") as refused:
        load_signing_key(path)

    assert f"chmod 600 {path}" in str(refused.value)


def test_given_a_file_that_is_not_a_key_when_loaded_then_config_error_says_so(tmp_path):
    path = tmp_path / "fleet.key"
    path.write_text("not base64 at all!")
    os.chmod(path, 0o600)

    with pytest.raises(ConfigError, match="is not an edge signing key"):
        load_signing_key(path)


def test_given_a_key_when_another_process_races_to_create_it_then_the_first_is_kept(tmp_path):
    from serving.edge_signing import _create_key_file

    path = tmp_path / "keys" / "edge-signing.key"
    original = load_signing_key(path, create=True)

    _create_key_file(path)  # what a concurrent first use does after its exists() check

    assert load_signing_key(path).public_key_text == original.public_key_text
    assert list(path.parent.iterdir()) == [path]
