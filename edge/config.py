"""The runner's YAML config (rules, notifiers, timings), checked once at load so a typo fails
at start with the file and field named, never in the middle of the night."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge.protocol import EMOTIONS

DEFAULT_TELEGRAM_API = "https://api.telegram.org"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Rule:
    """Fire when any of ``emotions`` (smoothed) stays >= ``min_confidence`` on one face for
    ``min_seconds``; then not again for that face and rule before ``cooldown_seconds``."""

    name: str
    emotions: tuple[str, ...]
    min_seconds: float
    min_confidence: float = 0.5
    pre_event_seconds: float = 2.0
    post_event_seconds: float = 3.0
    cooldown_seconds: float = 30.0
    record_clip: bool = True


@dataclass(frozen=True)
class WebhookNotifier:
    name: str
    url: str

    @property
    def destination(self) -> str:
        return f"webhook:{self.name}"


@dataclass(frozen=True)
class TelegramNotifier:
    name: str
    chat_id: str
    token_env: str  # the bot token is read from this environment variable, never the file
    api_base: str = DEFAULT_TELEGRAM_API

    @property
    def destination(self) -> str:
        return f"telegram:{self.name}"

    def token(self) -> str:
        return os.environ.get(self.token_env, "")


Notifier = WebhookNotifier | TelegramNotifier


@dataclass(frozen=True)
class DetectionConfig:
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_px: int = 40  # in the full frame
    detect_width: int = 320  # frames are shrunk to this width before the cascade (speed)


@dataclass(frozen=True)
class TrackingConfig:
    min_iou: float = 0.3
    max_missing_seconds: float = 1.0


@dataclass(frozen=True)
class RunnerConfig:
    rules: tuple[Rule, ...] = ()
    notifiers: tuple[Notifier, ...] = ()
    model: str = "fer-emotion"
    smoothing_seconds: float = 1.0
    poll_seconds: float = 60.0
    heartbeat_seconds: float = 30.0
    request_timeout_seconds: float = 10.0
    drain_seconds: float = 5.0  # at exit, time given to deliver what is queued
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    @property
    def max_pre_event_seconds(self) -> float:
        return max((r.pre_event_seconds for r in self.rules if r.record_clip), default=0.0)


def load_config(path: str | Path | None) -> RunnerConfig:
    """The config in ``path`` (defaults when None); a ConfigError names file and field."""
    if path is None:
        return RunnerConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({exc})") from exc
    try:
        return parse_config({} if data is None else data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def parse_config(data: Any) -> RunnerConfig:
    reader = _Section(data, "config")
    rules = tuple(
        _parse_rule(item, f"rules[{i}]") for i, item in enumerate(reader.list_of("rules"))
    )
    _unique([r.name for r in rules], "rules", "name")
    notifiers = tuple(
        _parse_notifier(item, f"notifiers[{i}]")
        for i, item in enumerate(reader.list_of("notifiers"))
    )
    _unique([n.destination for n in notifiers], "notifiers", "type+name")
    detection = _Section(reader.mapping("detection"), "detection")
    tracking = _Section(reader.mapping("tracking"), "tracking")
    config = RunnerConfig(
        rules=rules,
        notifiers=notifiers,
        model=reader.text("model", "fer-emotion"),
        smoothing_seconds=reader.number("smoothing_seconds", 1.0, low=0.0, high=60.0),
        poll_seconds=reader.number("poll_seconds", 60.0, low=0.05, high=86400.0),
        heartbeat_seconds=reader.number("heartbeat_seconds", 30.0, low=0.05, high=86400.0),
        request_timeout_seconds=reader.number("request_timeout_seconds", 10.0, 0.1, 600.0),
        drain_seconds=reader.number("drain_seconds", 5.0, low=0.0, high=600.0),
        detection=DetectionConfig(
            scale_factor=detection.number("scale_factor", 1.1, low=1.01, high=2.0),
            min_neighbors=detection.integer("min_neighbors", 5, low=0, high=50),
            min_face_px=detection.integer("min_face_px", 40, low=8, high=4096),
            detect_width=detection.integer("detect_width", 320, low=64, high=8192),
        ),
        tracking=TrackingConfig(
            min_iou=tracking.number("min_iou", 0.3, low=0.0, high=1.0),
            max_missing_seconds=tracking.number("max_missing_seconds", 1.0, low=0.0, high=60.0),
        ),
    )
    for section in (reader, detection, tracking):
        section.reject_unknown()
    return config


def _parse_rule(data: Any, where: str) -> Rule:
    section = _Section(data, where)
    name = section.text("name")
    emotions = tuple(section.list_of("emotions", required=True))
    if not emotions:
        raise ConfigError(f"{where}.emotions: list at least one of {', '.join(EMOTIONS)}")
    for emotion in emotions:
        if emotion not in EMOTIONS:
            raise ConfigError(
                f"{where}.emotions: unknown emotion {emotion!r} (known: {', '.join(EMOTIONS)})"
            )
    rule = Rule(
        name=name,
        emotions=emotions,
        min_seconds=section.number("min_seconds", None, low=0.0, high=3600.0),
        min_confidence=section.number("min_confidence", 0.5, low=0.0, high=1.0),
        pre_event_seconds=section.number("pre_event_seconds", 2.0, low=0.0, high=30.0),
        post_event_seconds=section.number("post_event_seconds", 3.0, low=0.0, high=60.0),
        cooldown_seconds=section.number("cooldown_seconds", 30.0, low=0.0, high=86400.0),
        record_clip=section.boolean("record_clip", True),
    )
    section.reject_unknown()
    return rule


def _parse_notifier(data: Any, where: str) -> Notifier:
    section = _Section(data, where)
    kind = section.text("type")
    if kind == "webhook":
        url = section.text("url")
        _check_url(url, f"{where}.url")
        notifier: Notifier = WebhookNotifier(name=section.text("name", "webhook"), url=url)
    elif kind == "telegram":
        api_base = section.text("api_base", DEFAULT_TELEGRAM_API).rstrip("/")
        _check_url(api_base, f"{where}.api_base")
        notifier = TelegramNotifier(
            name=section.text("name", "telegram"),
            chat_id=section.text("chat_id", coerce_int=True),
            token_env=section.text("token_env"),
            api_base=api_base,
        )
        if not notifier.token():
            raise ConfigError(
                f"{where}.token_env: environment variable {notifier.token_env} is not set"
            )
    else:
        raise ConfigError(f"{where}.type: {kind!r} is not one of webhook, telegram")
    section.reject_unknown()
    return notifier


def _check_url(url: str, where: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: {url!r} is not an http(s) URL")


def _unique(values: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{where}: {what} {value!r} is used twice")
        seen.add(value)


class _Section:
    """Reads typed fields from one mapping, remembering which keys it consumed."""

    def __init__(self, data: Any, where: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        self.data, self.where, self.used = data, where, set()

    def _get(self, name: str, default: Any, required: bool = False) -> Any:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            if required or default is None:
                raise ConfigError(f"{self.where}.{name}: missing")
            return default
        return self.data[name]

    def text(self, name: str, default: str | None = None, coerce_int: bool = False) -> str:
        value = self._get(name, default)
        if coerce_int and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.where}.{name}: expected non-empty text, got {value!r}")
        return value.strip()

    def number(self, name: str, default: float | None, low: float, high: float) -> float:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.where}.{name}: expected a number, got {value!r}")
        if not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(f"{self.where}.{name}: {value!r} is outside {low:g}..{high:g}")
        return float(value)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.where}.{name}: expected an integer, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(f"{self.where}.{name}: {value!r} is outside {low}..{high}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where}.{name}: expected true or false, got {value!r}")
        return value

    def mapping(self, name: str) -> Any:
        return self._get(name, {})

    def list_of(self, name: str, required: bool = False) -> list:
        self.used.add(name)
        value = self.data.get(name)
        if value is None:
            if required:
                raise ConfigError(f"{self.where}.{name}: missing")
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{self.where}.{name}: expected a list, got {value!r}")
        return value

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self.where}: unknown field(s) {', '.join(map(str, unknown))}")
