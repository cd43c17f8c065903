"""Everything one credit service worker needs, loaded in the background at start-up.

The worker answers ``/livez`` at once and ``/readyz`` only when the auth runtime, the
prediction log and the model are all loaded and the model has scored a start-up
application; ``Loaded`` is published in one assignment, so no request ever sees half of
it. A failure (registry or database unreachable, no deployment, a broken model) is
logged with its cause and retried with backoff; the worker stays not-ready meanwhile.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from auth.errors import AuthUnavailable
from auth.runtime import AuthRuntime
from senim.config import Params
from serving.credit_scoring import CreditScorer
from serving.prediction_log import PredictionLog
from serving.scoring_ledger import LedgerContext

logger = logging.getLogger("senim.serving.credit")

# For benchmarks only: serve /v1/* without authentication (logged loudly at start-up).
INSECURE_NO_AUTH_ENV = "SENIM_SERVING_INSECURE_NO_AUTH"
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0


@dataclass(frozen=True)
class Loaded:
    params: Params
    runtime: AuthRuntime
    prediction_log: PredictionLog
    scorer: CreditScorer
    ledger: LedgerContext


class CreditServingState:
    """Filled by ``start`` (a daemon thread); read by the middlewares and the handlers."""

    def __init__(self, load: Callable[[], Loaded] | None = None) -> None:
        self._load = load or load_from_environment
        self.loaded: Loaded | None = None
        self.last_error: str | None = None
        self.auth_disabled = os.environ.get(INSECURE_NO_AUTH_ENV, "") == "1"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.loaded is not None

    def start(self) -> None:
        if self.auth_disabled:
            logger.warning(
                "%s=1: /v1/* is served WITHOUT authentication (benchmarks only)",
                INSECURE_NO_AUTH_ENV,
            )
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="credit-loader", daemon=True)
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
                logger.error(
                    "credit service not ready: %s; retrying in %.0fs", self.last_error, delay
                )
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            if self._stop.is_set():  # closed while loading: never publish, release it
                _release(loaded)
                return
            # Everything loaded so far lives as long as the worker: move it out of the
            # collector's view, so a full collection under load does not walk the model
            # and the libraries again (pauses of 100-200 ms otherwise, at p99).
            gc.collect()
            gc.freeze()
            self.loaded = loaded
            self.last_error = None
            card = loaded.scorer.card
            logger.info(
                "credit service ready: %s version %s (%s), data %s",
                card.model_name, card.model_version, card.bento_tag, card.data_version,
            )  # fmt: skip
            return

    def runtime(self) -> AuthRuntime:
        """For ``AuthMiddleware`` and the auth app: the runtime, or 503 while starting."""
        if self.loaded is None:
            raise AuthUnavailable()
        return self.loaded.runtime

    def ledger(self) -> LedgerContext | None:
        return None if self.loaded is None else self.loaded.ledger

    def close(self) -> None:
        self._stop.set()
        loaded, self.loaded = self.loaded, None
        if loaded is not None:
            _release(loaded)


def _release(loaded: Loaded) -> None:
    try:
        loaded.prediction_log.close()
    finally:
        loaded.runtime.close()


def load_from_environment() -> Loaded:
    """Params, stores, auth runtime, prediction log and the model, from the environment."""
    from senim.config import load_params
    from senim.environment import prepare_home, resolve_stores
    from serving.credit_model_source import load_scorer, resolve_model_tag, service_params_path

    stores = resolve_stores()
    prepare_home(stores)
    params = load_params(service_params_path(stores))
    runtime = AuthRuntime.build(params.auth, stores.database_url, stores.home)
    try:
        prediction_log = PredictionLog.from_database_url(
            stores.database_url, store_inputs=params.scoring.store_inputs
        )
        try:
            scorer = load_scorer(resolve_model_tag(stores), params.scoring)
        except BaseException:
            prediction_log.close()
            raise
    except BaseException:
        runtime.close()
        raise
    card = scorer.card
    return Loaded(
        params=params,
        runtime=runtime,
        prediction_log=prediction_log,
        scorer=scorer,
        ledger=LedgerContext(
            prediction_log=prediction_log,
            max_batch=params.scoring.max_batch,
            model_name=card.model_name,
            model_version=card.model_version,
            data_version=card.data_version,
        ),
    )
