"""Edge model distribution against a real MLflow registry: a tiny FER model trained once
for the module, the manifest resolved from ``edge``/``champion``, the int8 file cached and
checked, and the manifest and artifact endpoints behind ``AuthMiddleware``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from auth import machine_keys
from auth.asgi import AuthMiddleware
from auth.runtime import RequestMeta
from edge.protocol import (
    EMOTIONS,
    artifact_path,
    manifest_path,
    public_key_from_text,
    verify_signed_manifest,
)
from serving.edge_api import EDGE_REQUIRED_PERMISSIONS, build_edge_app
from serving.edge_distribution import ArtifactIntegrityError, EdgeDistribution, EdgeModelNotFound
from serving.edge_signing import signing_key_for
from tests.auth.http_harness import AuthHarness
from tests.integration_workspace import TINY_FER, make_workspace

pytestmark = pytest.mark.integration

MODEL = "fer-emotion"
INT8 = "export.int8"


@pytest.fixture(scope="module")
def fer_registry(tmp_path_factory):
    """One trained, promoted FER version (1); version 2 is a copy of it (same run, same
    export), version 3 a copy whose int8 export was rejected, version 4 one whose sha256
    tag does not match its file."""
    from flows.retrain_fer import retrain_fer
    from pipelines.common.mlflow_store import mlflow_client
    from senim.environment import resolve_stores

    root = tmp_path_factory.mktemp("edge-fer-store")
    with pytest.MonkeyPatch.context() as mp:
        make_workspace(root, mp, fer=TINY_FER)
        summary = retrain_fer()
        client = mlflow_client(resolve_stores())
        first = client.get_model_version(MODEL, "1")
        variants = [
            {},
            {f"{INT8}.accepted": "false", f"{INT8}.reason": "accuracy dropped 9 points"},
            {f"{INT8}.sha256": "0" * 64},
        ]
        for changes in variants:
            client.create_model_version(
                MODEL, source=first.source, run_id=first.run_id, tags={**first.tags, **changes}
            )
    assert summary.registered_version == "1" and summary.decision == "promoted"
    return root


@pytest.fixture()
def stores(fer_registry, monkeypatch):
    from senim.environment import resolve_stores

    make_workspace(fer_registry, monkeypatch, fer=TINY_FER)
    return resolve_stores()


@pytest.fixture()
def client(stores):
    """The registry client; whatever a test does to the ``edge`` alias is undone."""
    from pipelines.common.mlflow_store import mlflow_client

    registry = mlflow_client(stores)
    yield registry
    registry.delete_registered_model_alias(MODEL, "edge")


def _distribution(client, stores, **kwargs) -> EdgeDistribution:
    return EdgeDistribution(client, MODEL, stores.home / "edge-cache", "kid-test", **kwargs)


# --------------------------------------------------------------------------- resolution


def test_given_only_a_champion_when_resolved_then_its_int8_export_is_the_manifest(client, stores):
    version = client.get_model_version(MODEL, "1")

    manifest = _distribution(client, stores, ttl_s=0).manifest()

    assert (manifest.version, manifest.alias, manifest.format) == ("1", "champion", "tflite-int8")
    assert manifest.sha256 == version.tags[f"{INT8}.sha256"]
    assert manifest.size == int(version.tags[f"{INT8}.size_bytes"])
    assert manifest.artifact_url == artifact_path(MODEL, "1")
    assert manifest.classes == EMOTIONS and manifest.input_shape == (48, 48)
    assert manifest.key_id == "kid-test"
    created = datetime.fromisoformat(manifest.created_at.replace("Z", "+00:00"))
    assert created.tzinfo is not None and created.utcoffset().total_seconds() == 0
    expected = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
    assert abs((created - expected).total_seconds()) < 0.001


def test_given_an_edge_alias_when_resolved_then_it_wins_over_champion(client, stores):
    client.set_registered_model_alias(MODEL, "edge", "2")

    manifest = _distribution(client, stores, ttl_s=0).manifest()

    assert (manifest.version, manifest.alias) == ("2", "edge")


def test_given_edge_on_a_version_without_accepted_int8_when_resolved_then_404_says_why(
    client, stores
):
    client.set_registered_model_alias(MODEL, "edge", "3")

    with pytest.raises(EdgeModelNotFound, match="version 3 .alias edge. has no accepted int8"):
        _distribution(client, stores, ttl_s=0).manifest()


def test_given_a_model_with_no_aliases_when_resolved_then_404_names_both_aliases(client, stores):
    other = EdgeDistribution(client, "no-such-model", stores.home / "edge-cache", "kid", ttl_s=0)

    with pytest.raises(EdgeModelNotFound, match="no version aliased edge or champion"):
        other.manifest()


def test_given_a_cached_resolution_when_the_alias_moves_then_it_shows_after_the_ttl(client, stores):
    now = [0.0]
    distribution = _distribution(client, stores, ttl_s=5, monotonic=lambda: now[0])
    assert distribution.manifest().version == "1"
    client.set_registered_model_alias(MODEL, "edge", "2")

    now[0] = 4.9
    within = distribution.manifest().version
    now[0] = 5.0
    after = distribution.manifest().version

    assert (within, after) == ("1", "2")


# --------------------------------------------------------------------------- artifacts


class _CountingClient:
    """The registry client, counting artifact downloads."""

    def __init__(self, client) -> None:
        self.client, self.downloads = client, 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def download_artifacts(self, *args, **kwargs):
        self.downloads += 1
        return self.client.download_artifacts(*args, **kwargs)


def test_given_the_served_version_when_its_artifact_is_asked_twice_then_fetched_once_verified(
    client, stores
):
    counting = _CountingClient(client)
    distribution = _distribution(counting, stores, ttl_s=0)

    first = distribution.artifact("1")
    second = distribution.artifact("1")

    assert first.path == stores.home / "edge-cache" / MODEL / "1.tflite" == second.path
    assert hashlib.sha256(first.path.read_bytes()).hexdigest() == first.sha256
    assert first.size == first.path.stat().st_size and counting.downloads == 1


def test_given_a_sha256_tag_that_does_not_match_when_fetched_then_refused_and_not_cached(
    client, stores
):
    client.set_registered_model_alias(MODEL, "edge", "4")

    with pytest.raises(ArtifactIntegrityError, match="not served"):
        _distribution(client, stores, ttl_s=0).artifact("4")

    assert not (stores.home / "edge-cache" / MODEL / "4.tflite").exists()


@pytest.mark.parametrize("version", ["2", "3", "99", "../1"])
def test_given_a_version_not_under_an_alias_or_rejected_when_asked_then_404(
    client, stores, version
):
    with pytest.raises(EdgeModelNotFound, match="not available to edge hosts"):
        _distribution(client, stores, ttl_s=0).artifact(version)


# --------------------------------------------------------------------------- endpoints


@pytest.fixture()
def harness(tmp_path):
    built = AuthHarness(f"sqlite:///{tmp_path / 'senim.db'}", tmp_path / "auth-home")
    yield built
    built.close()


def _key(harness: AuthHarness, name: str, role: str) -> dict[str, str]:
    created = machine_keys.create_key(
        harness.runtime, name, role, RequestMeta(ip="local"), actor_id="cli:test",
        actor_roles=("admin",),
    )  # fmt: skip
    return {"X-API-Key": created.key}


@pytest.fixture()
def http(harness, stores, client) -> TestClient:
    app = build_edge_app(lambda: harness.runtime, stores, MODEL, trusted_proxies=())
    return TestClient(
        AuthMiddleware(app, runtime=harness.runtime, required=EDGE_REQUIRED_PERMISSIONS)
    )


def test_given_an_edge_key_when_the_manifest_is_pulled_then_it_verifies_with_the_enrolled_key(
    harness, http, stores
):
    response = http.get(manifest_path(MODEL), headers=_key(harness, "cam-1", "edge_device"))

    assert response.status_code == 200
    enrolled = public_key_from_text(signing_key_for(stores).public_key_text)
    manifest = verify_signed_manifest(response.json(), enrolled)
    assert (manifest.model, manifest.version, manifest.alias) == (MODEL, "1", "champion")
    [row] = harness.audit(action="edge:manifest")
    assert row.outcome == "success" and row.actor.startswith("key:")
    assert row.details["version"] == "1" and row.resource == MODEL


@pytest.mark.parametrize("path", [manifest_path(MODEL), artifact_path(MODEL, "1")])
def test_given_a_service_key_or_none_when_pulling_then_403_or_401(harness, http, path):
    service = http.get(path, headers=_key(harness, "svc", "service"))
    anonymous = http.get(path)

    assert (service.status_code, anonymous.status_code) == (403, 401)
    assert service.json()["error"] == "forbidden"


@pytest.mark.parametrize("header", ["bytes=abc-", "items=0-10", "bytes=5"])
def test_given_a_malformed_range_when_the_artifact_is_pulled_then_json_400_naming_it(
    harness, http, header
):
    key = _key(harness, "cam-1", "edge_device")
    signed = http.get(manifest_path(MODEL), headers=key).json()["manifest"]
    response = http.get(signed["artifact_url"], headers={**key, "Range": header})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_range" and response.json()["field"] == "Range"


def test_given_an_edge_key_when_the_artifact_is_pulled_then_full_and_ranged_bodies_match(
    harness, http
):
    key = _key(harness, "cam-1", "edge_device")
    signed = http.get(manifest_path(MODEL), headers=key).json()["manifest"]

    full = http.get(signed["artifact_url"], headers=key)
    ranged = http.get(signed["artifact_url"], headers={**key, "Range": "bytes=100-"})

    assert full.status_code == 200 and hashlib.sha256(full.content).hexdigest() == signed["sha256"]
    assert len(full.content) == signed["size"] and full.headers["etag"] == f'"{signed["sha256"]}"'
    assert full.headers["accept-ranges"] == "bytes"
    assert ranged.status_code == 206 and ranged.content == full.content[100:]
    assert ranged.headers["content-range"] == f"bytes 100-{signed['size'] - 1}/{signed['size']}"
    rows = harness.audit(action="edge:artifact")
    assert [r.outcome for r in rows] == ["success", "success"]
    assert rows[0].details["range"] == "bytes=100-" and rows[0].resource == f"{MODEL}/1"


@pytest.mark.parametrize(
    "path",
    [
        manifest_path("credit-rating"),
        artifact_path("credit-rating", "1"),
        artifact_path(MODEL, "3"),
    ],
)
def test_given_an_unknown_model_or_version_when_pulled_then_404_json_and_audited(
    harness, http, path
):
    response = http.get(path, headers=_key(harness, "cam-1", "edge_device"))

    assert response.status_code == 404 and response.json()["error"] == "model_not_found"
    assert harness.audit(outcome="failure")[0].action.startswith("edge:")
