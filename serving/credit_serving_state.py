"""Everything one credit service worker needs, loaded in the background at start-up
(``serving.serving_state``): the auth runtime, the prediction log and the model, which
must score a start-up application before the worker is ready."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auth.runtime import AuthRuntime
from senim.config import Params
from serving.credit_scoring import CreditScorer
from serving.prediction_log import PredictionLog
from serving.scoring_ledger import LedgerContext
from serving.serving_state import INSECURE_NO_AUTH_ENV, ServingState

__all__ = ["INSECURE_NO_AUTH_ENV", "CreditServingState", "Loaded", "load_from_environment"]


@dataclass(frozen=True)
class Loaded:
    params: Params
    runtime: AuthRuntime
    prediction_log: PredictionLog
    scorer: CreditScorer
    ledger: LedgerContext

    def describe(self) -> str:
        return self.scorer.card.describe()

    def model_cards(self) -> list[dict[str, Any]]:
        return [self.scorer.card.as_json()]

    def release(self) -> None:
        _release(self)


class CreditServingState(ServingState[Loaded]):
    """The credit worker's state; ``ledger`` feeds the scoring ledger middleware."""

    def __init__(self, load: Callable[[], Loaded] | None = None) -> None:
        super().__init__(load or load_from_environment, "credit")

    def ledger(self) -> LedgerContext | None:
        return None if self.loaded is None else self.loaded.ledger


def _release(loaded: Loaded) -> None:
    try:
        loaded.prediction_log.close()
    finally:
        loaded.runtime.close()


def load_from_environment() -> Loaded:
    """Params, stores, auth runtime, prediction log and the model, from the environment."""
    from senim.config import load_params
    from senim.environment import prepare_home, resolve_stores
    from serving.credit_model_source import load_scorer, resolve_model_tag
    from serving.served_model import service_params_path

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
