"""Model sync: only a verified, complete, smoke-tested model ever replaces the one in service."""

from __future__ import annotations

import json

import httpx
import pytest

from edge.clip_recorder import ClipRecorder
from edge.config import RunnerConfig
from edge.face_drawing import Expression, face_frame
from edge.frame_pipeline import FramePipeline
from edge.model_holder import ModelHolder
from edge.model_store import ModelStore
from edge.model_sync import REJECTED, UNCHANGED, UNREACHABLE, UPDATED, ModelSync
from edge.protocol import generate_signing_key
from edge.sample_faces import load_sample_faces
from edge.state_paths import StatePaths
from tests.edge.conftest import publish


@pytest.fixture()
def make_sync(tmp_path, enrolled):
    key_file, url, _ = enrolled
    clients = []

    def make(server: str = url, holder: ModelHolder | None = None) -> ModelSync:
        client = httpx.Client(timeout=5)
        clients.append(client)
        paths = StatePaths(tmp_path / "state").create()
        return ModelSync(
            client,
            server,
            key_file,
            "fer-emotion",
            ModelStore(paths),
            holder or ModelHolder(),
            load_sample_faces(),
        )

    yield make
    for client in clients:
        client.close()


@pytest.fixture()
def serving_v1(make_sync, enrolled, tflite_models, signing_key):
    """A sync whose host already runs version 1."""
    _, _, state = enrolled
    publish(state, tflite_models["good"], "1", signing_key)
    sync = make_sync()
    assert sync.check_once().status == UPDATED
    return sync


def test_given_published_model_when_checked_then_verified_stored_and_in_service(
    serving_v1, tmp_path
):
    state_dir = tmp_path / "state"
    assert serving_v1.holder.version == "1"
    assert (state_dir / "models" / "1.tflite").is_file()
    assert json.loads((state_dir / "current.json").read_text())["manifest"]["version"] == "1"
    assert serving_v1.check_once().status == UNCHANGED


def test_given_tampered_artifact_when_downloaded_then_rejected_and_old_model_kept(
    serving_v1, enrolled, tflite_models, signing_key, tmp_path
):
    _, _, state = enrolled
    good = tflite_models["good"]
    publish(state, good, "2", signing_key, served=good[:-10] + b"0123456789")
    outcome = serving_v1.check_once()
    assert (outcome.status, serving_v1.holder.version) == (REJECTED, "1")
    assert "sha256" in outcome.detail
    assert not (tmp_path / "state" / "models" / "2.tflite").exists()


def test_given_manifest_signed_by_other_key_when_checked_then_rejected_and_old_model_kept(
    serving_v1, enrolled, tflite_models, signing_key
):
    _, _, state = enrolled
    publish(state, tflite_models["good"], "2", generate_signing_key(), key_id="x" * 16)
    outcome = serving_v1.check_once()
    assert (outcome.status, serving_v1.holder.version) == (REJECTED, "1")
    assert "signature" in outcome.detail


def test_given_wrong_signed_size_when_downloaded_then_rejected_and_old_model_kept(
    serving_v1, enrolled, tflite_models, signing_key
):
    _, _, state = enrolled
    good = tflite_models["good"]
    publish(state, good, "2", signing_key, size=len(good) - 100)
    outcome = serving_v1.check_once()
    assert (outcome.status, serving_v1.holder.version) == (REJECTED, "1")


def test_given_truncated_download_when_checked_then_old_model_kept_and_next_check_resumes(
    serving_v1, enrolled, tflite_models, signing_key
):
    _, _, state = enrolled
    original = tflite_models["good"]
    # The server ends every body halfway (no cut connection: a short file).
    publish(state, original, "2", signing_key, served=original[: len(original) // 2])
    sync = serving_v1
    outcome = sync.check_once()
    assert (outcome.status, sync.holder.version) == (UNREACHABLE, "1")
    state.artifacts["2"] = original
    assert sync.check_once().status == UPDATED
    assert sync.holder.version == "2"


def test_given_unknown_format_when_checked_then_rejected_and_old_model_kept(
    serving_v1, enrolled, tflite_models, signing_key
):
    _, _, state = enrolled
    publish(state, tflite_models["good"], "2", signing_key, format="onnx")
    outcome = serving_v1.check_once()
    assert (outcome.status, serving_v1.holder.version) == (REJECTED, "1")
    assert "format" in outcome.detail


def test_given_model_failing_smoke_test_when_checked_then_rejected_and_not_retried(
    serving_v1, enrolled, tflite_models, signing_key, tmp_path
):
    _, _, state = enrolled
    publish(state, tflite_models["no_softmax"], "2", signing_key)
    outcome = serving_v1.check_once()
    assert (outcome.status, serving_v1.holder.version) == (REJECTED, "1")
    assert "smoke test" in outcome.detail
    assert not (tmp_path / "state" / "models" / "2.tflite").exists()
    downloads = sum("/artifact/2" in path for _, path, _ in state.requests)
    assert serving_v1.check_once().status == REJECTED
    assert sum("/artifact/2" in path for _, path, _ in state.requests) == downloads


def test_given_server_unreachable_when_started_then_last_known_good_is_used(serving_v1, make_sync):
    restarted = make_sync(server="http://127.0.0.1:9")
    assert restarted.start_from_disk()
    assert restarted.holder.version == "1"
    assert restarted.check_once().status == UNREACHABLE
    assert restarted.holder.version == "1"


def test_given_stored_model_modified_on_disk_when_started_then_it_is_not_used(
    serving_v1, make_sync, tmp_path
):
    model_file = tmp_path / "state" / "models" / "1.tflite"
    model_file.write_bytes(model_file.read_bytes()[:-1] + b"\0")
    assert not make_sync(server="http://127.0.0.1:9").start_from_disk()


def test_given_stored_manifest_edited_when_started_then_it_is_not_used(
    serving_v1, make_sync, tmp_path
):
    current = tmp_path / "state" / "current.json"
    body = json.loads(current.read_text())
    body["manifest"]["alias"] = "champion"
    current.write_text(json.dumps(body))
    assert not make_sync(server="http://127.0.0.1:9").start_from_disk()


class _CenterDetector:
    def detect(self, gray):
        return [(60, 40, 200, 160)]


def test_given_new_manifest_during_run_when_next_frame_runs_then_it_uses_new_version(
    serving_v1, enrolled, tflite_models, signing_key, tmp_path
):
    _, _, state = enrolled
    holder = serving_v1.holder
    pipeline = FramePipeline(
        RunnerConfig(),
        _CenterDetector(),
        holder,
        ClipRecorder(tmp_path, 0.0, 10.0),
        "cam-1",
        emit=lambda event: None,
    )
    frame = face_frame(320, 240, (((160, 120), 150, Expression()),))
    versions = [pipeline.process(i / 10, frame).model_version for i in range(3)]
    publish(state, tflite_models["good"], "2", signing_key)
    assert serving_v1.check_once().status == UPDATED
    versions += [pipeline.process(i / 10, frame).model_version for i in range(3, 6)]
    publish(state, tflite_models["no_softmax"], "3", signing_key)
    assert serving_v1.check_once().status == REJECTED
    versions += [pipeline.process(i / 10, frame).model_version for i in range(6, 9)]
    assert versions == ["1"] * 3 + ["2"] * 6
    assert all(r.probabilities is not None for r in [pipeline.process(1.0, frame)][0].faces)
