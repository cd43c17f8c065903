"""A greedy IoU tracker: a detection continues the track it overlaps most, so one face keeps
one id (and one smoothing window, one rule timer) across frames."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.config import TrackingConfig
from edge.face_detection import Box


@dataclass
class Track:
    track_id: int
    box: Box
    last_seen: float


@dataclass
class IouTracker:
    config: TrackingConfig = field(default_factory=TrackingConfig)
    tracks: dict[int, Track] = field(default_factory=dict)
    _next_id: int = 0

    def update(self, boxes: list[Box], t: float) -> tuple[list[Track], list[int]]:
        """Tracks matched or started by ``boxes`` at time ``t``, and ids of tracks that ended."""
        pairs = sorted(
            (
                (iou(box, track.box), i, track.track_id)
                for i, box in enumerate(boxes)
                for track in self.tracks.values()
            ),
            reverse=True,
        )
        matched: dict[int, int] = {}  # box index -> track id
        used_tracks: set[int] = set()
        for overlap, index, track_id in pairs:
            if overlap < self.config.min_iou or overlap <= 0:
                break
            if index in matched or track_id in used_tracks:
                continue
            matched[index] = track_id
            used_tracks.add(track_id)
        current = []
        for index, box in enumerate(boxes):
            if index in matched:
                track = self.tracks[matched[index]]
                track.box, track.last_seen = box, t
            else:
                track = Track(self._next_id, box, t)
                self.tracks[track.track_id] = track
                self._next_id += 1
            current.append(track)
        ended = [
            track_id
            for track_id, track in self.tracks.items()
            if t - track.last_seen > self.config.max_missing_seconds
        ]
        for track_id in ended:
            del self.tracks[track_id]
        return current, ended


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
