"""Everything one emotion service worker needs, loaded in the background at start-up
(``serving.serving_state``): params, the auth runtime and the model, which must classify
a start-up face before the worker is ready."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auth.runtime import AuthRuntime
from senim.config import Params
from senim.environment import Stores
from serving.emotion_model_source import EmotionModel
from serving.serving_state import ServingState


@dataclass(frozen=True)
class EmotionLoaded:
    params: Params
    stores: Stores
    runtime: AuthRuntime
    model: EmotionModel

    def describe(self) -> str:
        return self.model.card.describe()

    def model_cards(self) -> list[dict[str, Any]]:
        return [self.model.card.as_json()]

    def release(self) -> None:
        self.runtime.close()


def load_emotion_from_environment() -> EmotionLoaded:
    from senim.config import load_params
    from senim.environment import prepare_home, resolve_stores
    from serving.emotion_model_source import load_emotion_model, resolve_model_tag
    from serving.served_model import service_params_path

    stores = resolve_stores()
    prepare_home(stores)
    params = load_params(service_params_path(stores))
    runtime = AuthRuntime.build(params.auth, stores.database_url, stores.home)
    try:
        model = load_emotion_model(resolve_model_tag(stores), params.emotion_service)
    except BaseException:
        runtime.close()
        raise
    return EmotionLoaded(params=params, stores=stores, runtime=runtime, model=model)


class EmotionServingState(ServingState[EmotionLoaded]):
    def __init__(self, load=None) -> None:
        super().__init__(load or load_emotion_from_environment, "emotion")
