"""``senim-edge``: bad input is one clear line and exit 2; ``status`` needs no server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edge.cli import main
from tests.edge.conftest import publish, write_face_video


def test_given_camera_that_cannot_be_opened_when_run_then_exit_2_naming_it(
    tmp_path, key_file, capsys
):
    code = main(
        [
            "run",
            "--key-file",
            str(key_file),
            "--source",
            "99",
            "--state-dir",
            str(tmp_path / "state"),
        ]
    )
    assert code == 2
    assert "99: cannot open camera device" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


def test_given_missing_video_file_when_run_as_command_then_exit_2(tmp_path, key_file):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "run",
            "--key-file",
            str(key_file),
            "--source",
            str(tmp_path / "missing.mp4"),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "missing.mp4: video file not found" in done.stderr


def test_given_bad_rules_config_when_run_then_exit_2_naming_the_field(tmp_path, key_file, capsys):
    config = tmp_path / "rules.yaml"
    config.write_text("rules: [{name: a, emotions: [Sad], min_seconds: -1}]")
    code = main(["run", "--key-file", str(key_file), "--source", "0", "--config", str(config)])
    assert code == 2
    assert "rules[0].min_seconds: -1 is outside" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "key file not found"), ("{}", "missing api_key"), ("not json", "not a Senim key file")],
)
def test_given_bad_key_file_when_run_then_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "host.key"
    if content is not None:
        path.write_text(content)
    assert main(["run", "--key-file", str(path), "--source", "0"]) == 2
    assert message in capsys.readouterr().err


def test_given_state_dir_missing_when_status_then_exit_2(tmp_path, capsys):
    assert main(["status", "--state-dir", str(tmp_path / "nothing")]) == 2
    assert "no state dir" in capsys.readouterr().err


def test_given_a_run_when_status_then_model_heartbeat_outbox_and_events_are_shown(
    tmp_path, enrolled, tflite_models, signing_key, capsys
):
    _, url, state = enrolled
    publish(state, tflite_models["good"], "1", signing_key)
    state.events_down = True
    video = write_face_video(tmp_path / "v.avi", seconds=2.0, fps=10)
    config = tmp_path / "rules.yaml"
    config.write_text(
        "drain_seconds: 0\nrules:\n  - {name: any-face, emotions: [Angry, Disgust, Fear, Happy, "
        "Sad, Surprise, Neutral], "
        "min_seconds: 0.5, min_confidence: 0.2, pre_event_seconds: 0.2, post_event_seconds: 0.2}\n"
    )
    state_dir = tmp_path / "state"
    code = main(
        [
            "run",
            "--key-file",
            str(tmp_path / "host.key"),
            "--source",
            str(video),
            "--config",
            str(config),
            "--state-dir",
            str(state_dir),
        ]
    )
    assert code == 0
    assert "20 frames" in capsys.readouterr().out

    assert main(["status", "--state-dir", str(state_dir)]) == 0
    out = capsys.readouterr().out
    assert "model in service: fer-emotion version 1" in out
    assert "last heartbeat:" in out and "ok (HTTP 200)" in out
    assert "server: pending 1" in out
    assert "any-face:" in out and "model 1" in out
    assert "20 frames, 0 failed reads" in out
