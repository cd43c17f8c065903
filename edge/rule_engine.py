"""Turns smoothed per-face probabilities into rule firings. Time is the frame's timestamp,
never the wall clock, so a video file gives the same firings on every run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import Rule


@dataclass(frozen=True)
class Firing:
    rule: Rule
    face_id: int
    emotion: str
    confidence: float
    started_t: float  # frame time the emotion began to persist
    fired_t: float

    @property
    def duration_seconds(self) -> float:
        return self.fired_t - self.started_t


class RuleEngine:
    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self._since: dict[tuple[str, int], float] = {}  # (rule, face) -> condition start
        self._cooldown_until: dict[tuple[str, int], float] = {}

    def observe(
        self, face_id: int, t: float, smoothed: np.ndarray, classes: tuple[str, ...]
    ) -> list[Firing]:
        firings = []
        for rule in self.rules:
            key = (rule.name, face_id)
            emotion, confidence = _strongest(rule, smoothed, classes)
            if confidence < rule.min_confidence:
                self._since.pop(key, None)
                continue
            started = self._since.setdefault(key, t)
            if t - started < rule.min_seconds or t < self._cooldown_until.get(key, -np.inf):
                continue
            self._cooldown_until[key] = t + rule.cooldown_seconds
            firings.append(Firing(rule, face_id, emotion, confidence, started, t))
        return firings

    def forget(self, face_id: int) -> None:
        for key in [k for k in self._since if k[1] == face_id]:
            del self._since[key]
        for key in [k for k in self._cooldown_until if k[1] == face_id]:
            del self._cooldown_until[key]


def _strongest(rule: Rule, smoothed: np.ndarray, classes: tuple[str, ...]) -> tuple[str, float]:
    best, best_p = rule.emotions[0], -1.0
    for emotion in rule.emotions:
        if emotion in classes:
            p = float(smoothed[classes.index(emotion)])
            if p > best_p:
                best, best_p = emotion, p
    return best, max(0.0, min(1.0, best_p))
