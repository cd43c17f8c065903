"""The FER suite catches a short class, a missing usage and too many blank images; the
duplicate counts and ``clean_for_training`` drop exactly the blanks and the Training copies
of evaluation images.

Datasets are built in memory from random-noise images (two noise images never collide), so
every duplicate and blank is one the test put there. Each GX run costs about half a second
(plus GX's import, once per session), so results are shared through module fixtures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.fer.schema import EMOTIONS, USAGES, FerDataset
from pipelines.fer.validate import (
    FerValidationResult,
    clean_for_training,
    clean_test_set,
    duplicate_report,
    ensure_fer_valid,
    image_summary,
    run_fer_suite,
    validate_fer_data,
)
from senim.config import FerValidationParams
from senim.errors import DataError, DataValidationError

PARAMS = FerValidationParams(
    min_images_per_class=3,
    blank_std_threshold=1.0,
    max_blank_fraction=0.05,
    required_usages=["Training", "PublicTest"],
)
PER_USAGE = {"Training": 3, "PublicTest": 2, "PrivateTest": 2}  # images per class
REAL_NPZ = Path(__file__).resolve().parents[3].parent / "shared/data/fer2013/fer2013_dev.npz"


class Builder:
    """Appends images one at a time and remembers nothing but the rows."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.x: list[np.ndarray] = []
        self.y: list[int] = []
        self.usage: list[str] = []

    def noise(self) -> np.ndarray:
        return self.rng.integers(0, 256, size=(48, 48), dtype=np.uint8)

    def add(self, usage: str, label: int, image: np.ndarray | None = None) -> int:
        """Add one image (noise unless given) and return its row."""
        self.x.append(self.noise() if image is None else image)
        self.y.append(label)
        self.usage.append(usage)
        return len(self.y) - 1

    def fill(self, per_usage: dict[str, int], skip: tuple[str, ...] = ()) -> Builder:
        for usage, per_class in per_usage.items():
            if usage in skip:
                continue
            for label in range(len(EMOTIONS)):
                for _ in range(per_class):
                    self.add(usage, label)
        return self

    def build(self, source: str = "built") -> FerDataset:
        return FerDataset(
            np.stack(self.x).astype(np.uint8),
            np.array(self.y, dtype=np.uint8),
            np.array(self.usage),
            source,
        )


def black() -> np.ndarray:
    return np.zeros((48, 48), dtype=np.uint8)


def nearly_uniform() -> np.ndarray:
    image = np.full((48, 48), 100, dtype=np.uint8)
    image[0, 0] = 110  # std about 0.2: still blank
    return image


def low_contrast() -> np.ndarray:
    image = np.full((48, 48), 100, dtype=np.uint8)
    image[::2] = 104  # std 2: a dim image, not a blank one
    return image


class Faulty:
    """A valid dataset carrying blanks and duplicates at known rows."""

    def __init__(self) -> None:
        builder = Builder(seed=1).fill(PER_USAGE)
        shared_public, shared_private, twin = builder.noise(), builder.noise(), builder.noise()
        self.blank_training = builder.add("Training", 0, black())
        self.blank_public = builder.add("PublicTest", 0, black())
        self.dim_training = builder.add("Training", 2, low_contrast())
        self.copy_of_public = builder.add("Training", 3, shared_public)  # same label
        self.public_original = builder.add("PublicTest", 3, shared_public)
        self.copy_of_private = builder.add("Training", 4, shared_private)  # conflicting label
        self.private_original = builder.add("PrivateTest", 5, shared_private)
        self.twins = (builder.add("Training", 6, twin), builder.add("Training", 6, twin))
        self.dataset = builder.build("faulty")


@pytest.fixture(scope="module")
def clean_result() -> FerValidationResult:
    return validate_fer_data(Builder().fill(PER_USAGE).build(), PARAMS)


@pytest.fixture(scope="module")
def faulty() -> Faulty:
    return Faulty()


@pytest.fixture(scope="module")
def faulty_result(faulty: Faulty) -> FerValidationResult:
    return validate_fer_data(faulty.dataset, PARAMS)


