"""Cartoon faces drawn with OpenCV that the Haar frontal-face cascade detects: the bundled
smoke-test faces, the tests' videos and the FPS bench are made from these, so nothing
depends on external images."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SKIN_BGR = (150, 180, 220)


@dataclass(frozen=True)
class Expression:
    """Geometry knobs: mouth curve (+ smile, - frown), mouth opening, brow tilt, all -1..1."""

    mouth_curve: float = 0.0
    mouth_open: float = 0.0
    brow_tilt: float = 0.0


def draw_face(
    image: np.ndarray, center: tuple[int, int], height: int, expression: Expression = Expression()
) -> np.ndarray:
    """Draws one face (about ``0.78 * height`` wide) onto a BGR ``image`` in place."""
    cx, cy = center
    h, w = height, int(height * 0.78)
    cv2.ellipse(image, (cx, cy), (w // 2, h // 2), 0, 0, 360, SKIN_BGR, -1)
    eye_y, eye_dx = cy - h // 8, w // 5
    thick = max(2, h // 40)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        cv2.ellipse(image, (ex, eye_y), (w // 10, h // 20), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(image, (ex, eye_y), max(2, h // 28), (30, 20, 20), -1)
        tilt = int(side * expression.brow_tilt * h / 30)
        inner, outer = ex - side * w // 9, ex + side * w // 9
        cv2.line(
            image, (inner, eye_y - h // 10 + tilt), (outer, eye_y - h // 10), (40, 30, 30), thick
        )
    cv2.line(image, (cx, eye_y + h // 20), (cx - w // 25, cy + h // 12), (110, 130, 170), thick)
    mouth_y, mouth_w = cy + h // 5, w // 6
    opening = max(1, int(h / 20 * (1 + 2 * max(0.0, expression.mouth_open))))
    if abs(expression.mouth_curve) < 0.1:
        cv2.ellipse(image, (cx, mouth_y), (mouth_w, opening), 0, 0, 360, (60, 60, 140), -1)
    else:
        start, end = (0, 180) if expression.mouth_curve > 0 else (180, 360)
        depth = max(2, int(abs(expression.mouth_curve) * h / 12))
        cv2.ellipse(image, (cx, mouth_y), (mouth_w, depth), 0, start, end, (60, 60, 140), thick)
    return image


def face_frame(
    width: int = 640,
    height: int = 480,
    faces: tuple[tuple[tuple[int, int], int, Expression], ...] = (),
    background: int = 90,
) -> np.ndarray:
    """A BGR frame of ``width x height`` with the given (center, height, expression) faces."""
    frame = np.full((height, width, 3), background, np.uint8)
    for center, face_height, expression in faces:
        draw_face(frame, center, face_height, expression)
    return cv2.GaussianBlur(frame, (5, 5), 0)
