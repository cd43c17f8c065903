"""Everything one credit service worker needs, loaded in the background at start-up
(``serving.serving_state``): the auth runtime, the prediction log and the model, which
must score a start-up application before the worker is ready; and, when the deployment
record names them, a newer model (swapped in) or a shadow challenger (``credit_shadow``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auth.runtime import AuthRuntime
from senim.config import Params
from serving.credit_scoring import CreditScorer
from serving.credit_shadow import ShadowScorer
from serving.deployment_watch import ServingTarget
from serving.prediction_log import PredictionLog
from serving.scoring_ledger import LedgerContext
from serving.serving_state import INSECURE_NO_AUTH_ENV, Following, ServingState

logger = logging.getLogger(__name__)

__all__ = ["INSECURE_NO_AUTH_ENV", "CreditServingState", "Loaded", "load_from_environment"]


@dataclass(frozen=True)
class Loaded:
    params: Params
    runtime: AuthRuntime
    prediction_log: PredictionLog
    scorer: CreditScorer
    ledger: LedgerContext
    record: Path | None = None  # the deployment record it follows (None: it does not)

    @property
    def shadow(self) -> ShadowScorer | None:
        return self.ledger.shadow

    def describe(self) -> str:
        shadow = f"; shadow {self.shadow.scorer.card.describe()}" if self.shadow else ""
        return self.scorer.card.describe() + shadow

    def model_cards(self) -> list[dict[str, Any]]:
        cards = [{**self.scorer.card.as_json(), "role": "live"}]
        if self.shadow is not None:
            cards.append({**self.shadow.scorer.card.as_json(), "role": "shadow"})
        return cards

    def serving_target(self) -> ServingTarget:
        shadow = self.shadow.tag if self.shadow is not None else None
        return ServingTarget(current=self.scorer.card.bento_tag, shadow=shadow)

    def following(self) -> Following | None:
        if self.record is None or not self.params.deployment.follow_registry:
            return None
        return Following(self.record, self.params.deployment.watch_seconds)

    def retire(self, successor: Loaded | None) -> None:
        if self.shadow is not None and (successor is None or successor.shadow is not self.shadow):
            self.shadow.close()

    def release(self) -> None:
        self.retire(None)
        _release(self)


class CreditServingState(ServingState[Loaded]):
    """The credit worker's state; ``ledger`` feeds the scoring ledger middleware."""

    def __init__(self, load: Callable[[], Loaded] | None = None) -> None:
        super().__init__(load or load_from_environment, "credit", reload=reload_models)

    def ledger(self) -> LedgerContext | None:
        return None if self.loaded is None else self.loaded.ledger


def _release(loaded: Loaded) -> None:
    try:
        loaded.prediction_log.close()
    finally:
        loaded.runtime.close()


def reload_models(loaded: Loaded, target: ServingTarget) -> Loaded:
    """``loaded`` with the models ``target`` names: each one not serving yet is loaded and
    checked on a start-up application; the auth runtime and prediction log are kept. A
    live model that fails raises (nothing changes); a shadow that fails is logged and
    left out, since it never answers anyone."""
    from serving.credit_model_source import load_scorer

    scorer = loaded.scorer
    if target.current is not None and target.current != scorer.card.bento_tag:
        scorer = load_scorer(target.current, loaded.params.scoring)
    shadow = loaded.shadow
    if target.shadow is None:
        shadow = None
    elif shadow is None or shadow.tag != target.shadow:
        try:
            shadow = ShadowScorer(
                load_scorer(target.shadow, loaded.params.scoring),
                loaded.prediction_log,
                loaded.params.deployment.shadow_queue,
            )
        except Exception as exc:  # noqa: BLE001 - a broken shadow never affects live answers
            logger.error("shadow %s not loaded, serving without it: %s", target.shadow, exc)
            shadow = None
    card = scorer.card
    ledger = replace(
        loaded.ledger,
        model_name=card.model_name,
        model_version=card.model_version,
        data_version=card.data_version,
        shadow=shadow,
    )
    return replace(loaded, scorer=scorer, ledger=ledger)


def load_from_environment() -> Loaded:
    """Params, stores, auth runtime, prediction log and the model, from the environment."""
    from pipelines.credit.deploy import CREDIT
    from pipelines.release.deploy import deployment_record_path
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
            keep_features=params.monitoring.keep_credit_features,
        ),
        record=deployment_record_path(stores, CREDIT),
    )
