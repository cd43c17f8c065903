from __future__ import annotations

import threading

import pytest

from edge.video_source import SourceError, VideoSource, source_kind
from tests.edge.conftest import write_face_video


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("0", "device"),
        ("12", "device"),
        ("rtsp://cam/1", "stream"),
        ("http://x/s.mjpg", "stream"),
        ("clip.mp4", "file"),
    ],
)
def test_given_source_text_when_classified_then_kind_is_right(spec, kind):
    assert source_kind(spec) == kind


def test_given_missing_video_file_when_opened_then_source_error_names_it(tmp_path):
    with pytest.raises(SourceError, match="nope.mp4: video file not found"):
        VideoSource(str(tmp_path / "nope.mp4")).open()


def test_given_file_that_is_not_video_when_opened_then_source_error(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(SourceError, match="cannot open video file"):
        VideoSource(str(path)).open()


def test_given_camera_index_that_does_not_exist_when_opened_then_source_error():
    with pytest.raises(SourceError, match="99: cannot open camera device"):
        VideoSource("99").open()


def test_given_video_file_when_read_then_timestamps_are_index_over_fps(tmp_path):
    source = VideoSource(str(write_face_video(tmp_path / "v.avi", seconds=1.0, fps=10)))
    frames = list(source.frames(threading.Event()))
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(10)])
    assert source.counters.frames == 10 and source.counters.failed_reads == 0


def test_given_stream_that_is_down_when_opened_then_retried_with_backoff_until_stopped():
    from edge.backoff import Backoff

    source = VideoSource("http://127.0.0.1:9/stream.mjpg", backoff=Backoff(0.01, 0.02, 0.0))
    stop = threading.Event()
    attempts = []
    real_delay = source.backoff.delay

    class CountingBackoff:
        def delay(self, failures, rng=None):
            attempts.append(failures)
            if failures >= 3:
                stop.set()
            return real_delay(failures, rng)

    source.backoff = CountingBackoff()
    with pytest.raises(SourceError, match="stopped before the stream opened"):
        source.open(stop)
    assert attempts == [1, 2, 3]


def test_given_camera_dropping_frames_when_read_then_failures_are_counted_and_skipped():
    import numpy as np

    image = np.zeros((4, 4, 3), np.uint8)
    reads = iter([(False, None), (True, image), (False, None), (False, None), (True, image)])
    stop = threading.Event()

    class FlakyCamera:
        def read(self):
            return next(reads, (True, image))

        def release(self):
            """Nothing to release: a fake camera."""

    source = VideoSource("0")
    source._capture = FlakyCamera()
    frames = []
    for frame in source.frames(stop):
        frames.append(frame)
        if len(frames) == 2:
            stop.set()
    assert source.counters.failed_reads == 3 and source.counters.frames == 2
