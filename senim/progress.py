"""Progress reporting that jobs can call without knowing who (if anyone) is watching.

The CLI installs a rich progress bar; flows, tests and DVC stages run with the silent
default. Reporters must be thread-safe: Prefect runs tuning tasks on worker threads.
"""

from __future__ import annotations

import threading
from typing import Protocol


class Reporter(Protocol):
    def stage(self, message: str) -> None: ...

    def start(self, key: str, description: str, total: int) -> None: ...

    def advance(self, key: str) -> None: ...


class SilentReporter:
    def stage(self, message: str) -> None:
        return None

    def start(self, key: str, description: str, total: int) -> None:
        return None

    def advance(self, key: str) -> None:
        return None


class RichReporter:
    """One bar per tuning study, plus a line per stage, on stderr."""

    def __init__(self, progress) -> None:
        self._progress = progress
        self._tasks: dict[str, int] = {}
        self._lock = threading.Lock()

    def stage(self, message: str) -> None:
        self._progress.console.print(f"[bold cyan]•[/] {message}")

    def start(self, key: str, description: str, total: int) -> None:
        """A new bar, or the bar ``key`` started over (a bar per epoch reuses one line)."""
        with self._lock:
            if key in self._tasks:
                self._progress.reset(self._tasks[key], total=total, description=description)
            else:
                self._tasks[key] = self._progress.add_task(description, total=total)

    def advance(self, key: str) -> None:
        with self._lock:
            if key in self._tasks:
                self._progress.advance(self._tasks[key])


_reporter: Reporter = SilentReporter()


def set_reporter(reporter: Reporter | None) -> None:
    global _reporter
    _reporter = reporter or SilentReporter()


def reporter() -> Reporter:
    return _reporter
