"""Where the runner keeps its state, in one place, so ``status`` reads what ``run`` wrote."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path("senim-edge-state")


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def clips(self) -> Path:
        return self.root / "clips"

    @property
    def current_model(self) -> Path:
        return self.root / "current.json"  # the signed manifest of the model in service

    @property
    def outbox(self) -> Path:
        return self.root / "outbox.db"

    @property
    def heartbeat(self) -> Path:
        return self.root / "heartbeat.json"  # the last heartbeat and how it went

    @property
    def runner(self) -> Path:
        return self.root / "runner.json"  # frame counters of the last or current run

    def model_file(self, version: str) -> Path:
        return self.models / f"{_safe(version)}.tflite"

    def partial_download(self, version: str) -> Path:
        return self.downloads / f"{_safe(version)}.tflite.part"

    def create(self) -> StatePaths:
        for folder in (self.root, self.models, self.downloads, self.clips):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def _safe(version: str) -> str:
    """A version as a file name: the registry's versions are digits, but never trust a path."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in version).lstrip(".") or "_"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write via a temp file and a rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
