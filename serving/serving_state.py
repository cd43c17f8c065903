"""A service worker's state, loaded in the background at start-up (credit, emotion).

The worker answers ``/livez`` at once and ``/readyz`` only when everything the family's
``load`` returns (the auth runtime, the model checked on a start-up input, ...) is up;
the loaded value is published in one assignment, so no request ever sees half of it. A
failure (registry or database unreachable, no deployment, a broken model) is logged with
its cause and retried with backoff; the worker stays not-ready meanwhile.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from auth.errors import AuthUnavailable
from auth.runtime import AuthRuntime

# For benchmarks only: serve /v1/* without authentication (logged loudly at start-up).
INSECURE_NO_AUTH_ENV = "SENIM_SERVING_INSECURE_NO_AUTH"
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0


class LoadedService(Protocol):
    """What every family's loaded state offers the shared middlewares and routes."""

    runtime: AuthRuntime

    def describe(self) -> str: ...  # one line for the "ready" log

    def model_cards(self) -> list[dict[str, Any]]: ...  # GET /v1/models

    def release(self) -> None: ...


L = TypeVar("L", bound=LoadedService)


class ServingState(Generic[L]):
    """Filled by ``start`` (a daemon thread); read by the middlewares and the handlers."""

    def __init__(self, load: Callable[[], L], name: str) -> None:
        self._load = load
        self.name = name
        self._log = logging.getLogger(f"senim.serving.{name}")
        self.loaded: L | None = None
        self.last_error: str | None = None
        self.auth_disabled = os.environ.get(INSECURE_NO_AUTH_ENV, "") == "1"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.loaded is not None

    def start(self) -> None:
        if self.auth_disabled:
            self._log.warning(
                "%s=1: /v1/* is served WITHOUT authentication (benchmarks only)",
                INSECURE_NO_AUTH_ENV,
            )
        if self._thread is None:
            name = f"{self.name}-loader"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """For tests and tools: block until loaded (True) or ``timeout`` passes."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.ready

    def _run(self) -> None:
        delay = FIRST_RETRY_S
        while not self._stop.is_set():
            try:
                loaded = self._load()
            except Exception as exc:  # noqa: BLE001 - any failure: not ready, say why, retry
                self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                self._log.error(
                    "%s service not ready: %s; retrying in %.0fs", self.name, self.last_error, delay
                )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            if self._stop.is_set():  # closed while loading: never publish, release it
                loaded.release()
                return
            # Everything loaded so far lives as long as the worker: move it out of the
            # collector's view, so a full collection under load does not walk the model
            # and the libraries again (pauses of 100-200 ms otherwise, at p99).
            gc.collect()
            gc.freeze()
            self.loaded = loaded
            self.last_error = None
            self._log.info("%s service ready: %s", self.name, loaded.describe())
            return

    def runtime(self) -> AuthRuntime:
        """For ``AuthMiddleware`` and the auth app: the runtime, or 503 while starting."""
        if self.loaded is None:
            raise AuthUnavailable()
        return self.loaded.runtime

    def close(self) -> None:
        self._stop.set()
        loaded, self.loaded = self.loaded, None
        if loaded is not None:
            loaded.release()