@pytest.fixture(scope="module")
def short_class_result() -> FerValidationResult:
    builder = Builder().fill(PER_USAGE)
    keep = ~((np.array(builder.y) == 1) & (np.array(builder.usage) == "Training"))
    keep[np.flatnonzero(~keep)[0]] = True  # one Disgust Training image left, 3 required
    return validate_fer_data(builder.build().where(keep), PARAMS)


# --------------------------------------------------------------------------- schema and frame


@pytest.mark.parametrize(
    ("x", "y", "problem"),
    [
        (np.zeros((2, 48, 47), np.uint8), np.zeros(2, np.uint8), "shape"),
        (np.zeros((2, 48, 48), np.float32), np.zeros(2, np.uint8), "uint8"),
        (np.zeros((2, 48, 48), np.uint8), np.array([0, 7], np.uint8), "label 7"),
    ],
)
def test_given_wrong_shape_dtype_or_label_when_dataset_built_then_constructor_refuses(
    x: np.ndarray, y: np.ndarray, problem: str
) -> None:
    with pytest.raises(DataError, match=problem):
        FerDataset(x, y, np.array(["Training", "Training"]))


def test_given_images_when_summarised_then_one_row_per_image_with_stats_and_hash() -> None:
    builder = Builder()
    noisy = builder.add("Training", 0)
    copy = builder.add("Training", 1, builder.x[noisy].copy())
    empty = builder.add("PublicTest", 2, black())
    dim = builder.add("PublicTest", 3, low_contrast())
    dataset = builder.build()

    frame = image_summary(dataset)

    assert list(frame["label"]) == [0, 1, 2, 3]
    assert list(frame["usage"]) == ["Training", "Training", "PublicTest", "PublicTest"]
    assert set(frame["height"]) == {48} and set(frame["width"]) == {48}
    assert frame.loc[noisy, "sha256"] == frame.loc[copy, "sha256"] != frame.loc[dim, "sha256"]
    assert (frame.loc[empty, "pixel_min"], frame.loc[empty, "pixel_max"]) == (0, 0)
    assert frame.loc[empty, "pixel_std"] == 0.0
    flat = dataset.x.reshape(4, -1).astype(np.float64)
    np.testing.assert_allclose(frame["pixel_mean"], flat.mean(axis=1))
    np.testing.assert_allclose(frame["pixel_std"], flat.std(axis=1))
    assert frame.loc[dim, "pixel_std"] == pytest.approx(2.0)


# --------------------------------------------------------------------------- the suite


def test_given_summary_with_bad_size_pixels_label_usage_when_run_then_rows_are_named() -> None:
    frame = image_summary(Builder().fill(PER_USAGE).build())  # 49 valid rows
    frame.loc[4, "height"] = 47
    frame.loc[5, "width"] = 64
    frame.loc[6, "pixel_max"] = 300
    frame.loc[21, "label"] = 9  # PublicTest rows: the Training class counts stay whole
    frame.loc[22, "usage"] = "Validation"

    success, evaluated, failures = run_fer_suite(frame, PARAMS)

    assert not success and evaluated == 16
    found = {(f.column, f.problem, tuple(f.examples)) for f in failures}
    assert found == {
        ("height", "1 images of another height", ((4, 47),)),
        ("width", "1 images of another width", ((5, 64),)),
        ("pixel_max", "1 pixel values outside 0..255", ((6, 300),)),
        ("label", "1 unknown labels", ((21, 9),)),
        ("usage", "1 unknown usages", ((22, "Validation"),)),
    }


def test_given_clean_set_when_validated_then_it_passes(clean_result: FerValidationResult) -> None:
    assert clean_result.success, clean_result.report()
    assert clean_result.failures == []
    assert clean_result.evaluated == 16
    ensure_fer_valid(clean_result)  # does not raise
    assert clean_result.summary["failed_expectations"] == 0
    assert clean_result.summary["blank_images"] == 0
    assert clean_result.summary["training_duplicate_copies"] == 0


