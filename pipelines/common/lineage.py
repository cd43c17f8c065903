"""Lineage facts that follow every model: code version and configuration fingerprint."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from senim.config import Params

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lineage:
    data_version: str
    git_commit: str
    validation_result: str  # "passed (62/62 expectations)"
    params_hash: str

    def tags(self) -> dict[str, str]:
        return {
            "data_version": self.data_version,
            "git_commit": self.git_commit,
            "gx_result": self.validation_result,
            "params_hash": self.params_hash,
        }


def git_commit(workspace: Path) -> str:
    """HEAD of the workspace, suffixed ``-dirty`` when tracked files changed; else 'unknown'."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except FileNotFoundError:
        logger.warning("git is not on PATH: the model's git_commit is recorded as 'unknown'")
        return "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def params_hash(params: Params) -> str:
    canonical = json.dumps(params.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def flatten_params(params: Params) -> dict[str, str]:
    """``{"tuning.trials.xgboost": "8", ...}`` for MLflow params."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            flat[prefix] = json.dumps(value) if isinstance(value, list) else str(value)

    walk("", params.model_dump(mode="json"))
    return flat


def lineage_for(params: Params, *, data_version: str, git_commit: str, validation: str) -> Lineage:
    return Lineage(
        data_version=data_version,
        git_commit=git_commit,
        validation_result=validation,
        params_hash=params_hash(params),
    )
