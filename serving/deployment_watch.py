"""What a running service should serve, read from its family's deployment record.

``senim deploy`` (and the ``deploy-*`` flows, and the registry follower) write
``SENIM_HOME/deployments/<family>.json`` atomically: ``current`` is the model tag to serve,
``shadow`` (credit only) a challenger to score the same traffic off the request path.
A running service polls the record (a ``stat`` per poll; the file is parsed only when it
changed) and swaps to what it names (``serving.serving_state``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from senim.errors import RegistryError


@dataclass(frozen=True)
class ServingTarget:
    """The model tags a service should serve: ``current`` live, ``shadow`` alongside."""

    current: str | None
    shadow: str | None = None

    def describe(self) -> str:
        shadow = f", shadow {self.shadow}" if self.shadow else ""
        return f"{self.current or 'nothing'}{shadow}"


class DeploymentRecordError(RegistryError):
    """The deployment record exists but cannot be read as one."""


class DeploymentWatch:
    """Polls one deployment record; ``poll`` answers what it names when it has changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None

    def poll(self) -> ServingTarget | None:
        """The record's target if the file changed since the last poll (or was never
        read), else None. A missing record is no change: a service keeps what it serves.
        Raises DeploymentRecordError for a record that is not valid JSON of the right
        shape; that version of the file is not read again."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        return self.read()

    def read(self) -> ServingTarget | None:
        """The record's target now (None without a record)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            state = json.loads(text)
        except ValueError as exc:
            raise DeploymentRecordError(f"{self.path}: not valid JSON ({exc})") from None
        if not isinstance(state, dict):
            raise DeploymentRecordError(f"{self.path}: expected a JSON object")
        current, shadow = state.get("current"), state.get("shadow")
        for field, value in (("current", current), ("shadow", shadow)):
            if value is not None and (not isinstance(value, str) or ":" not in value):
                raise DeploymentRecordError(
                    f"{self.path}: {field} must be a model tag like name:version, got {value!r}"
                )
        return ServingTarget(current=current, shadow=shadow)
