"""Resumable artifact download: bytes go to a ``.part`` file in the state dir, a cut
connection keeps what arrived and the next attempt asks for the rest with ``Range``. The
file is handed over only once its size and sha256 match the signed manifest."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import httpx

from edge.protocol import ModelManifest

log = logging.getLogger(__name__)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(Exception):
    """The download did not finish (worth retrying: the partial file is kept)."""


class ArtifactRejected(Exception):
    """The bytes are not the artifact the manifest signed (the partial file is deleted)."""


def download_artifact(
    client: httpx.Client,
    url: str,
    manifest: ModelManifest,
    partial: Path,
    headers: dict[str, str],
    attempts: int = 3,
) -> Path:
    """``partial`` holding exactly the signed artifact, after up to ``attempts`` requests."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for _ in range(attempts):
        try:
            _fetch_rest(client, url, manifest.size, partial, headers)
            if _size(partial) < manifest.size:
                raise DownloadError(f"the body ended at {_size(partial)} of {manifest.size} bytes")
        except (httpx.TransportError, DownloadError) as exc:
            last_error = exc
            log.warning("download of %s cut at %d bytes: %s", url, _size(partial), exc)
            continue
        except ArtifactRejected:
            partial.unlink(missing_ok=True)
            raise
        _check_complete(partial, manifest)
        return partial
    raise DownloadError(f"{url}: incomplete after {attempts} attempts ({last_error})")


def _fetch_rest(
    client: httpx.Client, url: str, size: int, partial: Path, headers: dict[str, str]
) -> None:
    offset = _size(partial)
    if offset > size:
        partial.unlink()
        offset = 0
    if offset == size:
        return
    request_headers = dict(headers)
    if offset:
        request_headers["Range"] = f"bytes={offset}-"
    with client.stream("GET", url, headers=request_headers) as response:
        if response.status_code == 206:
            start = _range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                partial.unlink(missing_ok=True)
                raise DownloadError(f"server resumed at byte {start}, expected {offset}")
            mode = "ab"
        elif response.status_code == 200:
            mode = "wb"  # the server ignored the range: start over
        elif response.status_code == 416:
            partial.unlink(missing_ok=True)
            raise DownloadError("server refused the range (416): starting over")
        else:
            raise DownloadError(f"HTTP {response.status_code}")
        with partial.open(mode) as handle:
            written = handle.tell()
            for chunk in response.iter_bytes():
                written += len(chunk)
                if written > size:
                    raise ArtifactRejected(f"larger than the signed size {size}")
                handle.write(chunk)


def _check_complete(partial: Path, manifest: ModelManifest) -> None:
    actual = _size(partial)
    if actual != manifest.size:
        partial.unlink(missing_ok=True)
        raise ArtifactRejected(f"size {actual} bytes, the manifest signed {manifest.size}")
    digest = sha256_of(partial)
    if digest != manifest.sha256:
        partial.unlink(missing_ok=True)
        raise ArtifactRejected(
            f"sha256 {digest[:12]}..., the manifest signed {manifest.sha256[:12]}..."
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _range_start(header: str) -> int:
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if not match:
        raise DownloadError(f"206 without a usable Content-Range ({header!r})")
    return int(match.group(1))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
