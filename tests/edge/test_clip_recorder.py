from __future__ import annotations

import cv2
import numpy as np

from edge.clip_recorder import ClipRecorder


def _frame(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def _frame_count(path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_given_rule_fired_when_tail_recorded_then_clip_holds_pre_and_post_frames(tmp_path):
    recorder = ClipRecorder(tmp_path, pre_seconds=1.0, fps=10.0)
    for i in range(30):  # 3 s of frames; fires at t=2.0 with 0.5 s before and 0.5 s after
        recorder.add_frame(i / 10, _frame(i))
        if i == 20:
            path = recorder.start("evt", 2.0, pre_seconds=0.5, post_seconds=0.5)
    assert path.is_file() and not (tmp_path / "evt.partial.avi").exists()
    assert _frame_count(path) == 6 + 5  # 1.5..2.0 inclusive, then 2.1..2.5


def test_given_run_ending_mid_clip_when_closed_then_clip_is_finished_shorter(tmp_path):
    recorder = ClipRecorder(tmp_path, pre_seconds=0.0, fps=10.0)
    recorder.add_frame(0.0, _frame(0))
    path = recorder.start("evt", 0.0, pre_seconds=0.0, post_seconds=10.0)
    recorder.add_frame(0.1, _frame(1))
    assert not path.exists()
    recorder.close()
    assert _frame_count(path) == 2
