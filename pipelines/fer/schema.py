"""FER2013 in one in-memory form, whatever file it came from.

``FerDataset`` holds N grayscale 48x48 faces as ``uint8`` pixels, their labels 0..6 in
the official FER2013 coding and each image's official usage. Every loader returns one
and every later stage takes one, so the three file forms (``fer2013.csv``, the image
folders, an ``.npz``) are told apart in exactly one place (``pipelines.fer.sources``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from senim.errors import DataError

EMOTIONS: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
# The image-folder release names its class folders in lower case.
FOLDER_NAMES: tuple[str, ...] = tuple(name.lower() for name in EMOTIONS)
IMAGE_SIZE = 48
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")


@dataclass(frozen=True, eq=False)  # arrays have no single truth value: no generated ==
class FerDataset:
    """``x`` (N, 48, 48) uint8, ``y`` (N,) uint8 in 0..6, ``usage`` (N,) of USAGES (a
    unicode array). Messages count rows from 0 ("index"), as arrays do.

    ``source`` names where it came from (for messages); ``notes`` are what a loader did
    to make it fit (images resized or converted, corrupt files skipped), with counts.
    """

    x: np.ndarray
    y: np.ndarray
    usage: np.ndarray
    source: str = "memory"
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        where = self.source
        if not isinstance(self.x, np.ndarray) or self.x.dtype != np.uint8:
            raise DataError(f"{where}: images must be a uint8 array, got {_dtype(self.x)}")
        if self.x.ndim != 3 or self.x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(
                f"{where}: images must have shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                f"got {self.x.shape}"
            )
        if not isinstance(self.y, np.ndarray) or self.y.ndim != 1 or self.y.dtype != np.uint8:
            raise DataError(f"{where}: labels must be a 1-D uint8 array, got {_dtype(self.y)}")
        if (
            not isinstance(self.usage, np.ndarray)
            or self.usage.ndim != 1
            or self.usage.dtype.kind != "U"
        ):
            raise DataError(f"{where}: usage must be a 1-D array of {', '.join(USAGES)}")
        if not len(self.x) == len(self.y) == len(self.usage):
            raise DataError(
                f"{where}: {len(self.x)} images, {len(self.y)} labels and "
                f"{len(self.usage)} usages: the counts must match"
            )
        bad_label = np.flatnonzero(self.y > len(EMOTIONS) - 1)
        if bad_label.size:
            row = int(bad_label[0])
            raise DataError(
                f"{where}: index {row}: label {int(self.y[row])} is outside 0..{len(EMOTIONS) - 1}"
                f" ({bad_label.size} such rows)"
            )
        bad_usage = np.flatnonzero(~np.isin(self.usage, USAGES))
        if bad_usage.size:
            row = int(bad_usage[0])
            raise DataError(
                f"{where}: index {row}: usage {str(self.usage[row])!r} is not one of "
                f"{', '.join(USAGES)} ({bad_usage.size} such rows)"
            )

    def __len__(self) -> int:
        return len(self.y)

    def part(self, usage: str) -> FerDataset:
        """The rows of one usage (``Training``, ``PublicTest``, ``PrivateTest``)."""
        keep = self.usage == usage
        return FerDataset(self.x[keep], self.y[keep], self.usage[keep], self.source, self.notes)

    def where(self, keep: np.ndarray, note: str | None = None) -> FerDataset:
        """The rows where ``keep`` is True, with ``note`` added to the notes."""
        notes = self.notes + ((note,) if note else ())
        return FerDataset(self.x[keep], self.y[keep], self.usage[keep], self.source, notes)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=len(EMOTIONS))
        return {name: int(count) for name, count in zip(EMOTIONS, counts, strict=True)}

    @classmethod
    def concatenate(cls, parts: Iterable[FerDataset], source: str) -> FerDataset:
        parts = list(parts)
        if not parts:
            raise DataError(f"{source}: no images")
        return cls(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.usage for p in parts]),
            source,
            tuple(note for p in parts for note in p.notes),
        )


def _dtype(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} with shape {value.shape}"
    return type(value).__name__
