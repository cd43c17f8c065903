"""Rules fire on persistence in frame time, once per cooldown, per face."""

from __future__ import annotations

import numpy as np

from edge.config import Rule
from edge.protocol import EMOTIONS
from edge.rule_engine import RuleEngine

RULE = Rule(
    "sad-or-fear", ("Sad", "Fear"), min_seconds=2.0, min_confidence=0.5, cooldown_seconds=10.0
)


def _probs(**values):
    probs = np.zeros(len(EMOTIONS), dtype=np.float32)
    for name, value in values.items():
        probs[EMOTIONS.index(name)] = value
    return probs


def _run(engine, face_id, start, seconds, probs, fps=10):
    firings = []
    for i in range(int(seconds * fps)):
        firings += engine.observe(face_id, start + i / fps, probs, EMOTIONS)
    return firings


def test_given_sad_persisting_when_min_seconds_pass_then_fires_once_in_cooldown():
    engine = RuleEngine((RULE,))
    firings = _run(engine, 0, 0.0, 6.0, _probs(Sad=0.7))
    assert len(firings) == 1
    (firing,) = firings
    assert (firing.emotion, firing.started_t, firing.fired_t) == ("Sad", 0.0, 2.0)
    assert firing.confidence == np.float32(0.7)


def test_given_emotion_interrupted_when_resumed_then_timer_restarts():
    engine = RuleEngine((RULE,))
    assert _run(engine, 0, 0.0, 1.5, _probs(Fear=0.6)) == []
    assert _run(engine, 0, 1.5, 0.5, _probs(Happy=0.9)) == []
    (firing,) = _run(engine, 0, 2.0, 3.0, _probs(Fear=0.6))
    assert (firing.emotion, firing.started_t) == ("Fear", 2.0)


def test_given_two_faces_when_both_persist_then_each_fires_and_below_threshold_never():
    engine = RuleEngine((RULE,))
    assert len(_run(engine, 0, 0.0, 3.0, _probs(Sad=0.8))) == 1
    assert len(_run(engine, 1, 0.0, 3.0, _probs(Sad=0.8))) == 1
    assert _run(engine, 2, 0.0, 10.0, _probs(Sad=0.4, Fear=0.4)) == []


def test_given_cooldown_over_when_still_persisting_then_fires_again():
    engine = RuleEngine((RULE,))
    firings = _run(engine, 0, 0.0, 13.0, _probs(Sad=0.9))
    assert [f.fired_t for f in firings] == [2.0, 12.0]
