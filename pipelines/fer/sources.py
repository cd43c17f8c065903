"""Read FER2013 from any of its three common forms into one ``FerDataset``; write snapshots.

FER2013 circulates as the original Kaggle ``fer2013.csv`` (``emotion,pixels,Usage``), as
the image-folder release (``train/<class>/*.jpg``, ``test/<class>/*.jpg``) and as ``.npz``
arrays. Each reader here turns one form into the same in-memory schema and names the
file, row or path of the first problems it finds (a ``DataError``), so later stages never
see which form the data came from. What a reader had to do to make data fit (convert,
resize, skip an undecodable file) is counted in ``FerDataset.notes``, never done silently.

``write_fer_npz`` writes the snapshot the pipeline versions with DVC: a compressed
``.npz`` (``x``, ``y``, ``usage``; no pickle) written atomically and byte-reproducibly.
"""

from __future__ import annotations

import csv
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from PIL import Image

from pipelines.fer.schema import EMOTIONS, FOLDER_NAMES, IMAGE_SIZE, USAGES, FerDataset
from senim.atomic_files import atomic_write
from senim.errors import ConfigError, DataError

FerForm = Literal["csv", "folder", "npz"]
FORMS: tuple[str, ...] = ("csv", "folder", "npz")

CSV_COLUMNS: tuple[str, ...] = ("emotion", "pixels", "Usage")
PIXELS = IMAGE_SIZE * IMAGE_SIZE
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
# Split folders of the image release and the usage their files get without a name prefix.
SPLIT_FOLDERS: dict[str, str] = {"train": "Training", "test": "PublicTest"}
# Operating-system litter skipped (with a note) instead of failing the read.
_SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini"})
_MAX_EXAMPLES = 3
_NPZ_ARRAYS = ("x", "y", "usage")
_CSV_BLOCK = 4096  # rows per preallocated block while streaming the CSV
# A fixed zip timestamp makes two writes of the same data byte-identical (stable DVC hash).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# --- dispatch ---------------------------------------------------------------------------------


def read_fer(path: str | Path, form: FerForm | None = None) -> FerDataset:
    """Read ``path`` as ``form``; without a form, a folder is the image release, else the suffix.

    An unknown ``form`` is a ConfigError (it comes from ``params.yaml``); a path whose form
    cannot be inferred is a DataError listing the forms.
    """
    path = Path(path)
    if form is None:
        form = infer_form(path)
    readers: dict[str, Callable[[Path], FerDataset]] = {
        "csv": read_fer_csv,
        "folder": read_fer_folder,
        "npz": read_fer_npz,
    }
    if form not in readers:
        raise ConfigError(f"unknown FER2013 form {form!r}: use one of {', '.join(FORMS)}")
    return readers[form](path)


def infer_form(path: Path) -> FerForm:
    """The FER form of ``path``: a folder is the image release, else the file suffix."""
    if not path.exists():
        raise DataError(f"FER2013 data not found: {path}")
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".npz":
        return "npz"
    raise DataError(
        f"{path}: cannot tell the FER2013 form from the name; expected one of {', '.join(FORMS)}: "
        "a .csv file (emotion,pixels,Usage), a folder with train/ and test/, or an .npz file"
    )


# --- fer2013.csv ------------------------------------------------------------------------------


def read_fer_csv(path: str | Path) -> FerDataset:
    """Stream the Kaggle ``fer2013.csv``: one row at a time into preallocated uint8 blocks.

    Column names match after trimming and ignoring case (some copies write `` Usage``).
    Rows are named as "data row K (line L)", both 1-based; blank lines are skipped.
    """
    path = Path(path)
    _require_file(path, "FER2013 CSV file")
    blocks = _Blocks()
    labels: list[int] = []
    usages: list[int] = []
    for row, line, emotion, pixels, usage in _csv_records(path):
        where = f"{path}: data row {row} (line {line})"
        labels.append(_parse_emotion(emotion, where))
        usages.append(_parse_usage(usage, where))
        blocks.next_row()[...] = _parse_pixels(pixels, where).reshape(IMAGE_SIZE, IMAGE_SIZE)
    if not labels:
        raise DataError(f"{path}: has a header but no data rows")
    usage = np.array(USAGES)[np.array(usages, dtype=np.intp)]
    return FerDataset(blocks.stack(), np.array(labels, dtype=np.uint8), usage, str(path))


