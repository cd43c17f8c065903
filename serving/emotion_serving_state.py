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
        card = self.model.card
        return (
            f"{card.model_name} version {card.model_version} ({card.bento_tag}, "
            f"{card.runtime}), data {card.data_version}"
        )

    def model_cards(self) -> list[dict[str, Any]]:
        card = self.model.card
        return [
            {
                "name": card.model_name,
                "version": card.model_version,
                "alias": card.alias,
                "bento_model": card.bento_tag,
                "runtime": card.runtime,
                "run_id": card.run_id,
                "data_version": card.data_version,
                "git_commit": card.git_commit,
                "metrics": card.metrics,
            }
        ]

    def release(self) -> None:
        self.runtime.close()


def load_emotion_from_environment() -> EmotionLoaded:
    from senim.config import load_params
    from senim.environment import prepare_home, resolve_stores
    from serving.credit_model_source import service_params_path
    from serving.emotion_model_source import load_emotion_model, resolve_model_tag

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
