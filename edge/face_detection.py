"""Haar-cascade face detection on a shrunken grayscale frame (the cascade's cost grows with
pixels; faces at a camera's distance survive halving), and the 48x48 crop the model takes."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from edge.config import DetectionConfig

Box = tuple[int, int, int, int]  # x, y, width, height in full-frame pixels
CASCADE_FILE = "haarcascade_frontalface_default.xml"
DEFAULT_DETECTION = DetectionConfig()


class FaceDetector(Protocol):
    def detect(self, gray: np.ndarray) -> list[Box]: ...


class HaarFaceDetector:
    def __init__(self, config: DetectionConfig = DEFAULT_DETECTION) -> None:
        path = cv2.data.haarcascades + CASCADE_FILE
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"{path}: OpenCV could not load the face cascade")
        self.config = config

    def detect(self, gray: np.ndarray) -> list[Box]:
        height, width = gray.shape[:2]
        scale = min(1.0, self.config.detect_width / width)
        small = (
            gray
            if scale == 1.0
            else cv2.resize(
                gray, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA
            )
        )
        min_px = max(8, int(self.config.min_face_px * scale))
        found = self._cascade.detectMultiScale(
            small,
            scaleFactor=self.config.scale_factor,
            minNeighbors=self.config.min_neighbors,
            minSize=(min_px, min_px),
        )
        return [tuple(int(round(v / scale)) for v in box) for box in found]


def crop_face(gray: np.ndarray, box: Box, size: int = 48) -> np.ndarray:
    """The box's pixels, clipped to the frame, resized to ``size x size`` uint8."""
    x, y, w, h = box
    frame_h, frame_w = gray.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(frame_w, x + w), min(frame_h, y + h)
    face = gray[y0:y1, x0:x1]
    if face.size == 0:
        raise ValueError(f"face box {box} lies outside the {frame_w}x{frame_h} frame")
    return cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA).astype(np.uint8)
