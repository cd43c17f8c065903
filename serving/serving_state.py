"""A service worker's state, loaded in the background at start-up (credit, emotion).

The worker answers ``/livez`` at once and ``/readyz`` only when everything the family's
``load`` returns (the auth runtime, the model checked on a start-up input, ...) is up;
the loaded value is published in one assignment, so no request ever sees half of it. A
failure (registry or database unreachable, no deployment, a broken model) is logged with
its cause and retried with backoff; the worker stays not-ready meanwhile.

Once ready, a worker that follows deployments (``deployment.follow_registry``) polls its
family's deployment record (``serving.deployment_watch``). When the record names other
models, the family's ``reload`` loads them next to the ones serving (each checked on its
start-up input), and the new state is published in one assignment between requests: a
request in flight finishes on the state it started with. A model that fails to load or
to pass its check is never served; the old state stays and the reason is logged and kept
in ``last_swap_error``. If the record moved on while a model was loading, the newer
record is loaded instead (the last promotion wins; no mix is ever published).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from auth.errors import AuthUnavailable
from auth.runtime import AuthRuntime
from serving.deployment_watch import DeploymentWatch, ServingTarget

# For benchmarks only: serve /v1/* without authentication (logged loudly at start-up).
INSECURE_NO_AUTH_ENV = "SENIM_SERVING_INSECURE_NO_AUTH"
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0
# A record that keeps moving while models load: give up this round after so many loads.
MAX_LOADS_PER_SWAP = 5


@dataclass(frozen=True)
class Following:
    """Where a worker's deployment record is and how often to read it."""

    record: Path
    every_s: float


class LoadedService(Protocol):
    """What every family's loaded state offers the shared middlewares and routes."""

    runtime: AuthRuntime

    def describe(self) -> str: ...  # one line for the "ready" log

    def model_cards(self) -> list[dict[str, Any]]: ...  # GET /v1/models

    def serving_target(self) -> ServingTarget: ...  # the model tags it serves

    def following(self) -> Following | None: ...  # None: serve what was loaded, always

    def retire(self, successor: Any) -> None: ...  # free what ``successor`` does not share

    def release(self) -> None: ...


L = TypeVar("L", bound=LoadedService)


class ServingState(Generic[L]):
    """Filled by ``start`` (a daemon thread); read by the middlewares and the handlers."""

    def __init__(
        self,
        load: Callable[[], L],
        name: str,
        reload: Callable[[L, ServingTarget], L] | None = None,
    ) -> None:
        self._load = load
        self._reload = reload
        self.name = name
        self._log = logging.getLogger(f"senim.serving.{name}")
        self.loaded: L | None = None
        self.last_error: str | None = None
        self.last_swap_error: str | None = None
        self.swaps = 0
        self._ready = threading.Event()
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
            deadline = time.monotonic() + timeout
            while not self._ready.is_set() and self._thread.is_alive():
                if self._ready.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                    break
                if time.monotonic() >= deadline:
                    break
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
            self._ready.set()
            self._follow(loaded)
            return

    def _follow(self, loaded: L) -> None:
        following = loaded.following() if self._reload is not None else None
        if following is None:
            return
        self._log.info(
            "%s service follows %s (every %gs)", self.name, following.record, following.every_s
        )
        watch = DeploymentWatch(following.record)
        while not self._stop.wait(following.every_s):
            try:
                target = watch.poll()
            except Exception as exc:  # noqa: BLE001 - a bad record never stops the service
                self._swap_failed(None, exc)
                continue
            if target is not None and target.current is not None:
                self.follow_to(target, watch)

    def follow_to(self, target: ServingTarget, watch: DeploymentWatch | None = None) -> bool:
        """Load ``target`` and publish it, or keep serving the old state (False).

        With ``watch``, the record is read again after each load: if it names something
        newer by then, that is loaded instead, so the last promotion wins.
        """
        if self._reload is None:
            raise RuntimeError(f"the {self.name} service cannot swap models")
        for _ in range(MAX_LOADS_PER_SWAP):
            current = self.loaded
            if current is None or self._stop.is_set():
                return False
            if target == current.serving_target():
                return False
            try:
                fresh = self._reload(current, target)
            except Exception as exc:  # noqa: BLE001 - any failure: keep serving, say why
                self._swap_failed(target, exc)
                return False
            try:
                latest = watch.read() if watch is not None else None
            except Exception:  # noqa: BLE001 - the poll loop reports a bad record
                latest = None
            if latest is not None and latest.current is not None and latest != target:
                fresh.retire(current)
                self._log.info(
                    "%s: the deployment record moved to %s while %s loaded; loading that",
                    self.name,
                    latest.describe(),
                    target.describe(),
                )
                target = latest
                continue
            if self._stop.is_set():
                fresh.retire(current)
                return False
            self.loaded = fresh  # one assignment: a request sees the old or the new state
            current.retire(fresh)  # a request still on it finishes; its shadow drains
            self.swaps += 1
            self.last_swap_error = None
            self._log.info(
                "%s service swapped to %s (was %s)",
                self.name,
                fresh.describe(),
                current.describe(),
            )
            return True
        self._swap_failed(target, RuntimeError("the deployment record kept moving"))
        return False

    def _swap_failed(self, target: ServingTarget | None, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
        self.last_swap_error = reason
        serving = self.loaded.describe() if self.loaded is not None else "nothing"
        wanted = target.describe() if target is not None else "the deployment record"
        self._log.error(
            "%s service keeps serving %s: cannot serve %s: %s", self.name, serving, wanted, reason
        )

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
