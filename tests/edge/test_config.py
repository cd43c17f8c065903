"""A config mistake fails at start, naming the file and the field."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, TelegramNotifier, WebhookNotifier, load_config

GOOD = """
smoothing_seconds: 0.5
rules:
  - name: sad-or-fear
    emotions: [Sad, Fear]
    min_seconds: 3
    min_confidence: 0.5
    pre_event_seconds: 2
    post_event_seconds: 3
    cooldown_seconds: 30
notifiers:
  - type: webhook
    name: ops
    url: https://hooks.example.com/senim
  - type: telegram
    chat_id: 12345
    token_env: SENIM_TEST_TG_TOKEN
"""


def _write(tmp_path, text):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_given_full_config_when_loaded_then_rules_and_notifiers_are_typed(tmp_path, monkeypatch):
    monkeypatch.setenv("SENIM_TEST_TG_TOKEN", "123:abc")
    config = load_config(_write(tmp_path, GOOD))
    (rule,) = config.rules
    assert (rule.name, rule.emotions, rule.min_seconds) == ("sad-or-fear", ("Sad", "Fear"), 3.0)
    webhook, telegram = config.notifiers
    assert isinstance(webhook, WebhookNotifier) and webhook.destination == "webhook:ops"
    assert isinstance(telegram, TelegramNotifier) and telegram.chat_id == "12345"
    assert telegram.api_base == "https://api.telegram.org"
    assert config.max_pre_event_seconds == 2.0


def test_given_no_config_file_when_loaded_then_defaults_without_rules():
    assert load_config(None).rules == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules: [{name: a, emotions: [Sadness], min_seconds: 1}]",
            r"rules\[0\]\.emotions.*Sadness",
        ),
        ("rules: [{name: a, emotions: [Sad]}]", r"rules\[0\]\.min_seconds: missing"),
        (
            "rules: [{name: a, emotions: [Sad], min_seconds: 1, min_confidence: 2}]",
            r"rules\[0\]\.min_confidence: 2 is outside 0\.\.1",
        ),
        (
            "rules: [{name: a, emotions: [Sad], min_seconds: soon}]",
            r"rules\[0\]\.min_seconds: expected a number",
        ),
        (
            "rules: [{name: a, emotions: [Sad], min_seconds: 1, colour: red}]",
            r"rules\[0\]: unknown field\(s\) colour",
        ),
        ("rules: [{name: a, emotions: [], min_seconds: 1}]", r"rules\[0\]\.emotions"),
        (
            "rules:\n - {name: a, emotions: [Sad], min_seconds: 1}\n"
            " - {name: a, emotions: [Fear], min_seconds: 1}",
            r"rules: name 'a' is used twice",
        ),
        ("rules: {name: a}", r"config\.rules: expected a list"),
        ("notifiers: [{type: pager}]", r"notifiers\[0\]\.type: 'pager'"),
        ("notifiers: [{type: webhook, url: ftp://x}]", r"notifiers\[0\]\.url"),
        (
            "notifiers: [{type: telegram, chat_id: 1, token_env: SENIM_UNSET_TOKEN_VAR}]",
            r"notifiers\[0\]\.token_env: environment variable SENIM_UNSET_TOKEN_VAR is not set",
        ),
        ("poll_seconds: 0", r"config\.poll_seconds: 0 is outside"),
        ("detection: {min_neighbors: 2.5}", r"detection\.min_neighbors: expected an integer"),
        ("rule: []", r"config: unknown field\(s\) rule"),
        ("- just a list", r"config: expected a mapping"),
        ("rules: [unclosed", r"not a readable YAML file"),
    ],
)
def test_given_bad_config_when_loaded_then_error_names_file_and_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_given_missing_config_file_when_loaded_then_error_names_it(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_given_the_readme_rules_example_when_loaded_on_a_fresh_host_then_it_is_valid(
    tmp_path, monkeypatch
):
    """The README's rules.yaml runs as written, with no token variables set."""
    import re
    from pathlib import Path

    from edge.config import load_config

    monkeypatch.delenv("SENIM_TELEGRAM_TOKEN", raising=False)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"\(`rules\.yaml`\).*?```yaml\n(.*?)```", readme, re.S)
    assert block, "the README lost its rules.yaml example"
    rules = tmp_path / "rules.yaml"
    rules.write_text("\n".join(line[3:] for line in block.group(1).splitlines()))

    config = load_config(rules)

    assert [rule.name for rule in config.rules] == ["sad-or-fear"]
