"""Edge fixtures: real TFLite models (built once per session with TensorFlow, which only the
tests use), an enrolment key pair and key file, a fake server, and face videos."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.face_drawing import Expression, face_frame
from edge.protocol import (
    EMOTIONS,
    MANIFEST_VERSION,
    EdgeKeyFile,
    ModelManifest,
    artifact_path,
    generate_signing_key,
    key_id,
    public_key_to_text,
    sign_manifest,
)
from tests.edge.fake_server import FakeState, running_fake_server

MODEL = "fer-emotion"


@pytest.fixture(scope="session")
def tflite_models(tmp_path_factory) -> dict[str, bytes]:
    """``good``: a tiny int8 senim_cnn export; ``no_softmax``: loads and runs, but its outputs
    are raw logits, so the smoke test must refuse it."""
    import keras

    from models.fer_cnn import build_model
    from pipelines.fer.export import export_tflite

    folder = tmp_path_factory.mktemp("tflite")
    representative = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    good = export_tflite(
        build_model("senim_cnn", width=4, seed=0),
        "int8",
        folder / "good.tflite",
        representative=representative,
    )
    inputs = keras.Input((48, 48, 1))
    logits = keras.layers.Dense(7)(keras.layers.Flatten()(inputs))
    no_softmax = export_tflite(keras.Model(inputs, logits), "float16", folder / "bad.tflite")
    return {"good": good.read_bytes(), "no_softmax": no_softmax.read_bytes()}


@pytest.fixture(scope="session")
def signing_key():
    return generate_signing_key()


@pytest.fixture()
def key_file(tmp_path, signing_key) -> Path:
    path = tmp_path / "host.key"
    write_key_file(path, signing_key, server="http://127.0.0.1:9")
    return path


def write_key_file(path: Path, signing_key, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "api_key": "sk_edge_test",
                "prefix": "sk_edge",
                "role": "edge_device",
                "server": server,
                "manifest_public_key": public_key_to_text(signing_key),
                "host_id": "cam-1",
            }
        )
    )
    return path


def manifest_for(content: bytes, version: str, signing_key, **overrides) -> ModelManifest:
    values = {
        "manifest_version": MANIFEST_VERSION,
        "model": MODEL,
        "version": version,
        "alias": "edge",
        "format": "tflite-int8",
        "artifact_url": artifact_path(MODEL, version),
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "created_at": "2026-11-01T00:00:00+00:00",
        "classes": EMOTIONS,
        "input_shape": (48, 48),
        "key_id": key_id(signing_key),
    }
    values.update(overrides)
    return ModelManifest(**values)


def publish(
    state: FakeState,
    content: bytes,
    version: str,
    signing_key,
    served: bytes | None = None,
    **overrides,
) -> ModelManifest:
    """Signs a manifest for ``content`` and serves ``served`` (default: ``content``)."""
    manifest = manifest_for(content, version, signing_key, **overrides)
    state.artifacts[version] = content if served is None else served
    state.manifest_body = sign_manifest(manifest, signing_key)
    return manifest


@pytest.fixture()
def fake_server() -> Iterator[tuple[str, FakeState]]:
    with running_fake_server() as running:
        yield running


@pytest.fixture()
def enrolled(tmp_path, signing_key, fake_server) -> tuple[EdgeKeyFile, str, FakeState]:
    url, state = fake_server
    path = write_key_file(tmp_path / "host.key", signing_key, server=url)
    return EdgeKeyFile.load(path), url, state


def write_face_video(path: Path, seconds: float, fps: float = 10.0, size=(320, 240)) -> Path:
    """An MJPG .avi with one drawn face the Haar cascade finds, drifting slowly."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for index in range(int(seconds * fps)):
        center = (width // 2 + (index % 10) - 5, height // 2)
        writer.write(face_frame(width, height, ((center, 150, Expression()),)))
    writer.release()
    return path