class _Blocks:
    """Pixels grow in fixed-size (4096, 48, 48) uint8 blocks, joined once at the end."""

    def __init__(self) -> None:
        self._full: list[np.ndarray] = []
        self._block = np.empty((_CSV_BLOCK, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        self._used = 0

    def next_row(self) -> np.ndarray:
        if self._used == _CSV_BLOCK:
            self._full.append(self._block)
            self._block = np.empty_like(self._block)
            self._used = 0
        self._used += 1
        return self._block[self._used - 1]

    def stack(self) -> np.ndarray:
        return np.concatenate([*self._full, self._block[: self._used]])


def _csv_records(path: Path) -> Iterator[tuple[int, int, str, str, str]]:
    """(data row, line, emotion, pixels, Usage) per non-blank row, in file order."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            try:
                header = next(row for row in reader if _non_blank(row))
            except StopIteration:
                raise DataError(
                    f"{path}: the file is empty; expected the header "
                    f"{','.join(CSV_COLUMNS)} and data rows"
                ) from None
            columns = _csv_columns(header, path)
            data_row = 0
            for record in reader:
                if not _non_blank(record):
                    continue
                data_row += 1
                if len(record) != len(header):
                    raise DataError(
                        f"{path}: data row {data_row} (line {reader.line_num}) has "
                        f"{len(record)} fields but the header has {len(header)}"
                    )
                yield (data_row, reader.line_num, *(record[i] for i in columns))
    except csv.Error as exc:
        raise DataError(f"{path}: not valid CSV at line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}); expected a CSV file") from None
    except OSError as exc:
        raise DataError(f"cannot read FER2013 CSV file {path}: {exc.strerror or exc}") from None


def _non_blank(row: list[str]) -> bool:
    return bool(row) and not (len(row) == 1 and not row[0].strip())


def _csv_columns(header: list[str], path: Path) -> list[int]:
    """Indices of emotion, pixels and Usage in ``header`` (names trimmed, case ignored)."""
    keys = [name.strip().lower() for name in header]
    repeated = sorted({name for name in keys if keys.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: column(s) {', '.join(map(repr, repeated))} appear more than once")
    missing = [name for name in CSV_COLUMNS if name.lower() not in keys]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}; expected "
            f"{','.join(CSV_COLUMNS)}, found {','.join(name.strip() for name in header)}"
        )
    return [keys.index(name.lower()) for name in CSV_COLUMNS]


def _parse_emotion(text: str, where: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit() and int(value) < len(EMOTIONS)):
        raise DataError(
            f"{where}: column 'emotion' is {_show(text)}; "
            f"expected an integer 0..{len(EMOTIONS) - 1}"
        )
    return int(value)


def _parse_usage(text: str, where: str) -> int:
    value = text.strip()
    if value not in USAGES:
        raise DataError(
            f"{where}: column 'Usage' is {_show(text)}; expected one of {', '.join(USAGES)}"
        )
    return USAGES.index(value)


def _parse_pixels(text: str, where: str) -> np.ndarray:
    """2304 integers 0..255; the fast C parser first, a token-by-token diagnosis on failure."""
    with warnings.catch_warnings():
        # numpy warns (and will raise) when the text does not parse to its end.
        warnings.simplefilter("error", DeprecationWarning)
        try:
            values = np.fromstring(text, dtype=np.int64, sep=" ")
        except (DeprecationWarning, ValueError):
            values = None
    if values is None or values.size != PIXELS or values.min() < 0 or values.max() > 255:
        raise DataError(f"{where}: column 'pixels' {_pixel_problem(text)}")
    return values.astype(np.uint8)


def _pixel_problem(text: str) -> str:
    tokens = text.split()
    if len(tokens) != PIXELS:
        hint = " (the values must be separated by spaces)" if "," in text or ";" in text else ""
        return f"has the wrong number of values: expected {PIXELS}, got {len(tokens)}{hint}"
    for position, token in enumerate(tokens, start=1):
        digits = token.lstrip("+-")
        if not (digits.isascii() and digits.isdigit()) or len(token) - len(digits) > 1:
            return f"value {position} is {_show(token)}, not an integer 0..255"
        if not 0 <= int(token) <= 255:
            return f"value {position} is {int(token)}, outside 0..255"
    return "could not be parsed as integers 0..255"  # not reached: the parser agrees with split


def _show(text: str, limit: int = 24) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- image folders ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ImageFile:
    path: Path
    label: int
    usage: str
    name: str  # relative to the root, for messages


@dataclass
class _Listing:
    files: list[_ImageFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # hidden/system files and folders
    unknown_classes: list[str] = field(default_factory=list)
    not_images: list[str] = field(default_factory=list)
    misplaced: list[str] = field(default_factory=list)  # files outside class folders, subfolders
    missing_classes: list[str] = field(default_factory=list)


def read_fer_folder(path: str | Path) -> FerDataset:
    """Read ``<root>/train/<class>/*`` and ``<root>/test/<class>/*`` (.jpg, .jpeg, .png).

    Usage comes from a ``Training_``/``PublicTest_``/``PrivateTest_`` file-name prefix, else
    from the folder (train -> Training, test -> PublicTest). Order: train then test, class
    0..6, file name ascending. Hidden and system files (``.DS_Store``, ``Thumbs.db``) are
    skipped with a note; any other non-image file, an unknown class folder, a nested folder
    or a file outside the class folders is a DataError naming it, since images in them would
    otherwise be lost silently. Files that do not decode are skipped and named in the notes.
    """
    root = Path(path)
    if not root.exists():
        raise DataError(f"FER2013 image folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; expected train/<class>/ and test/<class>/")
    listing = _list_images(root)
    _raise_listing_problems(root, listing)
    if not listing.files:
        raise DataError(f"{root}: no .jpg/.jpeg/.png images under train/ or test/")
    x, decoded, decode_notes = _decode_images(listing.files)
    if not decoded.any():
        raise DataError(f"{root}: none of the {len(listing.files)} image files could be decoded")
    kept = [f for f, ok in zip(listing.files, decoded, strict=True) if ok]
    return FerDataset(
        x[decoded],
        np.array([f.label for f in kept], dtype=np.uint8),
        np.array([f.usage for f in kept]),
        str(root),
        (*_listing_notes(listing), *_usage_notes(kept), *decode_notes),
    )


def _list_images(root: Path) -> _Listing:
    listing = _Listing()
    for split, default_usage in _split_folders(root, listing):
        for label, class_dir in _class_folders(root, split, listing):
            for entry in sorted(os.scandir(class_dir), key=lambda e: e.name):
                name = _relative(root, entry.path)
                if _is_ignored(entry.name):
                    listing.ignored.append(name)
                elif entry.is_dir():
                    listing.misplaced.append(name + "/")
                elif Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
                    listing.not_images.append(name)
                else:
                    usage = _usage_from_name(entry.name) or default_usage
                    listing.files.append(_ImageFile(Path(entry.path), label, usage, name))
    return listing


def _split_folders(root: Path, listing: _Listing) -> list[tuple[Path, str]]:
    """train/ then test/ (names matched ignoring case); other folders are an error."""
    found: dict[str, list[Path]] = {}
    unexpected: list[str] = []
    for entry in sorted(root.iterdir()):
        if not entry.is_dir() or _is_ignored(entry.name):
            continue  # loose files at the root (README, LICENSE) are not part of the layout
        if entry.name.lower() in SPLIT_FOLDERS:
            found.setdefault(entry.name.lower(), []).append(entry)
        else:
            unexpected.append(entry.name + "/")
    if not found:
        raise DataError(
            f"{root}: no train/ or test/ folder; expected the FER2013 image release "
            f"<root>/train/<class>/*.jpg and <root>/test/<class>/*.jpg{_nested_hint(root)}"
        )
    if unexpected:
        raise DataError(
            f"{root}: unexpected folder(s) {', '.join(unexpected)}; expected only train/ and test/"
        )
    for key, folders in found.items():
        if len(folders) > 1:
            names = ", ".join(f.name for f in folders)
            raise DataError(f"{root}: folders {names} all mean {key}/; keep one")
    return [(found[key][0], usage) for key, usage in SPLIT_FOLDERS.items() if key in found]


def _nested_hint(root: Path) -> str:
    for child in sorted(root.iterdir()):
        if child.is_dir() and any(
            grandchild.is_dir() and grandchild.name.lower() in SPLIT_FOLDERS
            for grandchild in child.iterdir()
        ):
            return f" (did you mean {child}?)"
    return ""


def _class_folders(root: Path, split: Path, listing: _Listing) -> list[tuple[int, Path]]:
    """(label, folder) in label order; unknown folders and loose files go to the listing."""
    by_label: dict[int, list[Path]] = {}
    for entry in sorted(split.iterdir()):
        name = _relative(root, str(entry))
        if _is_ignored(entry.name):
            listing.ignored.append(name)
        elif not entry.is_dir():
            listing.misplaced.append(name)
        elif entry.name.lower() in FOLDER_NAMES:
            by_label.setdefault(FOLDER_NAMES.index(entry.name.lower()), []).append(entry)
        else:
            listing.unknown_classes.append(name + "/")
    for folders in by_label.values():
        if len(folders) > 1:
            names = ", ".join(_relative(root, str(f)) for f in folders)
            raise DataError(f"{root}: folders {names} are the same class; keep one")
    absent = [FOLDER_NAMES[i] for i in range(len(FOLDER_NAMES)) if i not in by_label]
    if absent:
        listing.missing_classes.append(f"{split.name}/ ({', '.join(absent)})")
    return [(label, by_label[label][0]) for label in sorted(by_label)]


def _is_ignored(name: str) -> bool:
    """Hidden entries (.DS_Store, ._x.jpg, .ipynb_checkpoints) and Windows litter."""
    return name.startswith(".") or name.lower() in _SYSTEM_FILES


def _usage_from_name(name: str) -> str | None:
    lowered = name.lower()
    return next((u for u in USAGES if lowered.startswith(u.lower() + "_")), None)


def _relative(root: Path, path: str) -> str:
    return Path(path).relative_to(root).as_posix()


def _raise_listing_problems(root: Path, listing: _Listing) -> None:
    if listing.unknown_classes:
        raise DataError(
            f"{root}: unknown class folder(s) {_examples(listing.unknown_classes)}; "
            f"expected {', '.join(FOLDER_NAMES)}"
        )
    if listing.misplaced:
        raise DataError(
            f"{root}: entries outside the <split>/<class>/<image> layout: "
            f"{_examples(listing.misplaced)}"
        )
    if listing.not_images:
        raise DataError(
            f"{root}: non-image file(s) {_examples(listing.not_images)}; "
            f"expected only {', '.join(sorted(IMAGE_SUFFIXES))} files in the class folders"
        )


def _listing_notes(listing: _Listing) -> list[str]:
    notes = []
    if listing.ignored:
        notes.append(
            f"ignored {len(listing.ignored)} hidden or system file(s)/folder(s): "
            + _examples(listing.ignored)
        )
    if listing.missing_classes:
        notes.append("no folder for class(es) in " + "; ".join(listing.missing_classes))
    return notes


def _usage_notes(files: list[_ImageFile]) -> list[str]:
    """Count files whose name prefix put them in another usage than their folder would."""
    against = [
        f.name
        for f in files
        if (f.usage == "Training") != (f.name.split("/", 1)[0].lower() == "train")
    ]
    if not against:
        return []
    return [
        f"{len(against)} file(s) took their usage from the name prefix against their folder: "
        + _examples(against)
    ]


def _decode_images(files: list[_ImageFile]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pixels of every file into one preallocated array; a mask of the ones that decoded."""
    x = np.empty((len(files), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    decoded = np.zeros(len(files), dtype=bool)
    converted: dict[str, int] = {}
    resized = 0
    undecodable: list[str] = []
    for i, file in enumerate(files):
        try:
            with Image.open(file.path, formats=("JPEG", "PNG")) as image:
                mode, size = image.mode, image.size
                x[i] = _as_face(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            undecodable.append(file.name)  # UnidentifiedImageError, truncated data, ...
            continue
        decoded[i] = True
        if mode != "L":
            converted[mode] = converted.get(mode, 0) + 1
        resized += size != (IMAGE_SIZE, IMAGE_SIZE)
    return x, decoded, _decode_notes(converted, resized, undecodable)


def _as_face(image: Image.Image) -> np.ndarray:
    """8-bit grayscale 48x48: ``convert("L")`` (ITU-R 601 luma), then Lanczos resampling.

    Lanczos is used because it antialiases when downscaling (Pillow widens the kernel by the
    scale factor), so larger faces shrink without moiré; it is also fine for upscaling.
    """
    if image.mode != "L":
        image = image.convert("L")
    if image.size != (IMAGE_SIZE, IMAGE_SIZE):
        image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def _decode_notes(converted: dict[str, int], resized: int, undecodable: list[str]) -> list[str]:
    notes = []
    if converted:
        modes = ", ".join(f"{count} from {mode}" for mode, count in sorted(converted.items()))
        notes.append(f"converted {sum(converted.values())} image(s) to grayscale L ({modes})")
    if resized:
        notes.append(f"resized {resized} image(s) to {IMAGE_SIZE}x{IMAGE_SIZE} (Lanczos)")
    if undecodable:
        notes.append(
            f"skipped {len(undecodable)} undecodable image file(s): " + _examples(undecodable)
        )
    return notes


def _examples(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_EXAMPLES])
    return shown + (f" and {len(items) - _MAX_EXAMPLES} more" if len(items) > _MAX_EXAMPLES else "")


# --- .npz -------------------------------------------------------------------------------------


def read_fer_npz(path: str | Path) -> FerDataset:
    """Read ``x`` (N, 48, 48) integer pixels 0..255, ``y`` (N,) labels 0..6, optional ``usage``.

    Integer arrays of any width are narrowed to uint8 after a range check; float pixels are
    refused (their scale, 0..1 or 0..255, cannot be known). Without ``usage`` every image is
    ``Training`` (noted). Arrays beyond these three are ignored (noted).
    """
    path = Path(path)
    _require_file(path, "FER2013 .npz file")
    arrays, names = _load_npz(path)
    missing = [name for name in ("x", "y") if name not in arrays]
    if missing:
        raise DataError(
            f"{path}: missing array(s) {', '.join(map(repr, missing))}; "
            f"found {', '.join(map(repr, names)) or 'none'}"
        )
    x = _npz_pixels(arrays["x"], path)
    y = _npz_labels(arrays["y"], len(x), path)
    notes: list[str] = []
    if "usage" in arrays:
        usage = _npz_usage(arrays["usage"], len(x), path)
    else:
        usage = np.full(len(x), "Training")
        notes.append(f"no 'usage' array: all {len(x)} images taken as Training")
    extra = [name for name in names if name not in _NPZ_ARRAYS]
    if extra:
        notes.append(f"ignored array(s) {', '.join(map(repr, extra))}")
    return FerDataset(x, y, usage, str(path), tuple(notes))


def _load_npz(path: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays x, y and usage that are present, and the names of all arrays."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(6)
    except OSError as exc:
        raise DataError(f"cannot read FER2013 .npz file {path}: {exc.strerror or exc}") from None
    if magic == b"\x93NUMPY":
        raise DataError(f"{path}: holds a single .npy array; expected an .npz archive")
    if not magic.startswith(b"PK"):
        what = "is empty" if not magic else "is not an .npz (zip) archive"
        raise DataError(f"{path}: {what}; expected arrays x, y and optionally usage")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    with archive:
        names = list(archive.files)
        wanted = [name for name in names if name in _NPZ_ARRAYS]
        return {name: _npz_member(archive, name, path) for name in wanted}, names


def _npz_member(archive: np.lib.npyio.NpzFile, name: str, path: Path) -> np.ndarray:
    try:
        return archive[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{path}: array {name!r} holds Python objects (needs pickle, which is refused); "
                "save it as a fixed-width array, e.g. usage.astype(str)"
            ) from None
        raise DataError(f"{path}: array {name!r} cannot be read ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: array {name!r} cannot be read ({exc})") from None


def _npz_pixels(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{path}: array 'x' must have shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), found {x.shape}"
        )
    if x.dtype.kind not in "ui":
        why = (
            "; float pixels are refused: 0..1 or 0..255 cannot be told"
            if x.dtype.kind == "f"
            else ""
        )
        raise DataError(
            f"{path}: array 'x' must hold integer pixels 0..255 (uint8), found {x.dtype}{why}"
        )
    if len(x) == 0:
        raise DataError(f"{path}: array 'x' holds no images")
    if x.dtype != np.uint8:
        _check_range(x.reshape(len(x), -1), 0, 255, "x", path)
    return np.ascontiguousarray(x, dtype=np.uint8)


def _npz_labels(y: np.ndarray, count: int, path: Path) -> np.ndarray:
    if y.ndim != 1 or len(y) != count:
        hint = " (one-hot? save class indices)" if y.ndim == 2 and y.shape[1:] == (7,) else ""
        raise DataError(
            f"{path}: array 'y' must have shape ({count},) like 'x', found {y.shape}{hint}"
        )
    if y.dtype.kind not in "ui":
        raise DataError(
            f"{path}: array 'y' must hold integer labels 0..{len(EMOTIONS) - 1}, found {y.dtype}"
        )
    _check_range(y, 0, len(EMOTIONS) - 1, "y", path)
    return y.astype(np.uint8)


def _check_range(values: np.ndarray, low: int, high: int, name: str, path: Path) -> None:
    """``values`` is (N,) or (N, k); names the first offending row (0-based array index)."""
    bad = (values < low) | (values > high)
    rows = np.flatnonzero(bad if bad.ndim == 1 else bad.any(axis=1))
    if rows.size:
        first = values[rows[0]]
        found = first if first.ndim == 0 else first[(first < low) | (first > high)][0]
        raise DataError(
            f"{path}: {name}[{rows[0]}] has value {int(found)}, outside {low}..{high} "
            f"({rows.size} such row(s))"
        )


def _npz_usage(usage: np.ndarray, count: int, path: Path) -> np.ndarray:
    if usage.ndim != 1 or len(usage) != count:
        raise DataError(
            f"{path}: array 'usage' must have shape ({count},) like 'x', found {usage.shape}"
        )
    if usage.dtype.kind == "S":
        usage = np.char.decode(usage, "ascii", errors="replace")
    if usage.dtype.kind != "U":
        raise DataError(
            f"{path}: array 'usage' must hold strings ({', '.join(USAGES)}), found {usage.dtype}"
        )
    bad = np.flatnonzero(~np.isin(usage, USAGES))
    if bad.size:
        raise DataError(
            f"{path}: usage[{bad[0]}] is {str(usage[bad[0]])!r}, not one of {', '.join(USAGES)} "
            f"({bad.size} such row(s))"
        )
    return usage


# --- snapshot ---------------------------------------------------------------------------------


def write_fer_npz(dataset: FerDataset, path: str | Path) -> Path:
    """Write ``x``, ``y``, ``usage`` as a compressed ``.npz`` that ``np.load`` reads without pickle.

    The layout is exactly ``numpy.savez_compressed``'s (one deflated ``<name>.npy`` per array,
    zip64) but with a fixed member timestamp, which ``savez_compressed`` does not allow: the
    same data always gives the same bytes, so the DVC hash only changes when the data does.
    Written to a temp file in the same folder, then renamed: never a partial file.
    """
    arrays = {
        "x": np.ascontiguousarray(dataset.x, dtype=np.uint8),
        "y": np.ascontiguousarray(dataset.y, dtype=np.uint8),
        "usage": _fixed_width(dataset.usage),
    }
    return atomic_write(Path(path), lambda handle: _write_npz(handle, arrays))


def _fixed_width(usage: np.ndarray) -> np.ndarray:
    """Unicode ``<U{longest}``: no object dtype, and the width depends only on the values."""
    values = np.asarray(usage).astype(str)
    width = max((len(value) for value in np.unique(values)), default=1)
    return values.astype(f"<U{width}")


def _write_npz(handle: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, mode="w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)


# --- shared -----------------------------------------------------------------------------------


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{what} not found: {path}")
    if not path.is_file():
        raise DataError(f"{what} is not a regular file: {path}")
