"""Frames with timestamps from a camera index, a video file or a stream. A file's time is
frame index / fps (so runs on a file are deterministic); a live source's is the wall clock.
A file or device that cannot be opened is a SourceError (the CLI exits 2); a stream is
retried with backoff, and failed reads are counted, not fatal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.backoff import Backoff

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
DEFAULT_FPS = 25.0
_REOPEN_AFTER_FAILED_READS = 25
STREAM_BACKOFF = Backoff(base_seconds=1.0, max_seconds=30.0)


class SourceError(Exception):
    """The source cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Frame:
    index: int
    t: float  # seconds: file time for files, epoch for live sources
    image: np.ndarray  # BGR


@dataclass
class SourceCounters:
    frames: int = 0
    failed_reads: int = 0
    reconnects: int = 0


class VideoSource:
    def __init__(self, spec: str, backoff: Backoff = STREAM_BACKOFF) -> None:
        self.spec, self.backoff = spec, backoff
        self.kind = source_kind(spec)
        self.counters = SourceCounters()
        self._capture: cv2.VideoCapture | None = None
        self.fps = DEFAULT_FPS

    def open(self, stop: threading.Event | None = None) -> None:
        """Opens the source: once for files and devices, with retries for streams."""
        stop = stop or threading.Event()
        if self.kind == "file" and not Path(self.spec).is_file():
            raise SourceError(f"{self.spec}: video file not found")
        failures = 0
        while True:
            capture = cv2.VideoCapture(self._target())
            if capture.isOpened():
                self._capture = capture
                fps = capture.get(cv2.CAP_PROP_FPS)
                self.fps = fps if fps and 1 <= fps <= 240 else DEFAULT_FPS
                return
            capture.release()
            if self.kind != "stream":
                what = "camera device" if self.kind == "device" else "video file"
                raise SourceError(f"{self.spec}: cannot open {what} (OpenCV could not read it)")
            failures += 1
            wait = self.backoff.delay(failures)
            log.warning("stream %s not reachable; retry %d in %.1fs", self.spec, failures, wait)
            if stop.wait(wait):
                raise SourceError(f"{self.spec}: stopped before the stream opened")

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        """Frames until the file ends or ``stop`` is set."""
        if self._capture is None:
            self.open(stop)
        index, consecutive_failures = 0, 0
        while not stop.is_set():
            ok, image = self._capture.read()
            if not ok or image is None:
                if self.kind == "file":
                    return
                self.counters.failed_reads += 1
                consecutive_failures += 1
                if consecutive_failures >= _REOPEN_AFTER_FAILED_READS:
                    self._reopen(stop)
                    consecutive_failures = 0
                continue
            consecutive_failures = 0
            t = index / self.fps if self.kind == "file" else time.time()
            self.counters.frames += 1
            yield Frame(index, t, image)
            index += 1

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _reopen(self, stop: threading.Event) -> None:
        log.warning(
            "%s: %d failed reads in a row, reopening", self.spec, _REOPEN_AFTER_FAILED_READS
        )
        self.close()
        self.counters.reconnects += 1
        kind, self.kind = self.kind, "stream"  # a lost camera is retried like a stream
        try:
            self.open(stop)
        finally:
            self.kind = kind

    def _target(self) -> int | str:
        return int(self.spec) if self.kind == "device" else self.spec


def source_kind(spec: str) -> str:
    """``device`` (a camera index), ``stream`` (rtsp/http URL) or ``file``."""
    if spec.strip().isdigit():
        return "device"
    if spec.lower().startswith(STREAM_SCHEMES):
        return "stream"
    return "file"