def test_given_class_short_in_training_when_validated_then_failure_names_the_class(
    short_class_result: FerValidationResult,
) -> None:
    assert not short_class_result.success
    [failure] = short_class_result.failures
    assert failure.column == "label"
    assert failure.unexpected_count == 1
    assert "1 Training images of class Disgust (expected >= 3)" in failure.problem
    assert "Disgust" in short_class_result.headline()
    assert not any(e in short_class_result.headline() for e in EMOTIONS if e != "Disgust")


def test_given_failing_result_when_ensured_then_data_validation_error_carries_report(
    short_class_result: FerValidationResult,
) -> None:
    with pytest.raises(DataValidationError, match="class Disgust") as caught:
        ensure_fer_valid(short_class_result)
    assert caught.value.report == short_class_result.report()
    assert "FER data validation failed: 1 of 16 expectations" in caught.value.report


def test_given_required_usage_missing_when_validated_then_usage_expectation_fails() -> None:
    dataset = Builder().fill(PER_USAGE, skip=("PublicTest",)).build()

    result = validate_fer_data(dataset, PARAMS)

    assert not result.success
    [failure] = result.failures
    assert failure.column == "usage"
    assert failure.examples == [(None, "PublicTest")]
    assert "missing required usages ['PublicTest']" in result.headline()


def test_given_too_many_blank_images_when_validated_then_blank_fraction_fails() -> None:
    builder = Builder().fill(PER_USAGE)  # 49 images
    for label in range(3):
        builder.add("Training", label, black())
    builder.add("PrivateTest", 0, nearly_uniform())
    builder.add("Training", 1, low_contrast())  # dim, not blank

    result = validate_fer_data(builder.build(), PARAMS)

    assert not result.success
    [failure] = result.failures
    assert failure.column == "pixel_std"
    assert failure.problem == "7.41% of images blank (expected <= 5.00%)"  # 4 of 54
    assert result.blank == {"Training": 3, "PublicTest": 0, "PrivateTest": 1}
    assert "Blank images (pixel std < 1): 4 (7.41%)" in result.report()


# --------------------------------------------------------------------------- balance, duplicates


def test_given_valid_set_when_reported_then_text_shows_class_balance(
    clean_result: FerValidationResult,
) -> None:
    report = clean_result.report()

    assert report.startswith("FER data validation passed: 16 expectations met on built")
    assert "Class balance (images per class and usage):" in report
    assert all(emotion in report for emotion in EMOTIONS)
    assert "  Training" in report and "21" in report
    assert "Training imbalance (largest / smallest class): 1.00" in report
    assert clean_result.balance.counts["PublicTest"] == dict.fromkeys(EMOTIONS, 2)
    assert clean_result.summary["class_training_happy"] == 3
    assert clean_result.summary["training_imbalance_ratio"] == 1.0


def test_given_duplicates_when_validated_then_counted_within_training_and_across_usages(
    faulty_result: FerValidationResult,
) -> None:
    assert faulty_result.success, faulty_result.report()
    summary = faulty_result.summary
    # Twins, and the black Training image has no Training twin: one redundant copy.
    assert summary["training_duplicate_copies"] == 1
    assert summary["training_duplicate_groups"] == 1
    # Training -> PublicTest: the black image and the same-label copy.
    assert summary["training_with_copy_in_publictest"] == 2
    assert summary["training_with_copy_in_publictest_conflicting"] == 0
    assert summary["publictest_with_copy_in_training"] == 2
    # Training -> PrivateTest: one copy whose label differs.
    assert summary["training_with_copy_in_privatetest"] == 1
    assert summary["training_with_copy_in_privatetest_conflicting"] == 1
    assert summary["privatetest_with_copy_in_training_conflicting"] == 1
    assert summary["publictest_with_copy_in_privatetest"] == 0
    assert summary["training_with_eval_copy"] == 3
    assert summary["blank_training"] == 1 and summary["blank_publictest"] == 1
    assert "1 Training images have an exact copy in PrivateTest (1 with no copy" in (
        faulty_result.report()
    )


