"""Which model version camera hosts should run, and its int8 TFLite file, from the registry.

The served version is the one alias ``edge`` points at, else ``champion``: operators can
hold the fleet on a version (or roll it back) without touching what production serves.
When ``edge`` is set but its version has no accepted int8 export, nothing is served
(404) rather than silently falling back, so the operator sees the mistake.

Downloadable are only the versions the two aliases point at now, and only with an
accepted int8 export: a rejected challenger's bytes never leave the server, and a host
that raced an alias move simply polls the manifest again.

A fleet polls often, so the alias resolution is kept for ``ttl_s`` seconds (default 5):
MLflow sees one lookup per window, and an alias move reaches hosts within it. Each
artifact is fetched once into ``SENIM_HOME/edge-cache/<model>/<version>.tflite``
(atomically) and checked against the sha256 tag; a file that does not match is an
error, never served.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.protocol import EMOTIONS, MANIFEST_VERSION, ModelManifest, artifact_path
from senim.errors import RegistryError, SenimError, StoreUnreachableError

EDGE_ALIAS = "edge"
FALLBACK_ALIAS = "champion"
EXPORT_KIND = "int8"
MANIFEST_FORMAT = "tflite-int8"
INPUT_SHAPE = (48, 48)
RESOLUTION_TTL_S = 5.0
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class EdgeModelNotFound(RegistryError):
    """No version to serve or download; the message says which alias or version, and why."""


class ArtifactIntegrityError(SenimError):
    """The fetched artifact does not match the sha256 or size the registry recorded."""


@dataclass(frozen=True)
class EdgeRelease:
    """One version hosts may run: where its int8 file is and what it must hash to."""

    version: str
    alias: str
    run_id: str
    artifact: str  # the run's artifact path, e.g. exports/fer-emotion-int8.tflite
    sha256: str
    size: int
    created_at: str  # ISO 8601 UTC: when the version was registered


@dataclass(frozen=True)
class Resolution:
    """The aliases as read at one moment: the served release, or why there is none."""

    serving: EdgeRelease | None
    problem: str | None
    downloadable: dict[str, EdgeRelease]


@dataclass(frozen=True)
class CachedArtifact:
    path: Path
    sha256: str
    size: int


class EdgeDistribution:
    """Resolves the edge release of one registered model and keeps its files locally."""

    def __init__(
        self,
        client: Any,
        model_name: str,
        cache_dir: Path,
        key_id: str,
        *,
        ttl_s: float = RESOLUTION_TTL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError(f"ttl_s must be >= 0, got {ttl_s}")
        self.client = client
        self.model_name = model_name
        self.cache_dir = cache_dir
        self.key_id = key_id
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._resolve_lock = threading.Lock()
        self._resolved: tuple[float, Resolution] | None = None
        self._fetch_lock = threading.Lock()
        self._verified: dict[Path, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha)

    # ------------------------------------------------------------------ resolution

    def resolution(self) -> Resolution:
        """The aliases as read at most ``ttl_s`` ago; one registry lookup at a time."""
        with self._resolve_lock:
            now = self._monotonic()
            if self._resolved is not None and now - self._resolved[0] < self.ttl_s:
                return self._resolved[1]
            resolution = self._resolve()
            self._resolved = (self._monotonic(), resolution)
            return resolution

    def manifest(self) -> ModelManifest:
        """The unsigned manifest of the served release, or EdgeModelNotFound."""
        resolution = self.resolution()
        if resolution.serving is None:
            raise EdgeModelNotFound(resolution.problem or "no edge model")
        release = resolution.serving
        return ModelManifest(
            manifest_version=MANIFEST_VERSION,
            model=self.model_name,
            version=release.version,
            alias=release.alias,
            format=MANIFEST_FORMAT,
            artifact_url=artifact_path(self.model_name, release.version),
            size=release.size,
            sha256=release.sha256,
            created_at=release.created_at,
            classes=EMOTIONS,
            input_shape=INPUT_SHAPE,
            key_id=self.key_id,
        )

    def downloadable(self, version: str) -> EdgeRelease:
        release = self.resolution().downloadable.get(version)
        if release is None:
            raise EdgeModelNotFound(
                f"{self.model_name} version {version!r} is not available to edge hosts: only "
                f"the versions aliased {EDGE_ALIAS} or {FALLBACK_ALIAS} with an accepted "
                f"{EXPORT_KIND} export are"
            )
        return release

    def _resolve(self) -> Resolution:
        from mlflow.exceptions import MlflowException

        from pipelines.release.registry import current_alias

        try:
            versions = {
                alias: current_alias(self.client, self.model_name, alias)
                for alias in (EDGE_ALIAS, FALLBACK_ALIAS)
            }
        except (MlflowException, OSError) as exc:
            raise StoreUnreachableError(
                f"cannot read the aliases of {self.model_name} from the model registry: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
            ) from None
        releases: dict[str, EdgeRelease] = {}
        problems: dict[str, str] = {}
        for alias, version in versions.items():
            if version is None:
                continue
            release, problem = _release(version, alias)
            if release is not None:
                releases.setdefault(release.version, release)
            else:
                problems[alias] = problem
        chosen = EDGE_ALIAS if versions[EDGE_ALIAS] is not None else FALLBACK_ALIAS
        if versions[chosen] is None:
            return Resolution(
                None,
                f"{self.model_name} has no version aliased {EDGE_ALIAS} or {FALLBACK_ALIAS}",
                releases,
            )
        if chosen in problems:
            return Resolution(None, problems[chosen], releases)
        return Resolution(releases[str(versions[chosen].version)], None, releases)

    # ------------------------------------------------------------------ artifacts

    def artifact(self, version: str) -> CachedArtifact:
        """The local, verified file of a downloadable version (fetched on first use)."""
        release = self.downloadable(version)
        path = self.cache_dir / _safe_name(self.model_name) / f"{_safe_name(version)}.tflite"
        with self._fetch_lock:
            if path.exists() and self._matches(path, release):
                return CachedArtifact(path, release.sha256, release.size)
            self._fetch(release, path)
            if not self._matches(path, release):  # only if the file changed under us
                raise ArtifactIntegrityError(f"{path} changed while it was being verified")
        return CachedArtifact(path, release.sha256, release.size)

    def _matches(self, path: Path, release: EdgeRelease) -> bool:
        """Whether the cached file is this release's; hashed once per process per file."""
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime_ns, release.sha256)
        if self._verified.get(path) == key:
            return True
        if stat.st_size == release.size and _sha256_of(path) == release.sha256:
            self._verified[path] = key
            return True
        return False

    def _fetch(self, release: EdgeRelease, path: Path) -> None:
        from mlflow.exceptions import MlflowException

        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=path.parent) as scratch:
            try:
                local = Path(
                    self.client.download_artifacts(release.run_id, release.artifact, scratch)
                )
            except (MlflowException, OSError) as exc:
                raise StoreUnreachableError(
                    f"cannot fetch {release.artifact} of {self.model_name} version "
                    f"{release.version} from the artifact store: {str(exc).splitlines()[0][:200]}"
                ) from None
            size, digest = local.stat().st_size, _sha256_of(local)
            if (size, digest) != (release.size, release.sha256):
                raise ArtifactIntegrityError(
                    f"{self.model_name} version {release.version}: the artifact "
                    f"{release.artifact} has sha256 {digest} and {size} bytes, but the "
                    f"registry recorded {release.sha256} and {release.size}; it is not served"
                )
            os.chmod(local, 0o644)
            os.replace(local, path)


