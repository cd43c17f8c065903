"""FER validation stage: the Great Expectations suite every FER snapshot must pass.

FER2013 has known flaws (see ``../shared/data/fer2013/README.md``): all-black images,
exact pixel duplicates, and hundreds of test images with an exact copy in Training. A
model can look better than it is by memorising those copies, and a broken loader can
silently drop a class or a whole usage. So before training:

- ``validate_fer_data`` runs a GX suite on a per-image summary (one row per image: label,
  usage, pixel statistics, a hash of the pixels, the image size) and also measures class
  balance, blank images and exact duplicates within Training and across usages;
- ``ensure_fer_valid`` stops the pipeline when the suite fails;
- ``clean_for_training`` drops blank images and the Training images whose exact pixels
  also appear in an evaluation usage, so evaluation never rewards memorisation.

The suite runs through ``pipelines.common.gx_suite`` (an in-memory context; nothing is
written to disk).
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
from dataclasses import dataclass
from itertools import permutations
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipelines.common.gx_suite import (
    ExpectationFailure,
    bounds_text,
    exception_message,
    run_suite,
    unexpected_examples,
)
from pipelines.fer.schema import EMOTIONS, IMAGE_SIZE, USAGES, FerDataset
from senim.config import FerValidationParams
from senim.errors import DataError, DataValidationError

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.core import ExpectationValidationResult

log = logging.getLogger(__name__)

SUITE_NAME = "fer_images"
TRAINING = "Training"
EVAL_USAGES: tuple[str, ...] = tuple(usage for usage in USAGES if usage != TRAINING)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "label",
    "usage",
    "pixel_min",
    "pixel_max",
    "pixel_mean",
    "pixel_std",
    "sha256",
    "height",
    "width",
)
BLANK_COLUMN = "_blank"
_CHUNK = 4096  # images per block when summing pixels, to keep the temporaries small


def training_class_column(emotion: str) -> str:
    """Derived 0/1 column marking the Training images of one class, so GX can count them."""
    return f"_training_{emotion}"


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class ClassBalance:
    """Images per class per usage (usages present only), and how skewed Training is."""

    counts: dict[str, dict[str, int]]

    @property
    def training(self) -> dict[str, int]:
        return self.counts.get(TRAINING, {emotion: 0 for emotion in EMOTIONS})

    @property
    def training_imbalance(self) -> float:
        """Largest over smallest Training class; infinite when a class has no image."""
        sizes = list(self.training.values())
        return max(sizes) / min(sizes) if min(sizes) else math.inf


@dataclass(frozen=True)
class CrossSplitOverlap:
    """Images of ``usage`` with an exact pixel copy in ``other``; ``conflicting`` of them
    have no copy there with their own label."""

    usage: str
    other: str
    with_copy: int
    conflicting: int


@dataclass(frozen=True)
class DuplicateReport:
    training_images: int
    training_distinct: int
    training_groups: int  # sets of two or more identical Training images
    overlaps: tuple[CrossSplitOverlap, ...]  # every ordered pair of usages
    training_with_eval_copy: int  # Training images with an exact copy in any evaluation usage

    @property
    def training_redundant(self) -> int:
        """Training images that repeat an earlier Training image."""
        return self.training_images - self.training_distinct


@dataclass(frozen=True)
class FerValidationResult:
    success: bool
    evaluated: int
    failures: list[ExpectationFailure]
    source: str
    images: dict[str, int]  # per usage, all usages
    balance: ClassBalance
    blank: dict[str, int]  # blank images per usage, all usages
    blank_std_threshold: float
    duplicates: DuplicateReport

    def outcome(self) -> str:
        if self.success:
            return f"FER data validation passed: {self.evaluated} expectations met"
        return f"FER data validation failed: {len(self.failures)} of {self.evaluated} expectations"

    def headline(self) -> str:
        """One line: passed, or which expectations failed and how."""
        if self.success:
            return self.outcome()
        pieces = "; ".join(dict.fromkeys(failure.brief() for failure in self.failures))
        return f"{self.outcome()} ({pieces})"

    def report(self) -> str:
        """Multi-line text: outcome, failed expectations, class balance, blanks, duplicates."""
        lines = [f"{self.outcome()} on {self.source}"]
        lines += [failure.line() for failure in self.failures]
        lines += _balance_lines(self.balance, self.images)
        lines.append(_blank_line(self.blank, self.blank_std_threshold, sum(self.images.values())))
        lines += _duplicate_lines(self.duplicates, self.images)
        return "\n".join(lines)

    @property
    def summary(self) -> dict[str, float]:
        """Flat numbers for metric logging (keys in lower case, no spaces)."""
        values: dict[str, float] = {
            "success": int(self.success),
            "failed_expectations": len(self.failures),
            "images": sum(self.images.values()),
        }
        for usage in USAGES:
            values[f"images_{usage.lower()}"] = self.images[usage]
        for usage, counts in self.balance.counts.items():
            for emotion, count in counts.items():
                values[f"class_{usage.lower()}_{emotion.lower()}"] = count
        values["training_imbalance_ratio"] = self.balance.training_imbalance
        values["blank_images"] = sum(self.blank.values())
        for usage in USAGES:
            values[f"blank_{usage.lower()}"] = self.blank[usage]
        dup = self.duplicates
        values["training_distinct_images"] = dup.training_distinct
        values["training_duplicate_copies"] = dup.training_redundant
        values["training_duplicate_groups"] = dup.training_groups
        values["training_with_eval_copy"] = dup.training_with_eval_copy
        for overlap in dup.overlaps:
            key = f"{overlap.usage.lower()}_with_copy_in_{overlap.other.lower()}"
            values[key] = overlap.with_copy
            values[f"{key}_conflicting"] = overlap.conflicting
        return values


# --------------------------------------------------------------------------- summary frame


def image_summary(dataset: FerDataset) -> pd.DataFrame:
    """One row per image (row number = dataset row): label, usage, pixel min/max/mean/std,
    sha256 of the pixel bytes, height and width."""
    flat = dataset.x.reshape(len(dataset), -1)
    mean, std = _mean_std(flat)
    return pd.DataFrame(
        {
            "label": dataset.y.astype("int64"),
            "usage": dataset.usage.astype(str),
            "pixel_min": flat.min(axis=1).astype("int64"),
            "pixel_max": flat.max(axis=1).astype("int64"),
            "pixel_mean": mean,
            "pixel_std": std,
            "sha256": _pixel_hashes(flat),
            "height": np.full(len(dataset), dataset.x.shape[1], dtype="int64"),
            "width": np.full(len(dataset), dataset.x.shape[2], dtype="int64"),
        },
        columns=list(SUMMARY_COLUMNS),
    )


def _mean_std(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row mean and population std from exact integer sums, a block of rows at a time."""
    n = flat.shape[1]
    sums = np.empty(len(flat), dtype=np.int64)
    squares = np.empty(len(flat), dtype=np.int64)
    for start in range(0, len(flat), _CHUNK):
        # int32 holds a row's sum of squares: 48 * 48 * 255**2 < 2**31.
        block = flat[start : start + _CHUNK].astype(np.int32)
        sums[start : start + _CHUNK] = block.sum(axis=1)
        squares[start : start + _CHUNK] = np.einsum("ij,ij->i", block, block)
    variance = (n * squares - sums * sums) / float(n * n)
    return sums / n, np.sqrt(variance)


