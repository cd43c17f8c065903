from __future__ import annotations

import cv2

from edge.face_detection import HaarFaceDetector, crop_face
from edge.face_drawing import Expression, face_frame


def test_given_drawn_face_in_vga_frame_when_detected_then_one_box_around_it():
    frame = face_frame(640, 480, (((400, 240), 160, Expression(mouth_curve=0.8)),))
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    (box,) = HaarFaceDetector().detect(gray)
    x, y, w, h = box
    assert x < 400 < x + w and y < 240 < y + h and 100 < w < 260
    assert crop_face(gray, box).shape == (48, 48)


def test_given_empty_frame_when_detected_then_no_faces():
    gray = cv2.cvtColor(face_frame(640, 480), cv2.COLOR_BGR2GRAY)
    assert HaarFaceDetector().detect(gray) == []
