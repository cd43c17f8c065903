"""A running worker follows its deployment record: a new model is loaded beside the old
one and published in one assignment; a model that fails to load is never served; when
the record moves during a load, the last one wins."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace
from unittest.mock import Mock

import pytest

from senim.config import Params
from serving.credit_serving_state import CreditServingState, Loaded
from serving.deployment_watch import ServingTarget
from serving.scoring_ledger import LedgerContext
from serving.served_model import ServedModelCard

WATCH_S = 0.02
LOGGER = "senim.serving.credit"


def _card(version: str) -> ServedModelCard:
    return ServedModelCard(
        model_name="credit-rating",
        model_version=version,
        bento_tag=f"credit-rating:mlflow-v{version}",
        alias="champion",
        run_id=None,
        data_version="d",
        git_commit=None,
        metrics={},
    )


def _loaded(record, version: str = "1", follow: bool = True) -> Loaded:
    log = Mock(name="prediction_log")
    params = Params().with_overrides(
        deployment={"follow_registry": follow, "watch_seconds": WATCH_S}
    )
    return Loaded(
        params=params,
        runtime=Mock(name="runtime"),
        prediction_log=log,
        scorer=Mock(name=f"scorer-v{version}", card=_card(version)),
        ledger=LedgerContext(log, 5, "credit-rating", version, "d"),
        record=record,
    )


def _write(record, version: str) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"current": f"credit-rating:mlflow-v{version}"}))
    tmp.replace(record)


class Reloader:
    """Loads 'versions' instantly, except the ones listed as broken; can run a hook."""

    def __init__(self, broken: tuple[str, ...] = (), during=None) -> None:
        self.broken = broken
        self.during = during
        self.loads: list[str] = []

    def __call__(self, loaded: Loaded, target: ServingTarget) -> Loaded:
        version = target.current.rsplit("v", 1)[1]
        self.loads.append(version)
        if self.during is not None:
            self.during(version)
        if version in self.broken:
            raise RuntimeError(f"model credit-rating:mlflow-v{version} failed its start-up check")
        scorer = Mock(name=f"scorer-v{version}", card=_card(version))
        return replace(loaded, scorer=scorer, ledger=replace(loaded.ledger, model_version=version))


def _state(loaded: Loaded, reloader: Reloader) -> CreditServingState:
    state = CreditServingState(load=lambda: loaded)
    state._reload = reloader
    return state


def _eventually(check, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_given_a_new_deployment_when_the_record_changes_then_the_worker_swaps_once(tmp_path):
    record = tmp_path / "deployments" / "credit.json"
    _write(record, "1")
    reloader = Reloader()
    state = _state(_loaded(record), reloader)
    state.start()
    try:
        assert state.wait_ready(5)
        _write(record, "2")

        assert _eventually(lambda: state.loaded.scorer.card.model_version == "2")
        time.sleep(WATCH_S * 5)
        assert state.swaps == 1
        assert reloader.loads == ["2"]
        assert state.loaded.ledger.model_version == "2"
        assert state.last_swap_error is None
    finally:
        state.close()


def test_given_a_broken_version_when_deployed_then_the_old_one_keeps_serving_and_says_why(
    tmp_path, caplog
):
    record = tmp_path / "deployments" / "credit.json"
    _write(record, "1")
    state = _state(_loaded(record), Reloader(broken=("2",)))
    state.start()
    try:
        assert state.wait_ready(5)
        with caplog.at_level(logging.ERROR, logger=LOGGER):
            _write(record, "2")
            assert _eventually(lambda: state.last_swap_error is not None)

        assert state.loaded.scorer.card.model_version == "1"
        assert "failed its start-up check" in state.last_swap_error
        assert "keeps serving credit-rating version 1" in caplog.text
        assert state.swaps == 0
    finally:
        state.close()


def test_given_a_corrupt_record_when_polled_then_it_is_reported_and_nothing_changes(
    tmp_path, caplog
):
    record = tmp_path / "deployments" / "credit.json"
    _write(record, "1")
    reloader = Reloader()
    state = _state(_loaded(record), reloader)
    state.start()
    try:
        assert state.wait_ready(5)
        with caplog.at_level(logging.ERROR, logger=LOGGER):
            record.write_text("{half a reco")
            assert _eventually(lambda: state.last_swap_error is not None)

        assert "not valid JSON" in state.last_swap_error
        assert reloader.loads == []
        assert state.loaded.scorer.card.model_version == "1"
    finally:
        state.close()


def test_given_two_promotions_in_quick_succession_when_loading_then_the_last_one_wins(tmp_path):
    record = tmp_path / "deployments" / "credit.json"
    _write(record, "1")

    def second_promotion(version: str) -> None:
        if version == "2":
            _write(record, "3")  # approved while version 2 was loading

    reloader = Reloader(during=second_promotion)
    state = _state(_loaded(record), reloader)
    published: list[str] = []
    state.start()
    try:
        assert state.wait_ready(5)
        watcher_stop = threading.Event()

        def watch_published() -> None:
            while not watcher_stop.is_set():
                version = state.loaded.scorer.card.model_version
                if not published or published[-1] != version:
                    published.append(version)
                time.sleep(0.001)

        spy = threading.Thread(target=watch_published)
        spy.start()
        _write(record, "2")
        assert _eventually(lambda: state.loaded.scorer.card.model_version == "3")
        # the spy polls every millisecond but may not have run since the swap on a busy host
        assert _eventually(lambda: published[-1:] == ["3"])
        watcher_stop.set()
        spy.join()

        assert reloader.loads[:2] == ["2", "3"]
        assert "2" not in published  # never a mix: version 2 was loaded, never served
        assert published == ["1", "3"]
    finally:
        state.close()


def test_given_following_switched_off_when_the_record_changes_then_nothing_is_loaded(tmp_path):
    record = tmp_path / "deployments" / "credit.json"
    _write(record, "1")
    reloader = Reloader()
    state = _state(_loaded(record, follow=False), reloader)
    state.start()
    try:
        assert state.wait_ready(5)
        _write(record, "2")
        time.sleep(WATCH_S * 10)

        assert reloader.loads == []
        assert state.loaded.scorer.card.model_version == "1"
    finally:
        state.close()


def test_given_a_closed_state_when_a_swap_is_asked_then_nothing_is_published(tmp_path):
    state = _state(_loaded(tmp_path / "credit.json"), Reloader())

    assert state.follow_to(ServingTarget("credit-rating:mlflow-v2")) is False


@pytest.mark.parametrize("follow", [True, False])
def test_given_a_loaded_credit_state_then_its_target_and_following_come_from_it(tmp_path, follow):
    loaded = _loaded(tmp_path / "credit.json", version="4", follow=follow)

    assert loaded.serving_target() == ServingTarget("credit-rating:mlflow-v4")
    following = loaded.following()
    assert (following is not None) is follow
    assert loaded.model_cards()[0]["role"] == "live"
