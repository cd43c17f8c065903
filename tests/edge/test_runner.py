"""The runner end to end on generated videos, with the real Haar cascade and a real model."""

from __future__ import annotations

import time

import pytest

from edge.config import RunnerConfig, parse_config
from edge.outbox import Outbox
from edge.protocol import EMOTIONS
from edge.runner import EdgeRunner, RunOptions
from tests.edge.conftest import publish, write_face_video


def _config(url: str, **overrides) -> RunnerConfig:
    data = {
        "smoothing_seconds": 0.5,
        "poll_seconds": 3600,
        "heartbeat_seconds": 3600,
        "drain_seconds": 2,
        "request_timeout_seconds": 2,
        "rules": [
            {
                # Any emotion: the tiny untrained test model's favourite depends on its
                # random weights, and the largest of seven probabilities is at least 1/7.
                "name": "any-emotion",
                "emotions": list(EMOTIONS),
                "min_seconds": 1.0,
                "min_confidence": 0.2,
                "pre_event_seconds": 0.5,
                "post_event_seconds": 0.5,
                "cooldown_seconds": 100,
            }
        ],
        "notifiers": [{"type": "webhook", "name": "ops", "url": f"{url}/hook"}],
    }
    data.update(overrides)
    return parse_config(data)


@pytest.fixture()
def video(tmp_path):
    return write_face_video(tmp_path / "faces.avi", seconds=3.0, fps=10)


def test_given_video_and_server_down_for_events_when_run_twice_then_each_event_stored_once(
    tmp_path, enrolled, tflite_models, signing_key, video
):
    key_file, url, state = enrolled
    publish(state, tflite_models["good"], "1", signing_key)
    state.events_down = True
    options = RunOptions(key_file, str(video), _config(url), tmp_path / "state")
    first = EdgeRunner(options).run()

    assert (first.frames, first.events, first.model_version) == (30, 1, "1")
    clips = sorted((tmp_path / "state" / "clips").iterdir())
    assert len(clips) == 1 and clips[0].suffix == ".avi" and clips[0].stat().st_size > 0
    assert len(state.webhook) == 1 and state.events == {}
    event = state.webhook[0]
    assert (event["rule"], event["host_id"], event["model_version"]) == (
        "any-emotion",
        "cam-1",
        "1",
    )
    assert event["clip_path"] == str(clips[0].resolve())
    assert event["duration_seconds"] == pytest.approx(1.0)
    assert state.heartbeats and state.heartbeats[-1]["outbox_depth"] == 1

    state.events_down = False
    second = EdgeRunner(
        RunOptions(key_file, str(video), _config(url), tmp_path / "state", max_frames=3)
    ).run()
    assert (second.frames, second.events) == (3, 0)
    assert list(state.events) == [event["event_id"]]
    assert state.events[event["event_id"]] == event
    outbox = Outbox(tmp_path / "state" / "outbox.db")
    assert outbox.counts() == {"server": {"delivered": 1}, "webhook:ops": {"delivered": 1}}
    assert state.heartbeats[-1]["outbox_depth"] == 0
    outbox.close()


def test_given_new_model_published_mid_run_when_sync_swaps_then_later_frames_use_it(
    tmp_path, enrolled, tflite_models, signing_key, video
):
    key_file, url, state = enrolled
    publish(state, tflite_models["good"], "1", signing_key)
    seen: list[str | None] = []
    runner: EdgeRunner | None = None

    def on_frame(result):
        seen.append(result.model_version)
        if len(seen) == 5:
            publish(state, tflite_models["good"], "2", signing_key)
            # The loop pauses here while the sync thread (polling every 0.05 s) swaps.
            deadline = time.monotonic() + 30
            while runner.holder.version != "2" and time.monotonic() < deadline:
                time.sleep(0.02)

    options = RunOptions(
        key_file,
        str(video),
        _config(url, poll_seconds=0.05, rules=[]),
        tmp_path / "state",
        max_frames=10,
    )
    runner = EdgeRunner(options, on_frame=on_frame)
    runner.run()
    assert seen == ["1"] * 5 + ["2"] * 5


def test_given_no_model_and_server_unreachable_when_run_then_frames_still_processed(
    tmp_path, key_file, video
):
    from edge.protocol import EdgeKeyFile

    options = RunOptions(
        EdgeKeyFile.load(key_file),
        str(video),
        _config("http://127.0.0.1:9", drain_seconds=0),
        tmp_path / "state",
    )
    summary = EdgeRunner(options).run()
    assert (summary.frames, summary.events, summary.model_version) == (30, 0, None)
