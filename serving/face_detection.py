"""Faces in an uploaded photo: decode, find faces and crop each to the model's 48x48
grayscale input, with the camera hosts' own detector and crop (``edge.face_detection``,
OpenCV's Haar cascade), so a face is found and cropped the same way on both.

Decoding goes through ``cv2.imdecode`` on the bytes, so what is not a JPEG or PNG is
refused here with a reason, and the declared size is checked before anything is decoded.
A photo is searched at full resolution (a camera host shrinks frames for speed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from senim.config import EmotionServiceParams

FACE_SIZE = 48
# Magic numbers of the formats accepted: JPEG, PNG.
SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


class ImageRejected(ValueError):
    """An upload that is not a usable image; ``status`` is the HTTP answer (400/413/415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DetectedFaces:
    boxes: list[tuple[int, int, int, int]]  # x, y, width, height in the image's pixels
    crops: np.ndarray  # (N, 48, 48) uint8, in the order of ``boxes``
    width: int
    height: int


class FaceDetector:
    """Decode and detect; one per thread (an OpenCV cascade is not shared across them)."""

    def __init__(self, params: EmotionServiceParams) -> None:
        import cv2

        from edge.config import DetectionConfig
        from edge.face_detection import HaarFaceDetector

        self._cv2 = cv2
        self.params = params
        self._haar = HaarFaceDetector(
            DetectionConfig(
                scale_factor=params.detector_scale_factor,
                min_neighbors=params.detector_min_neighbors,
                min_face_px=params.min_face_pixels,
                detect_width=1 << 30,  # never shrink an uploaded photo
            )
        )

    def decode(self, content: bytes) -> np.ndarray:
        """Grayscale pixels of a JPEG or PNG, or ImageRejected saying why not."""
        if not content:
            raise ImageRejected("the upload is empty")
        if len(content) > self.params.max_image_bytes:
            raise ImageRejected(
                f"the image is {len(content)} bytes; the limit is {self.params.max_image_bytes}",
                status=413,
            )
        if not any(content.startswith(magic) for magic in SIGNATURES):
            raise ImageRejected("the upload is not a JPEG or PNG image", status=415)
        width, height = _declared_size(content)
        if width * height > self.params.max_image_pixels:
            raise ImageRejected(
                f"the image is {width}x{height} pixels; the limit is "
                f"{self.params.max_image_pixels} pixels",
                status=413,
            )
        cv2 = self._cv2
        image = cv2.imdecode(np.frombuffer(content, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ImageRejected("the image cannot be decoded (corrupt or truncated)")
        return image

    def detect(self, gray: np.ndarray) -> DetectedFaces:
        from edge.face_detection import crop_face

        boxes = sorted(self._haar.detect(gray))
        crops = np.empty((len(boxes), FACE_SIZE, FACE_SIZE), dtype=np.uint8)
        for i, box in enumerate(boxes):
            crops[i] = crop_face(gray, box, FACE_SIZE)
        return DetectedFaces(boxes, crops, width=int(gray.shape[1]), height=int(gray.shape[0]))


def _declared_size(content: bytes) -> tuple[int, int]:
    """Width and height from the header, before decoding (a decompression bomb is refused
    without allocating it). PNG: the IHDR chunk; JPEG: the first start-of-frame marker."""
    if content.startswith(b"\x89PNG"):
        if len(content) < 24:
            raise ImageRejected("the PNG image is truncated")
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    i = 2
    while i + 9 < len(content):
        if content[i] != 0xFF:
            i += 1
            continue
        marker = content[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(content[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(content[i + 5 : i + 7], "big")
            width = int.from_bytes(content[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    raise ImageRejected("the JPEG image has no frame header (corrupt or truncated)")
