"""What happens to one frame: detect faces, classify each with the model in service at the
start of the frame, track and smooth per face, run the rules, and for each firing start a
clip and emit an ``EdgeEvent``. No I/O beyond the clip files; events go to a callback."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.clip_recorder import ClipRecorder
from edge.config import RunnerConfig
from edge.face_detection import Box, FaceDetector, crop_face
from edge.face_tracking import IouTracker
from edge.model_holder import ModelHolder
from edge.probability_smoothing import ProbabilitySmoother
from edge.protocol import EdgeEvent
from edge.rule_engine import RuleEngine
from edge.timestamps import iso_utc


@dataclass(frozen=True)
class FaceResult:
    face_id: int
    box: Box
    probabilities: np.ndarray | None  # smoothed; None when no model is in service


@dataclass(frozen=True)
class FrameResult:
    t: float
    model_version: str | None
    faces: list[FaceResult]
    events: list[EdgeEvent] = field(default_factory=list)


class FramePipeline:
    def __init__(
        self,
        config: RunnerConfig,
        detector: FaceDetector,
        holder: ModelHolder,
        clips: ClipRecorder,
        host_id: str,
        emit: Callable[[EdgeEvent], None],
        to_epoch: Callable[[float], float] = lambda t: t,
    ) -> None:
        self.config, self.detector, self.holder, self.clips = config, detector, holder, clips
        self.host_id, self.emit, self.to_epoch = host_id, emit, to_epoch
        self.tracker = IouTracker(config.tracking)
        self.smoother = ProbabilitySmoother(config.smoothing_seconds)
        self.rules = RuleEngine(config.rules)

    def process(self, t: float, image: np.ndarray) -> FrameResult:
        classifier = self.holder.current()  # one model for the whole frame
        self.clips.add_frame(t, image)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        tracks, ended = self.tracker.update(self.detector.detect(gray), t)
        for face_id in ended:
            self.smoother.forget(face_id)
            self.rules.forget(face_id)
        faces, events = [], []
        for track in tracks:
            if classifier is None:
                faces.append(FaceResult(track.track_id, track.box, None))
                continue
            probs = classifier.classify(crop_face(gray, track.box))
            smoothed = self.smoother.add(track.track_id, t, probs)
            faces.append(FaceResult(track.track_id, track.box, smoothed))
            for firing in self.rules.observe(track.track_id, t, smoothed, classifier.classes):
                event_id = uuid.uuid4().hex
                clip_path = None
                if firing.rule.record_clip:
                    clip = self.clips.start(
                        event_id, t, firing.rule.pre_event_seconds, firing.rule.post_event_seconds
                    )
                    clip_path = str(clip.resolve())
                event = EdgeEvent(
                    event_id=event_id,
                    host_id=self.host_id,
                    kind="emotion_persisted",
                    rule=firing.rule.name,
                    emotion=firing.emotion,
                    confidence=round(firing.confidence, 4),
                    started_at=iso_utc(self.to_epoch(firing.started_t)),
                    duration_seconds=round(firing.duration_seconds, 3),
                    face_id=firing.face_id,
                    model_version=classifier.version,
                    clip_path=clip_path,
                )
                self.emit(event)
                events.append(event)
        return FrameResult(t, classifier.version if classifier else None, faces, events)