def test_given_label_conflict_on_both_sides_when_counted_then_each_side_counts_its_rows() -> None:
    builder = Builder()
    shared = builder.noise()
    builder.add("Training", 0, shared)
    builder.add("Training", 1, shared)  # one of the two Training labels matches PublicTest
    builder.add("PublicTest", 1, shared)

    report = duplicate_report(image_summary(builder.build()))

    overlaps = {(o.usage, o.other): o for o in report.overlaps}
    assert overlaps["Training", "PublicTest"].with_copy == 2
    assert overlaps["Training", "PublicTest"].conflicting == 1
    assert overlaps["PublicTest", "Training"].conflicting == 0
    assert (report.training_redundant, report.training_groups) == (1, 1)
    assert len(report.overlaps) == len(USAGES) * (len(USAGES) - 1)


# --------------------------------------------------------------------------- cleaning


def test_given_blanks_and_leaks_when_cleaned_then_exactly_those_rows_are_dropped(
    faulty: Faulty, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = faulty.dataset
    with caplog.at_level("INFO", logger="pipelines.fer.validate"):
        cleaned, counts = clean_for_training(dataset, PARAMS)

    # The black Training image also has a copy in PublicTest: it counts as blank only.
    assert counts == {
        "blank_dropped": {"Training": 1, "PublicTest": 1, "PrivateTest": 0},
        "cross_split_dropped": 2,
    }
    dropped = [faulty.blank_training, faulty.blank_public, faulty.copy_of_public]
    dropped.append(faulty.copy_of_private)
    keep = np.ones(len(dataset), dtype=bool)
    keep[dropped] = False
    np.testing.assert_array_equal(cleaned.x, dataset.x[keep])
    np.testing.assert_array_equal(cleaned.y, dataset.y[keep])
    np.testing.assert_array_equal(cleaned.usage, dataset.usage[keep])
    assert cleaned.source == "faulty"
    assert cleaned.notes == (
        "dropped 2 blank images (pixel std < 1): Training 1, PublicTest 1",
        "dropped 2 Training images with an exact copy in PublicTest or PrivateTest",
    )
    assert "2 Training images with an exact copy" in caplog.text


def test_given_faulty_set_when_cleaned_then_training_twins_and_dim_image_stay(
    faulty: Faulty,
) -> None:
    cleaned, _ = clean_for_training(faulty.dataset, PARAMS)

    twin = faulty.dataset.x[faulty.twins[0]]
    assert int((cleaned.x == twin).all(axis=(1, 2)).sum()) == 2
    dim = faulty.dataset.x[faulty.dim_training]
    assert (cleaned.x == dim).all(axis=(1, 2)).any()
    summary = duplicate_report(image_summary(cleaned))
    assert summary.training_with_eval_copy == 0
    assert summary.training_redundant == 1


def test_given_faulty_set_when_cleaned_then_evaluation_rows_lose_only_blanks(
    faulty: Faulty,
) -> None:
    cleaned, _ = clean_for_training(faulty.dataset, PARAMS)

    for usage in ("PublicTest", "PrivateTest"):
        before = faulty.dataset.part(usage)
        nonblank = before.x.reshape(len(before), -1).std(axis=1) >= PARAMS.blank_std_threshold
        after = cleaned.part(usage)
        np.testing.assert_array_equal(after.x, before.x[nonblank])
        np.testing.assert_array_equal(after.y, before.y[nonblank])


def test_given_clean_set_when_cleaned_then_nothing_dropped_and_no_notes() -> None:
    dataset = Builder().fill(PER_USAGE).build()

    cleaned, counts = clean_for_training(dataset, PARAMS)

    assert counts == {"blank_dropped": dict.fromkeys(USAGES, 0), "cross_split_dropped": 0}
    assert len(cleaned) == len(dataset) and cleaned.notes == ()


# --------------------------------------------------------------------------- the real file


@pytest.fixture(scope="module")
def real_dataset() -> FerDataset:
    if not REAL_NPZ.is_file():
        pytest.skip(f"real FER file not found at {REAL_NPZ}")
    with np.load(REAL_NPZ, allow_pickle=False) as npz:
        return FerDataset(npz["x"], npz["y"], npz["usage"], REAL_NPZ.name)


@pytest.mark.integration
@pytest.mark.shared_data
def test_given_real_dev_file_when_validated_then_readme_numbers_hold(
    real_dataset: FerDataset,
) -> None:
    result = validate_fer_data(real_dataset, FerValidationParams())

    assert result.success, result.report()
    summary = result.summary
    assert (summary["images_training"], summary["images_publictest"]) == (28_709, 3_589)
    assert summary["class_training_disgust"] == 436 and summary["class_training_happy"] == 7_215
    assert summary["training_imbalance_ratio"] == pytest.approx(7_215 / 436)
    # 11 all-black Training images plus one nearly uniform one; 1 all-black in PublicTest.
    frame = image_summary(real_dataset)
    black_rows = frame[frame["pixel_max"] == 0]
    assert black_rows["usage"].value_counts().to_dict() == {"Training": 11, "PublicTest": 1}
    assert (summary["blank_training"], summary["blank_publictest"]) == (12, 1)
    assert summary["training_distinct_images"] == 27_473
    assert summary["training_duplicate_copies"] == 1_236
    assert summary["training_with_copy_in_publictest"] == 351
    assert summary["training_with_copy_in_publictest_conflicting"] == 351 - 332
    assert summary["publictest_with_copy_in_training"] == 280
    assert summary["publictest_with_copy_in_training_conflicting"] == 280 - 273


@pytest.mark.integration
@pytest.mark.shared_data
def test_given_real_dev_file_when_cleaned_then_blanks_and_publictest_copies_leave_training(
    real_dataset: FerDataset,
) -> None:
    cleaned, counts = clean_for_training(real_dataset, FerValidationParams())

    # 351 Training copies of PublicTest images, 11 of them black and dropped as blanks.
    assert counts == {
        "blank_dropped": {"Training": 12, "PublicTest": 1, "PrivateTest": 0},
        "cross_split_dropped": 340,
    }
    assert len(cleaned.part("Training")) == 28_709 - 12 - 340
    assert len(cleaned.part("PublicTest")) == 3_589 - 1


def _faces(count: int, seed: int) -> FerDataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(count, 48, 48), dtype=np.uint8)
    y = np.arange(count, dtype=np.uint8) % len(EMOTIONS)
    return FerDataset(x, y, np.full(count, "PublicTest"), source=f"faces-{seed}")