def _pixel_hashes(flat: np.ndarray) -> np.ndarray:
    contiguous = np.ascontiguousarray(flat)
    return np.array([hashlib.sha256(row.data).hexdigest() for row in contiguous], dtype=object)


def _with_derived_columns(frame: pd.DataFrame, params: FerValidationParams) -> pd.DataFrame:
    """The summary plus 0/1 columns GX can sum or average: blank images, Training per class."""
    training = frame["usage"] == TRAINING
    derived = {BLANK_COLUMN: (frame["pixel_std"] < params.blank_std_threshold).astype("int64")}
    for label, emotion in enumerate(EMOTIONS):
        derived[training_class_column(emotion)] = (training & (frame["label"] == label)).astype(
            "int64"
        )
    return frame.assign(**derived)


# --------------------------------------------------------------------------- facts from the frame


def class_balance(frame: pd.DataFrame) -> ClassBalance:
    counts = {}
    for usage in USAGES:
        labels = frame.loc[frame["usage"] == usage, "label"].to_numpy()
        if labels.size:
            per_class = np.bincount(labels, minlength=len(EMOTIONS))
            counts[usage] = {e: int(c) for e, c in zip(EMOTIONS, per_class, strict=True)}
    return ClassBalance(counts)


def blank_counts(frame: pd.DataFrame, threshold: float) -> dict[str, int]:
    blank = frame["pixel_std"] < threshold
    return {usage: int((blank & (frame["usage"] == usage)).sum()) for usage in USAGES}


