"""Uploaded photos: refused with a reason before decoding when they are not usable."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from senim.config import EmotionServiceParams
from serving.face_detection import FaceDetector, ImageRejected


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(EmotionServiceParams(max_image_bytes=4096, max_image_pixels=200 * 200))


def _jpeg(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width), 120, np.uint8))
    assert ok
    return data.tobytes()


def test_given_image_over_the_byte_limit_when_decoded_then_413_naming_the_limit(detector):
    noisy = np.random.default_rng(0).integers(0, 256, (120, 120), dtype=np.uint8)
    content = cv2.imencode(".png", noisy)[1].tobytes()
    with pytest.raises(ImageRejected, match="the limit is 4096") as rejected:
        detector.decode(content)
    assert rejected.value.status == 413


def test_given_jpeg_declaring_too_many_pixels_when_decoded_then_413_before_decoding(detector):
    with pytest.raises(ImageRejected, match="201x200 pixels") as rejected:
        detector.decode(_jpeg(201, 200))
    assert rejected.value.status == 413


def test_given_small_jpeg_when_decoded_then_grayscale_pixels_of_its_size(detector):
    gray = detector.decode(_jpeg(64, 40))
    assert gray.shape == (40, 64) and gray.dtype == np.uint8


def test_given_blank_photo_when_detected_then_no_face_and_its_size(detector):
    found = detector.detect(np.full((120, 160), 90, np.uint8))
    assert found.boxes == [] and found.crops.shape == (0, 48, 48)
    assert (found.width, found.height) == (160, 120)


@pytest.mark.parametrize(
    ("content", "status", "says"),
    [
        (b"GIF89a....", 415, "not a JPEG or PNG"),
        (b"\xff\xd8\xff\xdb" + b"\x00" * 10, 400, "frame header"),
    ],
)
def test_given_unusable_bytes_when_decoded_then_rejected_saying_why(
    detector, content, status, says
):
    with pytest.raises(ImageRejected, match=says) as rejected:
        detector.decode(content)
    assert rejected.value.status == status
