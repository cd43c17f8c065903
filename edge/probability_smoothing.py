"""Per-face moving average of class probabilities over the last ``window_seconds`` of frame
time, so one odd frame neither starts nor breaks a rule."""

from __future__ import annotations

from collections import deque

import numpy as np


class ProbabilitySmoother:
    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._history: dict[int, deque[tuple[float, np.ndarray]]] = {}

    def add(self, face_id: int, t: float, probs: np.ndarray) -> np.ndarray:
        """The face's mean probabilities over the window ending at ``t``, ``probs`` included."""
        history = self._history.setdefault(face_id, deque())
        history.append((t, probs))
        while history and t - history[0][0] > self.window_seconds:
            history.popleft()
        return np.mean([p for _, p in history], axis=0)

    def forget(self, face_id: int) -> None:
        self._history.pop(face_id, None)
