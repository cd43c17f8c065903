"""The classifier in service, swapped atomically: the sync thread puts a new one in, the frame
loop takes whatever is current at the start of each frame, so a swap lands between frames."""

from __future__ import annotations

import threading

from edge.face_classifier import FaceClassifier


class ModelHolder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._classifier: FaceClassifier | None = None

    def current(self) -> FaceClassifier | None:
        with self._lock:
            return self._classifier

    def swap(self, classifier: FaceClassifier) -> FaceClassifier | None:
        """Puts ``classifier`` in service; returns the one it replaced."""
        with self._lock:
            previous, self._classifier = self._classifier, classifier
            return previous

    @property
    def version(self) -> str | None:
        classifier = self.current()
        return classifier.version if classifier else None
