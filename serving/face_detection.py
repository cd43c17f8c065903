"""Faces in an uploaded photo: decode, find faces (OpenCV's Haar cascade, bundled with
opencv-python-headless 4.x), and crop each to the model's 48x48 grayscale input.

Decoding goes through ``cv2.imdecode`` on the bytes, so what is not a JPEG or PNG is
refused here with a reason, and the decoded size is checked before any work is done.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from senim.config import EmotionServiceParams

FACE_SIZE = 48
CASCADE = "haarcascade_frontalface_default.xml"
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
    """One Haar cascade, loaded once per worker; ``detect`` is safe to call from threads
    that each hold their own detector (OpenCV classifiers are not shared across them)."""

    def __init__(self, params: EmotionServiceParams) -> None:
        import cv2

        self._cv2 = cv2
        self.params = params
        path = cv2.data.haarcascades + CASCADE
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade {path} (opencv-python-headless 4.x)")

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
        cv2 = self._cv2
        side = self.params.min_face_pixels
        found = self._cascade.detectMultiScale(
            cv2.equalizeHist(gray),
            scaleFactor=self.params.detector_scale_factor,
            minNeighbors=self.params.detector_min_neighbors,
            minSize=(side, side),
        )
        boxes = sorted((int(x), int(y), int(w), int(h)) for x, y, w, h in found)
        crops = np.empty((len(boxes), FACE_SIZE, FACE_SIZE), dtype=np.uint8)
        for i, (x, y, w, h) in enumerate(boxes):
            crops[i] = cv2.resize(
                gray[y : y + h, x : x + w], (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA
            )
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