def test_given_test_set_with_blanks_and_training_copies_when_cleaned_then_both_dropped():
    training = _faces(20, seed=1)
    test = _faces(10, seed=2)
    x = test.x.copy()
    x[0] = 128  # blank
    x[1] = training.x[5]  # a training image
    x[2] = training.x[5]
    kept, counts = clean_test_set(
        FerDataset(x, test.y, test.usage, "t.npz"), training, FerValidationParams()
    )
    assert counts == {"images": 10, "blank_dropped": 1, "training_copies_dropped": 2}
    assert len(kept) == 7 and np.array_equal(kept.x, x[3:])
    assert any("2 exact copies of training images" in note for note in kept.notes)


def test_given_clean_test_set_when_cleaned_then_every_image_kept_whatever_its_usage():
    test = _faces(7, seed=3)
    relabelled = FerDataset(test.x, test.y, np.full(7, "Training"), "t.npz")
    kept, counts = clean_test_set(relabelled, _faces(5, seed=4), FerValidationParams())
    assert len(kept) == 7 and counts["blank_dropped"] == counts["training_copies_dropped"] == 0
    assert kept.notes == ()


def test_given_test_set_of_only_training_copies_when_cleaned_then_error_names_the_file():
    training = _faces(4, seed=5)
    copies = FerDataset(training.x, training.y, training.usage, "copies.npz")
    with pytest.raises(DataError, match=r"copies\.npz: no test image left"):
        clean_test_set(copies, training, FerValidationParams())
