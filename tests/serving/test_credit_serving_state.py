"""CreditServingState: not ready until everything is loaded, failures logged with their
cause and retried, and a clean stop whether loading succeeded or not."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from unittest.mock import Mock

import pytest

import serving.serving_state as serving_state
from auth.errors import AuthUnavailable
from serving.credit_serving_state import INSECURE_NO_AUTH_ENV, CreditServingState, Loaded
from serving.scoring_ledger import LedgerContext
from serving.served_model import ServedModelCard

LOGGER = "senim.serving.credit"
# Long enough for any loader thread here; a passing test never waits this long.
JOIN_S = 5.0


def _loaded() -> Loaded:
    """A Loaded whose parts are mocks, so closing them can be checked."""
    prediction_log = Mock(name="prediction_log")
    card = ServedModelCard(
        model_name="credit-rating",
        model_version="3",
        bento_tag="credit-rating:x",
        alias=None,
        run_id=None,
        data_version="d",
        git_commit=None,
        metrics={},
    )
    return Loaded(
        params=Mock(name="params"),
        runtime=Mock(name="runtime"),
        prediction_log=prediction_log,
        scorer=Mock(name="scorer", card=card),
        ledger=LedgerContext(
            prediction_log=prediction_log,
            max_batch=5,
            model_name="credit-rating",
            model_version="3",
            data_version="d",
        ),
    )


class FlakyLoader:
    """Fails ``failures`` times (the registry is down), then returns ``loaded``."""

    def __init__(self, failures: int, loaded: Loaded | None = None) -> None:
        self.failures = failures
        self.loaded = loaded
        self.calls = 0
        self.called = threading.Event()

    def __call__(self) -> Loaded:
        self.calls += 1
        self.called.set()
        if self.calls <= self.failures:
            raise ConnectionError(f"registry unreachable (attempt {self.calls})\nsecond line")
        assert self.loaded is not None
        return self.loaded


@pytest.fixture()
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving_state, "FIRST_RETRY_S", 0.01)


@pytest.fixture()
def make_state(monkeypatch) -> Iterator[Callable[..., CreditServingState]]:
    """Build states with ``load`` (auth on unless the test sets the env var); closed after."""
    monkeypatch.delenv(INSECURE_NO_AUTH_ENV, raising=False)
    made: list[CreditServingState] = []

    def make(load: Callable[[], Loaded]) -> CreditServingState:
        state = CreditServingState(load=load)
        made.append(state)
        return state

    yield make
    for state in made:
        state.close()


def test_given_a_new_state_when_not_started_then_it_is_not_ready_and_has_nothing_to_serve(
    make_state,
):
    """Before loading, readiness is false and the middlewares get their 'not yet' answers."""
    state = make_state(FlakyLoader(0, _loaded()))

    assert not state.ready
    assert state.ledger() is None
    assert state.last_error is None
    with pytest.raises(AuthUnavailable) as refused:
        state.runtime()
    assert refused.value.status == 503 and refused.value.code == "auth_unavailable"


def test_given_a_loader_that_works_when_started_then_ready_with_its_runtime_and_ledger(
    make_state, caplog
):
    loaded = _loaded()
    state = make_state(FlakyLoader(0, loaded))

    with caplog.at_level(logging.INFO, logger=LOGGER):
        state.start()
        assert state.wait_ready(JOIN_S)

    assert state.loaded is loaded
    assert state.runtime() is loaded.runtime
    assert state.ledger() is loaded.ledger
    assert any("ready: credit-rating version 3" in r.getMessage() for r in caplog.records)


def test_given_a_loader_failing_twice_when_started_then_it_retries_until_ready(
    make_state, fast_retries, caplog
):
    """A failure (registry or database down) is logged with its cause and retried; once
    loaded, the last error is cleared."""
    loader = FlakyLoader(2, _loaded())
    state = make_state(loader)

    with caplog.at_level(logging.INFO, logger=LOGGER):
        state.start()
        assert state.wait_ready(JOIN_S)

    assert loader.calls == 3
    assert state.last_error is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "ConnectionError: registry unreachable (attempt 1)" in errors[0].getMessage()
    assert "second line" not in errors[0].getMessage()  # the first line of the cause only
    assert "attempt 2" in errors[1].getMessage()


def test_given_a_loader_failing_when_not_yet_retried_then_last_error_names_the_cause(
    make_state, monkeypatch
):
    """/readyz can say why the worker is not ready while it waits to retry."""
    monkeypatch.setattr(serving_state, "FIRST_RETRY_S", 60.0)
    loader = FlakyLoader(10)
    state = make_state(loader)

    state.start()
    assert loader.called.wait(JOIN_S)
    state.close()
    state.wait_ready(JOIN_S)

    assert state.last_error == "ConnectionError: registry unreachable (attempt 1)"
    assert not state.ready


def test_given_a_failing_loader_when_closed_then_the_retry_loop_stops_at_once(
    make_state, monkeypatch
):
    """close() wakes the backoff wait: no further attempt, the thread ends promptly."""
    monkeypatch.setattr(serving_state, "FIRST_RETRY_S", 60.0)
    loader = FlakyLoader(10)
    state = make_state(loader)
    state.start()
    assert loader.called.wait(JOIN_S)

    state.close()

    assert state._thread is not None
    state._thread.join(JOIN_S)
    assert not state._thread.is_alive()
    assert loader.calls == 1


def test_given_a_loaded_state_when_closed_then_log_and_runtime_close_and_it_is_not_ready(
    make_state,
):
    loaded = _loaded()
    state = make_state(FlakyLoader(0, loaded))
    state.start()
    assert state.wait_ready(JOIN_S)

    state.close()

    loaded.prediction_log.close.assert_called_once_with()
    loaded.runtime.close.assert_called_once_with()
    assert not state.ready and state.ledger() is None


def test_given_the_prediction_log_fails_to_close_when_closed_then_the_runtime_still_closes(
    make_state,
):
    """One part failing to close must not leak the other (the auth database pool)."""
    loaded = _loaded()
    loaded.prediction_log.close.side_effect = TimeoutError("3 prediction event(s) unwritten")
    state = make_state(FlakyLoader(0, loaded))
    state.start()
    assert state.wait_ready(JOIN_S)

    with pytest.raises(TimeoutError):
        state.close()

    loaded.runtime.close.assert_called_once_with()


def test_given_a_state_never_started_when_closed_then_nothing_happens(make_state):
    loader = FlakyLoader(0, _loaded())
    state = make_state(loader)

    state.close()

    assert loader.calls == 0 and not state.ready


def test_given_start_called_twice_then_one_loader_thread_runs(make_state):
    """BentoML may construct the service more than once per worker; load only once."""
    loader = FlakyLoader(0, _loaded())
    state = make_state(loader)

    state.start()
    state.start()
    assert state.wait_ready(JOIN_S)

    assert loader.calls == 1


def test_given_the_insecure_env_var_when_started_then_auth_is_off_and_a_warning_is_logged(
    make_state, monkeypatch, caplog
):
    """Benchmarks may switch auth off, but never silently."""
    monkeypatch.setenv(INSECURE_NO_AUTH_ENV, "1")
    state = make_state(FlakyLoader(0, _loaded()))

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        state.start()
        state.wait_ready(JOIN_S)

    assert state.auth_disabled
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        INSECURE_NO_AUTH_ENV in r.getMessage() and "WITHOUT authentication" in r.getMessage()
        for r in warnings
    )


@pytest.mark.parametrize("value", [None, "", "0", "true", "yes"])
def test_given_the_insecure_env_var_not_exactly_1_then_auth_stays_on(
    make_state, monkeypatch, value
):
    """Only the literal "1" turns auth off: anything else keeps the safe default."""
    if value is not None:
        monkeypatch.setenv(INSECURE_NO_AUTH_ENV, value)

    assert not make_state(FlakyLoader(0, _loaded())).auth_disabled


def test_given_close_during_a_slow_load_when_the_load_ends_then_never_ready_and_released(
    make_state,
):
    """A worker shut down mid-load must not publish (or leak) what it finished loading."""
    loaded, release = _loaded(), threading.Event()

    def slow() -> Loaded:
        release.wait(JOIN_S)
        return loaded

    state = make_state(slow)
    state.start()
    state.close()
    release.set()
    state._thread.join(JOIN_S)

    assert not state.ready
    loaded.prediction_log.close.assert_called_once()
    loaded.runtime.close.assert_called_once()
