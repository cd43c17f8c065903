"""Version a data snapshot with DVC: track it, cache it, push it to the remote.

The DVC hash (md5 of the file's bytes) is the data version that follows a model into
MLflow tags, the registry and every prediction. DVC's own state stays under SENIM_HOME
(cache, site cache, remote by default), set through config overrides so nothing is
written to ``.dvc/config``.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from senim.environment import Stores
from senim.errors import DataError, StoreUnreachableError

if TYPE_CHECKING:
    from dvc.repo import Repo

REMOTE_NAME = "senim"


@dataclass(frozen=True)
class DataVersion:
    md5: str
    path: Path
    dvc_file: Path
    remote: str


def file_md5(path: Path) -> str:
    """The same hash DVC records for a single file (md5 of its bytes)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dvc_config(stores: Stores) -> dict:
    return {
        "core": {
            "remote": REMOTE_NAME,
            "site_cache_dir": str(stores.home / "dvc-site-cache"),
            "analytics": False,
            "autostage": False,
            # A workspace outside git (a container image, a copied folder) still versions data.
            "no_scm": not (stores.workspace / ".git").exists(),
        },
        "remote": {REMOTE_NAME: {"url": stores.dvc_remote}},
        "cache": {"dir": str(stores.home / "dvc-cache")},
    }


@contextmanager
def open_dvc_repo(stores: Stores):
    """The workspace's DVC repo with Senim's overrides; initialised when missing."""
    from dvc.repo import Repo

    # DVC logs git hints ("To track the changes with git, run ...") at INFO; we report
    # the data version ourselves.
    logging.getLogger("dvc").setLevel(logging.WARNING)
    root = stores.workspace
    if not (root / ".dvc").is_dir():
        Repo.init(str(root), no_scm=not (root / ".git").exists())
    repo: Repo = Repo(str(root), config=_dvc_config(stores))
    try:
        yield repo
    finally:
        repo.close()


def version_snapshot(path: Path, stores: Stores, *, push: bool = True) -> DataVersion:
    """``dvc add`` the snapshot and ``dvc push`` it; returns the recorded data version."""
    path = Path(path).resolve()
    if not path.is_file():
        raise DataError(f"snapshot to version does not exist: {path}")
    try:
        path.relative_to(stores.workspace)
    except ValueError:
        raise DataError(
            f"snapshot {path} is outside the DVC workspace {stores.workspace}"
        ) from None
    with open_dvc_repo(stores) as repo:
        stages = repo.add(str(path))
        out = stages[0].outs[0]
        md5 = out.hash_info.value
        if push:
            try:
                repo.push(targets=[str(path)], remote=REMOTE_NAME)
            except Exception as exc:  # dvc wraps fs errors in many types
                raise StoreUnreachableError(
                    f"cannot push data to DVC remote {stores.dvc_remote}: {exc}"
                ) from exc
    return DataVersion(
        md5=md5, path=path, dvc_file=path.with_name(path.name + ".dvc"), remote=stores.dvc_remote
    )


def versioned_snapshot(md5: str, stores: Stores) -> Path:
    """The bytes of data version ``md5`` in the local DVC cache, pulled from the remote
    when the cache lacks them (a fresh machine, another worker): what a model was
    trained on, for monitoring's reference. A DataError when neither has it."""
    if not md5 or len(md5) < 3 or not all(ch in "0123456789abcdef" for ch in md5):
        raise DataError(f"not a DVC data version (an md5): {md5!r}")
    cached = stores.home / "dvc-cache" / "files" / "md5" / md5[:2] / md5[2:]
    if cached.is_file():
        return cached
    from dvc_data.hashfile.hash_info import HashInfo

    with open_dvc_repo(stores) as repo:
        try:
            repo.cloud.pull([HashInfo("md5", md5)], remote=REMOTE_NAME)
        except Exception as exc:  # dvc wraps fs errors in many types
            raise StoreUnreachableError(
                f"cannot pull data version {md5} from DVC remote {stores.dvc_remote}: {exc}"
            ) from exc
    if not cached.is_file():
        raise DataError(
            f"data version {md5} is in neither the DVC cache ({cached.parent.parent}) nor the "
            f"remote {stores.dvc_remote}"
        )
    return cached
