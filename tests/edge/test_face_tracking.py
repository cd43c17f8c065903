from __future__ import annotations

from edge.config import TrackingConfig
from edge.face_tracking import IouTracker


def test_given_face_moving_a_little_when_tracked_then_it_keeps_its_id():
    tracker = IouTracker(TrackingConfig(min_iou=0.3, max_missing_seconds=1.0))
    ids = [tracker.update([(100 + 5 * i, 100, 80, 80)], i / 10)[0][0].track_id for i in range(5)]
    assert ids == [0] * 5


def test_given_two_faces_and_one_lost_when_tracked_then_ids_are_distinct_and_loss_reported():
    tracker = IouTracker(TrackingConfig(min_iou=0.3, max_missing_seconds=1.0))
    tracks, _ = tracker.update([(0, 0, 50, 50), (200, 200, 50, 50)], 0.0)
    assert [t.track_id for t in tracks] == [0, 1]
    tracker.update([(0, 0, 50, 50)], 0.5)
    _, ended = tracker.update([(0, 0, 50, 50)], 1.6)
    assert ended == [1]
    tracks, _ = tracker.update([(0, 0, 50, 50), (200, 200, 50, 50)], 1.7)
    assert [t.track_id for t in tracks] == [0, 2]
