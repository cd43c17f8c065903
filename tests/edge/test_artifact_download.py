"""Resumable downloads: a cut connection keeps what arrived; the rest comes with Range."""

from __future__ import annotations

import os

import httpx
import pytest

from edge.artifact_download import ArtifactRejected, DownloadError, download_artifact
from tests.edge.conftest import manifest_for

CONTENT = os.urandom(300_000)


def _download(url, manifest, partial, attempts=3):
    with httpx.Client(timeout=5) as client:
        return download_artifact(
            client, url + manifest.artifact_url, manifest, partial, {}, attempts=attempts
        )


def _ranges(state):
    return [h.get("Range") for method, path, h in state.requests if "/artifact/" in path]


def test_given_connection_cut_halfway_when_downloaded_then_resumed_with_range(
    tmp_path, fake_server, signing_key
):
    url, state = fake_server
    manifest = manifest_for(CONTENT, "1", signing_key)
    state.artifacts["1"] = CONTENT
    state.cut_next_download_at = 120_000
    path = _download(url, manifest, tmp_path / "1.part")
    assert path.read_bytes() == CONTENT
    assert _ranges(state) == [None, "bytes=120000-"]


def test_given_server_ignores_range_when_resumed_then_restarts_from_zero(
    tmp_path, fake_server, signing_key
):
    url, state = fake_server
    manifest = manifest_for(CONTENT, "1", signing_key)
    state.artifacts["1"] = CONTENT
    state.cut_next_download_at, state.ignore_range = 50_000, True
    assert _download(url, manifest, tmp_path / "1.part").read_bytes() == CONTENT


def test_given_partial_file_from_earlier_run_when_downloaded_then_only_rest_is_fetched(
    tmp_path, fake_server, signing_key
):
    url, state = fake_server
    manifest = manifest_for(CONTENT, "1", signing_key)
    state.artifacts["1"] = CONTENT
    (tmp_path / "1.part").write_bytes(CONTENT[:200_000])
    assert _download(url, manifest, tmp_path / "1.part").read_bytes() == CONTENT
    assert _ranges(state) == ["bytes=200000-"]


def test_given_every_attempt_cut_when_downloaded_then_incomplete_and_partial_kept(
    tmp_path, fake_server, signing_key
):
    url, state = fake_server
    manifest = manifest_for(CONTENT, "1", signing_key)
    state.artifacts["1"] = CONTENT
    state.cut_next_download_at = 1000
    with pytest.raises(DownloadError, match="incomplete"):
        _download(url, manifest, tmp_path / "1.part", attempts=1)
    assert (tmp_path / "1.part").stat().st_size == 1000


def test_given_tampered_bytes_when_downloaded_then_rejected_and_partial_deleted(
    tmp_path, fake_server, signing_key
):
    url, state = fake_server
    manifest = manifest_for(CONTENT, "1", signing_key)
    state.artifacts["1"] = CONTENT[:-1] + bytes([CONTENT[-1] ^ 1])
    with pytest.raises(ArtifactRejected, match="sha256"):
        _download(url, manifest, tmp_path / "1.part")
    assert not (tmp_path / "1.part").exists()


def test_given_larger_file_than_signed_when_downloaded_then_rejected(
    tmp_path, fake_server, signing_key
):
    url, state = fake_server
    manifest = manifest_for(CONTENT, "1", signing_key)
    state.artifacts["1"] = CONTENT + b"extra"
    with pytest.raises(ArtifactRejected, match="larger"):
        _download(url, manifest, tmp_path / "1.part")
    assert not (tmp_path / "1.part").exists()