def _release(version: Any, alias: str) -> tuple[EdgeRelease | None, str]:
    """The release a registry version offers, or None and the reason it offers none."""
    tags = version.tags or {}
    prefix = f"export.{EXPORT_KIND}"
    where = f"version {version.version} (alias {alias})"
    if tags.get(f"{prefix}.accepted") != "true":
        reason = tags.get(f"{prefix}.reason") or "no such export"
        return None, f"{where} has no accepted {EXPORT_KIND} export ({reason})"
    sha256 = tags.get(f"{prefix}.sha256", "")
    size = tags.get(f"{prefix}.size_bytes", "")
    artifact = tags.get(f"{prefix}.artifact", "")
    if not _SHA256.fullmatch(sha256) or not size.isdigit() or int(size) <= 0 or not artifact:
        return None, f"{where} has incomplete {prefix}.* tags (sha256, size_bytes, artifact)"
    created = datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
    return (
        EdgeRelease(
            version=str(version.version),
            alias=alias,
            run_id=version.run_id,
            artifact=artifact,
            sha256=sha256,
            size=int(size),
            created_at=created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        ),
        "",
    )


def _safe_name(text: str) -> str:
    """A path component from a model name or version (they come from URLs)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", text) or ".." in text:
        raise EdgeModelNotFound(f"{text!r} is not a model name or version")
    return text


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