def duplicate_report(frame: pd.DataFrame) -> DuplicateReport:
    """Exact duplicates (same sha256) inside Training and between every pair of usages."""
    ids = pd.factorize(frame["sha256"])[0]
    labels = frame["label"].to_numpy()
    usage = frame["usage"].to_numpy()
    training = usage == TRAINING
    _, group_sizes = np.unique(ids[training], return_counts=True)
    in_eval = np.isin(usage, EVAL_USAGES)
    return DuplicateReport(
        training_images=int(training.sum()),
        training_distinct=len(group_sizes),
        training_groups=int((group_sizes > 1).sum()),
        overlaps=tuple(_overlap(ids, labels, usage, a, b) for a, b in permutations(USAGES, 2)),
        training_with_eval_copy=int(np.isin(ids[training], ids[in_eval]).sum()),
    )


def _overlap(
    ids: np.ndarray, labels: np.ndarray, usage: np.ndarray, a: str, b: str
) -> CrossSplitOverlap:
    in_a, in_b = usage == a, usage == b
    keys = ids.astype(np.int64) * len(EMOTIONS) + labels  # one key per (image, label)
    has_copy = np.isin(ids[in_a], ids[in_b])
    same_label = np.isin(keys[in_a], keys[in_b])
    return CrossSplitOverlap(a, b, int(has_copy.sum()), int((has_copy & ~same_label).sum()))


# --------------------------------------------------------------------------- the suite


def build_fer_suite(params: FerValidationParams) -> ExpectationSuite:
    """The suite an ``image_summary`` frame (plus its derived columns) must pass."""
    import great_expectations as gx

    ex = gx.expectations
    suite: list[Any] = [
        ex.ExpectTableRowCountToBeBetween(
            min_value=1,
            description="the dataset must hold at least one image",
            meta={"kind": "count", "problem": "images"},
        )
    ]
    for column in ("height", "width"):
        suite.append(
            ex.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=IMAGE_SIZE,
                max_value=IMAGE_SIZE,
                description=f"every image must be {IMAGE_SIZE} pixels in {column}",
                meta={"kind": "rows", "problem": f"images of another {column}"},
            )
        )
    for column in ("pixel_min", "pixel_max"):
        suite.append(
            ex.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=255,
                description=f"{column} must be between 0 and 255",
                meta={"kind": "rows", "problem": "pixel values outside 0..255"},
            )
        )
    suite += [
        ex.ExpectColumnValuesToBeInSet(
            column="label",
            value_set=list(range(len(EMOTIONS))),
            description=f"labels must be 0..{len(EMOTIONS) - 1} ({', '.join(EMOTIONS)})",
            meta={"kind": "rows", "problem": "unknown labels"},
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="usage",
            value_set=list(USAGES),
            description=f"usage must be one of {', '.join(USAGES)}",
            meta={"kind": "rows", "problem": "unknown usages"},
        ),
        ex.ExpectColumnDistinctValuesToContainSet(
            column="usage",
            value_set=list(params.required_usages),
            description=f"usages {', '.join(params.required_usages)} must all be present",
            meta={"kind": "contains", "problem": "missing required usages"},
        ),
    ]
    for emotion in EMOTIONS:
        suite.append(
            ex.ExpectColumnSumToBeBetween(
                column=training_class_column(emotion),
                min_value=params.min_images_per_class,
                description=(
                    f"class {emotion} must have at least {params.min_images_per_class} "
                    "Training images"
                ),
                meta={
                    "kind": "count",
                    "problem": f"Training images of class {emotion}",
                    "column": "label",
                },
            )
        )
    suite.append(
        ex.ExpectColumnMeanToBeBetween(
            column=BLANK_COLUMN,
            max_value=params.max_blank_fraction,
            description=(
                f"at most {params.max_blank_fraction:.2%} of images may be blank "
                f"(pixel std < {params.blank_std_threshold:g})"
            ),
            meta={"kind": "fraction", "problem": "of images blank", "column": "pixel_std"},
        )
    )
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=suite)


