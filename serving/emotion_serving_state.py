"""Everything one emotion service worker needs, loaded in the background at start-up
(``serving.serving_state``): params, the auth runtime and the model, which must classify
a start-up face before the worker is ready; a newer deployment is swapped in while it runs
(``serving.serving_state``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auth.runtime import AuthRuntime
from senim.config import Params
from senim.environment import Stores
from serving.deployment_watch import ServingTarget
from serving.emotion_model_source import EmotionModel
from serving.prediction_log import PredictionLog
from serving.serving_state import Following, ServingState


@dataclass(frozen=True)
class EmotionLoaded:
    params: Params
    stores: Stores
    runtime: AuthRuntime
    model: EmotionModel
    record: Path | None = None  # the deployment record it follows (None: it does not)
    prediction_log: PredictionLog | None = None  # each answered request, for monitoring

    def describe(self) -> str:
        return self.model.card.describe()

    def model_cards(self) -> list[dict[str, Any]]:
        return [{**self.model.card.as_json(), "role": "live"}]

    def serving_target(self) -> ServingTarget:
        return ServingTarget(current=self.model.card.bento_tag)

    def following(self) -> Following | None:
        if self.record is None or not self.params.deployment.follow_registry:
            return None
        return Following(self.record, self.params.deployment.watch_seconds)

    def retire(self, successor: EmotionLoaded | None) -> None:
        """Nothing to free: the TFLite interpreter goes with the last request using it."""

    def release(self) -> None:
        try:
            if self.prediction_log is not None:
                self.prediction_log.close()
        finally:
            self.runtime.close()


def reload_emotion_model(loaded: EmotionLoaded, target: ServingTarget) -> EmotionLoaded:
    """``loaded`` serving the model ``target`` names, loaded and checked on a start-up
    face first (the emotion service has no shadow mode: ``target.shadow`` is ignored)."""
    from serving.emotion_model_source import load_emotion_model

    if target.current is None or target.current == loaded.model.card.bento_tag:
        return loaded
    return replace(loaded, model=load_emotion_model(target.current, loaded.params.emotion_service))


def load_emotion_from_environment() -> EmotionLoaded:
    from pipelines.fer.deploy import EMOTION
    from pipelines.release.deploy import deployment_record_path
    from senim.config import load_params
    from senim.environment import prepare_home, resolve_stores
    from serving.emotion_model_source import load_emotion_model, resolve_model_tag
    from serving.served_model import service_params_path

    stores = resolve_stores()
    prepare_home(stores)
    params = load_params(service_params_path(stores))
    runtime = AuthRuntime.build(params.auth, stores.database_url, stores.home)
    try:
        prediction_log = PredictionLog.from_database_url(stores.database_url)
        try:
            model = load_emotion_model(resolve_model_tag(stores), params.emotion_service)
        except BaseException:
            prediction_log.close()
            raise
    except BaseException:
        runtime.close()
        raise
    return EmotionLoaded(
        params=params,
        stores=stores,
        runtime=runtime,
        model=model,
        record=deployment_record_path(stores, EMOTION),
        prediction_log=prediction_log,
    )


class EmotionServingState(ServingState[EmotionLoaded]):
    def __init__(self, load=None) -> None:
        super().__init__(
            load or load_emotion_from_environment, "emotion", reload=reload_emotion_model
        )
