"""Event clips: a ring buffer keeps the last ``pre_seconds`` of frames so a clip can start
before the moment a rule fired; the post-event tail is appended as frames arrive. Clips are
written under a ``.partial.avi`` name and renamed when complete (MJPG: opencv-headless
always has it)."""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass
class _OpenClip:
    writer: cv2.VideoWriter
    partial: Path
    final: Path
    until_t: float
    frames: int = 0


class ClipRecorder:
    def __init__(self, folder: Path, pre_seconds: float, fps: float) -> None:
        self.folder, self.pre_seconds, self.fps = folder, pre_seconds, fps
        self._recent: deque[tuple[float, np.ndarray]] = deque()
        self._open: list[_OpenClip] = []

    def add_frame(self, t: float, frame: np.ndarray) -> None:
        """Every frame goes through here: into the ring buffer and every open clip."""
        for clip in list(self._open):
            if t > clip.until_t:
                self._finish(clip)
            else:
                clip.writer.write(frame)
                clip.frames += 1
        self._recent.append((t, frame))  # the latest frame always stays: a clip starts there
        while len(self._recent) > 1 and t - self._recent[0][0] > self.pre_seconds:
            self._recent.popleft()

    def start(self, name: str, t: float, pre_seconds: float, post_seconds: float) -> Path:
        """Opens ``<name>.avi`` from ``t - pre_seconds``; the path it will have when done."""
        final = self.folder / f"{name}.avi"
        partial = self.folder / f"{name}.partial.avi"
        buffered = [(ft, f) for ft, f in self._recent if ft >= t - pre_seconds]
        if not buffered:
            log.warning("clip %s: no frames buffered yet", name)
            return final
        height, width = buffered[0][1].shape[:2]
        writer = cv2.VideoWriter(
            str(partial), cv2.VideoWriter_fourcc(*"MJPG"), self.fps, (width, height)
        )
        if not writer.isOpened():
            log.error("clip %s: OpenCV could not open a writer at %s", name, partial)
            return final
        clip = _OpenClip(writer, partial, final, until_t=t + post_seconds)
        for _, frame in buffered:
            writer.write(frame)
            clip.frames += 1
        self._open.append(clip)
        return final

    def close(self) -> None:
        """Finishes every open clip (shorter tail than asked when the run ends early)."""
        for clip in list(self._open):
            self._finish(clip)

    def _finish(self, clip: _OpenClip) -> None:
        clip.writer.release()
        os.replace(clip.partial, clip.final)
        self._open.remove(clip)
        log.info("clip %s written (%d frames)", clip.final, clip.frames)
