"""Keeps the host on the version the server publishes: poll the signed manifest, verify it
before reading any field, download, check, smoke-test, then swap. Any failure leaves the
model in service untouched; the reason is logged and written to ``model_sync.json``."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
import numpy as np

from edge.artifact_download import ArtifactRejected, DownloadError, download_artifact
from edge.backoff import Backoff, jittered
from edge.face_classifier import FaceClassifier, ModelRejected, smoke_test
from edge.model_holder import ModelHolder
from edge.model_store import ModelStore
from edge.protocol import (
    API_KEY_HEADER,
    EdgeKeyFile,
    ModelManifest,
    ProtocolError,
    manifest_path,
    verify_signed_manifest,
)
from edge.state_paths import write_json_atomic
from edge.timestamps import iso_utc

log = logging.getLogger(__name__)
SYNC_BACKOFF = Backoff(base_seconds=5.0, max_seconds=600.0)

UNCHANGED, UPDATED, REJECTED, UNREACHABLE = "unchanged", "updated", "rejected", "unreachable"


@dataclass(frozen=True)
class SyncOutcome:
    status: str  # UNCHANGED, UPDATED, REJECTED or UNREACHABLE
    detail: str = ""
    version: str | None = None


class ModelSync:
    def __init__(
        self,
        client: httpx.Client,
        server: str,
        key_file: EdgeKeyFile,
        model: str,
        store: ModelStore,
        holder: ModelHolder,
        sample_faces: np.ndarray,
        backoff: Backoff = SYNC_BACKOFF,
    ) -> None:
        self.client, self.server, self.key_file, self.model = client, server, key_file, model
        self.store, self.holder, self.sample_faces, self.backoff = (
            store,
            holder,
            sample_faces,
            backoff,
        )
        self._rejected: dict[tuple[str, str], str] = {}  # (version, sha256) -> why

    def start_from_disk(self) -> bool:
        """Puts the last known good model in service, if it still verifies."""
        stored = self.store.load_verified(self.key_file.public_key())
        if stored is None:
            return False
        manifest, path = stored
        try:
            classifier = FaceClassifier(path, manifest.classes, manifest.version)
            smoke_test(classifier, self.sample_faces)
        except ModelRejected as exc:
            log.error("stored model %s rejected: %s", manifest.version, exc)
            return False
        self.holder.swap(classifier)
        log.info("model %s in service (from %s)", manifest.version, path)
        return True

    def check_once(self) -> SyncOutcome:
        outcome = self._check()
        level = logging.WARNING if outcome.status in (REJECTED, UNREACHABLE) else logging.INFO
        if outcome.status != UNCHANGED:
            log.log(
                level, "model sync: %s %s %s", outcome.status, outcome.version or "", outcome.detail
            )
        write_json_atomic(
            self.store.paths.root / "model_sync.json",
            {
                "checked_at": iso_utc(time.time()),
                "status": outcome.status,
                "detail": outcome.detail,
                "version": outcome.version,
                "in_service": self.holder.version,
            },
        )
        return outcome

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        """Polls until ``stop``: every ``poll_seconds`` (jittered), backing off on failures."""
        failures, rng = 0, random.Random()
        while not stop.is_set():
            try:
                outcome = self.check_once()
            except Exception:  # noqa: BLE001 - the loop must outlive any one bad poll
                log.exception("model sync failed")
                outcome = SyncOutcome(UNREACHABLE, "internal error")
            failures = failures + 1 if outcome.status == UNREACHABLE else 0
            wait = max(jittered(poll_seconds, rng=rng), self.backoff.delay(failures, rng))
            stop.wait(wait)

    def _check(self) -> SyncOutcome:
        headers = {API_KEY_HEADER: self.key_file.api_key}
        url = self.server.rstrip("/") + manifest_path(self.model)
        try:
            response = self.client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            return SyncOutcome(UNREACHABLE, f"{url}: {exc.__class__.__name__}: {exc}")
        if response.status_code != 200:
            status = (
                UNREACHABLE
                if response.status_code >= 500 or response.status_code in (408, 429)
                else REJECTED
            )
            return SyncOutcome(status, f"{url}: HTTP {response.status_code}")
        try:
            body = response.json()
            manifest = verify_signed_manifest(body, self.key_file.public_key())
        except (ValueError, ProtocolError) as exc:  # JSON errors are ValueErrors too
            return SyncOutcome(REJECTED, f"manifest: {exc}")
        if manifest.model != self.model:
            return SyncOutcome(REJECTED, f"manifest is for model {manifest.model!r}")
        if manifest.version == self.holder.version:
            return SyncOutcome(UNCHANGED, version=manifest.version)
        known = self._rejected.get((manifest.version, manifest.sha256))
        if known:
            return SyncOutcome(REJECTED, f"already rejected: {known}", manifest.version)
        return self._update(body, manifest, headers)

    def _update(self, body: dict, manifest: ModelManifest, headers: dict[str, str]) -> SyncOutcome:
        url = urljoin(self.server.rstrip("/") + "/", manifest.artifact_url)
        partial = self.store.paths.partial_download(manifest.version)
        if not url.startswith(self.server.rstrip("/") + "/"):
            headers = {}  # never hand the API key to another host
        try:
            downloaded = download_artifact(self.client, url, manifest, partial, headers)
        except DownloadError as exc:
            return SyncOutcome(UNREACHABLE, str(exc), manifest.version)
        except ArtifactRejected as exc:
            return self._reject(manifest, f"artifact: {exc}")
        path = self.store.install(downloaded, manifest)
        try:
            classifier = FaceClassifier(path, manifest.classes, manifest.version)
            smoke_test(classifier, self.sample_faces)
        except ModelRejected as exc:
            path.unlink(missing_ok=True)
            return self._reject(manifest, str(exc))
        self.store.commit(body, manifest)
        previous = self.holder.swap(classifier)
        detail = f"replaced {previous.version}" if previous else "first model"
        return SyncOutcome(UPDATED, detail, manifest.version)

    def _reject(self, manifest: ModelManifest, why: str) -> SyncOutcome:
        self._rejected[(manifest.version, manifest.sha256)] = why
        return SyncOutcome(REJECTED, why, manifest.version)
