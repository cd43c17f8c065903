"""Write files so that a reader never sees half of one: temp file in place, then rename.

Used for every file Senim hands to someone else (snapshots, predictions, reports): a
crash or a bad input mid-write leaves the previous file, never a truncated one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pandas as pd


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from other readers
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: Path, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_csv_atomically(frame: pd.DataFrame, path: Path) -> Path:
    """UTF-8, LF line endings, no index: byte-stable, so DVC hashes are reproducible."""
    text = frame.to_csv(index=False, lineterminator="\n")
    return write_text_atomically(path, text)