def validate_fer_data(dataset: FerDataset, params: FerValidationParams) -> FerValidationResult:
    """Run the FER suite on ``dataset`` and measure class balance, blanks and duplicates."""
    frame = image_summary(dataset)
    success, evaluated, failures = run_fer_suite(frame, params)
    return FerValidationResult(
        success=success,
        evaluated=evaluated,
        failures=failures,
        source=dataset.source,
        images={usage: int((frame["usage"] == usage).sum()) for usage in USAGES},
        balance=class_balance(frame),
        blank=blank_counts(frame, params.blank_std_threshold),
        blank_std_threshold=params.blank_std_threshold,
        duplicates=duplicate_report(frame),
    )


def ensure_fer_valid(result: FerValidationResult) -> None:
    """Stop the pipeline on bad data: the failed expectations in the message, report attached."""
    if not result.success:
        raise DataValidationError(result.headline(), result.report())


def run_fer_suite(
    frame: pd.DataFrame, params: FerValidationParams
) -> tuple[bool, int, list[ExpectationFailure]]:
    """``(success, expectations evaluated, failures)`` of the suite on an ``image_summary``
    frame. ``FerDataset`` already refuses bad shapes, labels and usages; the suite checks
    them again on whatever frame it is given."""
    frame = _with_derived_columns(frame, params)
    run = run_suite(frame, build_fer_suite(params), source="fer", asset="image_summary")
    return run.success, run.evaluated, [_failure(result) for result in run.failed]


def _failure(result: ExpectationValidationResult) -> ExpectationFailure:
    config = result.expectation_config
    meta = config.meta or {}
    column = meta.get("column", config.kwargs.get("column"))
    description = config.description or config.type
    details = result.result or {}
    message = exception_message(result.exception_info or {})
    if message is not None:
        return ExpectationFailure(config.type, column, 0, [], description, f"not run: {message}")
    count, examples, problem = _problem(meta, config.kwargs, details)
    return ExpectationFailure(config.type, column, count, examples, description, problem)


def _problem(meta: dict, kwargs: dict, details: dict) -> tuple[int, list, str]:
    """``(count, examples, problem)`` for one failed expectation, by the kind of check."""
    kind, problem = meta.get("kind"), meta.get("problem", "")
    observed = details.get("observed_value")
    if kind == "rows":
        count = int(details.get("unexpected_count") or 0)
        return count, unexpected_examples(details), f"{count} {problem}"
    if kind == "contains":
        missing = list(details.get("partial_missing_list") or [])
        return len(missing), [(None, value) for value in missing], f"{len(missing)} {problem}"
    if not isinstance(observed, numbers.Real):
        return 0, [], problem
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    bounds = bounds_text(low, high, percent=kind == "fraction")
    if kind == "fraction":
        return 0, [], f"{observed:.2%} {problem} (expected {bounds})"
    return int(observed), [], f"{int(observed)} {problem} (expected {bounds})"


# --------------------------------------------------------------------------- report text


def _balance_lines(balance: ClassBalance, images: dict[str, int]) -> list[str]:
    width = max(len(emotion) for emotion in EMOTIONS)
    header = "  " + "usage".ljust(12) + "".join(e.rjust(width + 1) for e in EMOTIONS)
    lines = ["Class balance (images per class and usage):", header + "total".rjust(width + 1)]
    for usage, counts in balance.counts.items():
        cells = "".join(f"{counts[e]:>{width + 1},}" for e in EMOTIONS)
        lines.append("  " + usage.ljust(12) + cells + f"{images[usage]:>{width + 1},}")
    training = balance.training
    largest = max(training, key=training.__getitem__)
    smallest = min(training, key=training.__getitem__)
    lines.append(
        f"  Training imbalance (largest / smallest class): {balance.training_imbalance:.2f} "
        f"({largest} {training[largest]:,} / {smallest} {training[smallest]:,})"
    )
    return lines


def _blank_line(blank: dict[str, int], threshold: float, total: int) -> str:
    count = sum(blank.values())
    share = count / total if total else 0.0
    per_usage = ", ".join(f"{usage} {n:,}" for usage, n in blank.items() if n)
    return f"Blank images (pixel std < {threshold:g}): {count:,} ({share:.2%})" + (
        f": {per_usage}" if per_usage else ""
    )


