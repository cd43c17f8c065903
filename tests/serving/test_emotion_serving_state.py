"""The emotion worker follows its deployment record like the credit one: the model the
record names is loaded and checked before it replaces the one serving."""

from __future__ import annotations

from unittest.mock import Mock

import pytest

import serving.emotion_model_source as source
from senim.config import Params
from serving.deployment_watch import ServingTarget
from serving.emotion_model_source import EmotionModel
from serving.emotion_serving_state import EmotionLoaded, reload_emotion_model
from serving.served_model import ServedModelCard


def _model(version: str) -> EmotionModel:
    card = ServedModelCard("fer-emotion", version, f"fer-emotion:mlflow-v{version}", "champion",
                           None, "d", None, {}, runtime="tflite-float16")  # fmt: skip
    return EmotionModel(card=card, classifier=Mock(name=f"classifier-v{version}"))


def _loaded(tmp_path, follow: bool = True) -> EmotionLoaded:
    params = Params().with_overrides(deployment={"follow_registry": follow})
    return EmotionLoaded(params=params, stores=Mock(), runtime=Mock(), model=_model("1"),
                         record=tmp_path / "emotion.json")  # fmt: skip


def test_given_the_tag_it_serves_when_reloaded_then_nothing_is_loaded(tmp_path, monkeypatch):
    load = Mock(side_effect=AssertionError("must not load"))
    monkeypatch.setattr(source, "load_emotion_model", load)
    loaded = _loaded(tmp_path)

    assert reload_emotion_model(loaded, ServingTarget("fer-emotion:mlflow-v1")) is loaded


def test_given_another_tag_when_reloaded_then_that_model_serves_with_the_same_runtime(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(source, "load_emotion_model", lambda tag, params: _model("2"))
    loaded = _loaded(tmp_path)

    fresh = reload_emotion_model(loaded, ServingTarget("fer-emotion:mlflow-v2"))

    assert fresh.model.card.model_version == "2"
    assert fresh.runtime is loaded.runtime
    assert fresh.serving_target() == ServingTarget("fer-emotion:mlflow-v2")


def test_given_a_model_that_fails_its_check_when_reloaded_then_the_error_propagates(
    tmp_path, monkeypatch
):
    def broken(tag, params):
        raise source.RegistryError(f"model {tag} failed its start-up check: output (1, 3)")

    monkeypatch.setattr(source, "load_emotion_model", broken)

    with pytest.raises(source.RegistryError, match="start-up check"):
        reload_emotion_model(_loaded(tmp_path), ServingTarget("fer-emotion:mlflow-v2"))


@pytest.mark.parametrize("follow", [True, False])
def test_given_the_follow_setting_then_the_worker_follows_its_record_or_not(tmp_path, follow):
    following = _loaded(tmp_path, follow).following()

    assert (following is not None) is follow
    if following is not None:
        assert following.record == tmp_path / "emotion.json"
