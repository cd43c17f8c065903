"""The last known good model on disk: ``models/<version>.tflite`` plus ``current.json``
holding its signed manifest, so a host restarts into a verified model with the server down.
Everything is re-verified (signature, size, sha256) when read back."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.artifact_download import sha256_of
from edge.protocol import ModelManifest, ProtocolError, verify_signed_manifest
from edge.state_paths import StatePaths, read_json, write_json_atomic

log = logging.getLogger(__name__)


class ModelStore:
    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths

    def install(self, downloaded: Path, manifest: ModelManifest) -> Path:
        """Moves a verified download to its version's file (not yet current)."""
        target = self.paths.model_file(manifest.version)
        os.replace(downloaded, target)
        return target

    def commit(self, signed_body: dict[str, Any], manifest: ModelManifest) -> None:
        """Makes ``manifest`` the last known good, and drops files older than the previous."""
        previous = self.current_version()
        write_json_atomic(self.paths.current_model, signed_body)
        keep = {self.paths.model_file(manifest.version).name}
        if previous:
            keep.add(self.paths.model_file(previous).name)
        for path in self.paths.models.glob("*.tflite"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def current_version(self) -> str | None:
        body = read_json(self.paths.current_model)
        if isinstance(body, dict) and isinstance(body.get("manifest"), dict):
            version = body["manifest"].get("version")
            return version if isinstance(version, str) else None
        return None

    def load_verified(self, public_key: Ed25519PublicKey) -> tuple[ModelManifest, Path] | None:
        """The stored model when its signature, size and sha256 still check out, else None."""
        body = read_json(self.paths.current_model)
        if body is None:
            return None
        try:
            manifest = verify_signed_manifest(body, public_key)
        except ProtocolError as exc:
            log.error("%s: stored manifest rejected: %s", self.paths.current_model, exc)
            return None
        path = self.paths.model_file(manifest.version)
        if not path.is_file():
            log.error("%s: stored model missing", path)
            return None
        if path.stat().st_size != manifest.size or sha256_of(path) != manifest.sha256:
            log.error("%s: stored model does not match its signed sha256/size", path)
            return None
        return manifest, path