def _duplicate_lines(duplicates: DuplicateReport, images: dict[str, int]) -> list[str]:
    lines = [
        "Exact duplicates:",
        f"  inside Training: {duplicates.training_redundant:,} redundant copies "
        f"({duplicates.training_distinct:,} distinct of {duplicates.training_images:,}; "
        f"{duplicates.training_groups:,} groups of identical images)",
    ]
    for overlap in duplicates.overlaps:
        if images[overlap.usage] and images[overlap.other]:
            lines.append(
                f"  {overlap.with_copy:,} {overlap.usage} images have an exact copy in "
                f"{overlap.other} ({overlap.conflicting:,} with no copy of the same label)"
            )
    lines.append(
        f"  Training images with a copy in an evaluation usage: "
        f"{duplicates.training_with_eval_copy:,} (clean_for_training drops them)"
    )
    return lines


# --------------------------------------------------------------------------- cleaning


def clean_for_training(
    dataset: FerDataset, params: FerValidationParams
) -> tuple[FerDataset, dict[str, Any]]:
    """Drop blank images (every usage) and the Training images whose exact pixels also
    appear in PublicTest or PrivateTest; duplicates inside Training are kept.

    Returns the cleaned dataset (with a note per kind of drop) and the counts:
    ``{"blank_dropped": {usage: n, ...}, "cross_split_dropped": n}``. A Training image that
    is both blank and copied in an evaluation usage counts as blank only.
    """
    frame = image_summary(dataset)
    blank = (frame["pixel_std"] < params.blank_std_threshold).to_numpy()
    leaked = _training_copies_of_eval(frame) & ~blank
    counts: dict[str, Any] = {
        "blank_dropped": {usage: int((blank & (dataset.usage == usage)).sum()) for usage in USAGES},
        "cross_split_dropped": int(leaked.sum()),
    }
    log.info(
        "FER cleaning of %s: dropped blank images %s and %d Training images with an exact "
        "copy in %s",
        dataset.source,
        counts["blank_dropped"],
        counts["cross_split_dropped"],
        "/".join(EVAL_USAGES),
    )
    return _without(dataset, blank, leaked, counts, params.blank_std_threshold), counts


def _training_copies_of_eval(frame: pd.DataFrame) -> np.ndarray:
    """Rows of Training whose pixels are identical to some evaluation image."""
    ids = pd.factorize(frame["sha256"])[0]
    usage = frame["usage"].to_numpy()
    return (usage == TRAINING) & np.isin(ids, ids[np.isin(usage, EVAL_USAGES)])


def _without(
    dataset: FerDataset,
    blank: np.ndarray,
    leaked: np.ndarray,
    counts: dict[str, Any],
    threshold: float,
) -> FerDataset:
    notes = []
    if blank.any():
        per_usage = ", ".join(f"{u} {n}" for u, n in counts["blank_dropped"].items() if n)
        notes.append(
            f"dropped {int(blank.sum())} blank images (pixel std < {threshold:g}): {per_usage}"
        )
    if leaked.any():
        notes.append(
            f"dropped {int(leaked.sum())} Training images with an exact copy in "
            f"{' or '.join(EVAL_USAGES)}"
        )
    keep = ~(blank | leaked)
    return FerDataset(
        dataset.x[keep],
        dataset.y[keep],
        dataset.usage[keep],
        dataset.source,
        dataset.notes + tuple(notes),
    )


def clean_test_set(
    test: FerDataset, training: FerDataset, params: FerValidationParams
) -> tuple[FerDataset, dict[str, int]]:
    """An extra test set (``senim fer train --test``) as it is evaluated: every image in
    it, whatever its usage, minus blank images and exact copies of a training image
    (a test image the model saw would flatter it). Returns the kept images and the counts
    ``{"images": n, "blank_dropped": n, "training_copies_dropped": n}``.
    """
    if len(test) == 0:
        raise DataError(f"{test.source}: the test set has no images")
    flat = test.x.reshape(len(test), -1)
    blank = _mean_std(flat)[1] < params.blank_std_threshold
    seen = set(_pixel_hashes(training.x.reshape(len(training), -1)))
    copied = np.array([h in seen for h in _pixel_hashes(flat)], dtype=bool) & ~blank
    counts = {
        "images": len(test),
        "blank_dropped": int(blank.sum()),
        "training_copies_dropped": int(copied.sum()),
    }
    keep = ~(blank | copied)
    if not keep.any():
        raise DataError(
            f"{test.source}: no test image left after dropping {counts['blank_dropped']} blank "
            f"images and {counts['training_copies_dropped']} copies of training images"
        )
    note = (
        f"test set: dropped {counts['blank_dropped']} blank images and "
        f"{counts['training_copies_dropped']} exact copies of training images"
    )
    return test.where(keep, note if (blank | copied).any() else None), counts
