"""What the emotion service keeps per face: size, brightness and contrast, never pixels;
one prediction event per request with a monitoring row per face."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import sqlalchemy as sa

from senim.platform_db.engine import make_engine, migrate
from serving.emotion_monitoring import face_statistics, record_faces
from serving.prediction_log import PredictionLog


def test_given_crops_and_boxes_when_measured_then_size_brightness_and_contrast_per_face():
    crops = np.stack(
        [np.full((48, 48), 10, np.uint8), np.tile([0, 200], (48, 24)).astype(np.uint8)]
    )

    stats = face_statistics(crops, [(5, 6, 120, 130), (0, 0, 60, 64)])

    assert stats == [
        {"face_width": 120.0, "face_height": 130.0, "brightness": 10.0, "contrast": 0.0},
        {"face_width": 60.0, "face_height": 64.0, "brightness": 100.0, "contrast": 100.0},
    ]
    assert face_statistics(crops[:1])[0]["face_width"] == 48.0  # sent cropped
    assert face_statistics(crops[:0]) == []


def test_given_answered_faces_when_recorded_then_one_event_and_a_row_per_face_without_pixels(
    tmp_path,
):
    engine = make_engine(f"sqlite:///{tmp_path / 'platform.db'}")
    migrate(engine)
    log = PredictionLog(engine)
    card = SimpleNamespace(model_name="fer-emotion", model_version="4", data_version="d" * 32)
    answers = [
        SimpleNamespace(emotion="Happy", confidence=0.9),
        SimpleNamespace(emotion="Sad", confidence=0.4),
    ]

    record_faces(
        log, keep_stats=True, caller="key:abc", endpoint="/v1/emotion/predict",
        request_id="req-1", card=card, crops=np.zeros((2, 48, 48), np.uint8),
        answers=answers, started=time.perf_counter(), boxes=[(0, 0, 90, 90), (1, 1, 50, 50)],
    )  # fmt: skip
    log.close()

    with engine.connect() as connection:
        events = connection.execute(sa.text("SELECT rows, outputs FROM prediction_log")).all()
        kept = connection.execute(
            sa.text("SELECT family, prediction, score, features FROM monitoring_rows ORDER BY id")
        ).all()
    engine.dispose()
    assert [row.rows for row in events] == [2]
    assert [(r.family, r.prediction, r.score) for r in kept] == [
        ("emotion", "Happy", 0.9),
        ("emotion", "Sad", 0.4),
    ]
    assert '"face_width": 90.0' in kept[0].features and "pixels" not in kept[0].features
