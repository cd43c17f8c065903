"""The synthetic FER generator: FER2013's format, seeded, learnable, and written atomically.

Written forms are read back here with numpy, csv and Pillow directly, not through
``pipelines.fer.sources``, so these tests pin the file layouts themselves.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from pipelines.fer.schema import EMOTIONS, FOLDER_NAMES, FerDataset
from pipelines.fer.synthetic import generate_fer, write_synthetic_fer
from senim.config import FerSyntheticParams

SMALL = FerSyntheticParams(seed=5, train_per_class=4, test_per_class=2)


@pytest.fixture(scope="module")
def faces() -> FerDataset:
    return generate_fer(FerSyntheticParams())


def _hog(x: np.ndarray, cell: int = 4, bins: int = 9) -> np.ndarray:
    """A HOG-like feature: 2x2-pooled image, gradient-orientation histograms per cell."""
    n = len(x)
    pooled = x.astype(np.float64).reshape(n, 24, 2, 24, 2).mean(axis=(2, 4))
    gy, gx = np.gradient(pooled, axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    orientation = np.minimum((np.arctan2(gy, gx) % np.pi / np.pi * bins).astype(int), bins - 1)
    cells = 24 // cell
    hist = np.stack(
        [
            (magnitude * (orientation == b)).reshape(n, cells, cell, cells, cell).sum(axis=(2, 4))
            for b in range(bins)
        ],
        axis=1,
    ).reshape(n, -1)
    return hist / (np.linalg.norm(hist, axis=1, keepdims=True) + 1e-9)


def _brightness(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).mean(axis=1, keepdims=True)


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- shape, balance, order --------------------------------------------------------------------


TRAIN, TEST = FerSyntheticParams().train_per_class, FerSyntheticParams().test_per_class
N_TRAIN, N_TEST = 7 * TRAIN, 7 * TEST


def test_given_default_params_when_generated_then_arrays_have_the_fer_shapes_and_dtypes(faces):
    assert faces.x.shape == (N_TRAIN + N_TEST, 48, 48)
    assert faces.x.dtype == np.uint8
    assert faces.y.shape == (N_TRAIN + N_TEST,) and faces.y.dtype == np.uint8
    assert faces.usage.shape == (N_TRAIN + N_TEST,)
    assert set(faces.usage.tolist()) == {"Training", "PublicTest"}


def test_given_default_params_when_generated_then_each_usage_is_balanced_over_the_classes(faces):
    assert faces.part("Training").class_counts() == dict.fromkeys(EMOTIONS, TRAIN)
    assert faces.part("PublicTest").class_counts() == dict.fromkeys(EMOTIONS, TEST)


def test_given_default_params_when_generated_then_rows_run_training_then_public_test_by_class(
    faces,
):
    assert faces.usage[:N_TRAIN].tolist() == ["Training"] * N_TRAIN
    assert faces.usage[N_TRAIN:].tolist() == ["PublicTest"] * N_TEST
    np.testing.assert_array_equal(faces.y[:N_TRAIN], np.repeat(np.arange(7), TRAIN))
    np.testing.assert_array_equal(faces.y[N_TRAIN:], np.repeat(np.arange(7), TEST))


def test_given_custom_counts_when_generated_then_each_class_gets_exactly_those_counts():
    data = generate_fer(SMALL)
    assert data.part("Training").class_counts() == dict.fromkeys(EMOTIONS, 4)
    assert data.part("PublicTest").class_counts() == dict.fromkeys(EMOTIONS, 2)


def test_given_any_noise_when_generated_then_no_image_is_blank_and_pixels_span_a_range():
    for noise in (0.0, 0.15):
        data = generate_fer(FerSyntheticParams(noise=noise, train_per_class=30, test_per_class=5))
        per_image_std = data.x.reshape(len(data), -1).std(axis=1)
        assert per_image_std.min() > 5.0
        assert data.x.min() < 40 and data.x.max() > 215


def test_given_more_noise_when_generated_then_neighbouring_pixels_differ_more():
    def roughness(noise: float) -> float:
        x = generate_fer(FerSyntheticParams(noise=noise)).x.astype(np.int16)
        return float(np.abs(np.diff(x, axis=2)).mean())

    assert roughness(0.0) < roughness(0.15) < roughness(0.3)


# --- determinism ------------------------------------------------------------------------------


def test_given_same_params_when_generated_twice_then_arrays_are_byte_identical():
    first, second = generate_fer(SMALL), generate_fer(SMALL)
    assert first.x.tobytes() == second.x.tobytes()
    np.testing.assert_array_equal(first.y, second.y)
    np.testing.assert_array_equal(first.usage, second.usage)


def test_given_different_seeds_when_generated_then_images_differ():
    first = generate_fer(SMALL)
    second = generate_fer(SMALL.model_copy(update={"seed": 6}))
    np.testing.assert_array_equal(first.y, second.y)
    assert (first.x != second.x).any(axis=(1, 2)).all()  # every image, not just some


def test_given_other_test_counts_when_generated_then_training_images_are_unchanged():
    # Each (usage, class) block has its own generator: blocks don't depend on one another.
    fewer = generate_fer(SMALL)
    more = generate_fer(SMALL.model_copy(update={"test_per_class": 9}))
    np.testing.assert_array_equal(fewer.part("Training").x, more.part("Training").x)


# --- learnable, but not through brightness ----------------------------------------------------


def test_given_default_params_when_a_linear_model_learns_gradients_then_it_beats_chance(faces):
    train, test = faces.part("Training"), faces.part("PublicTest")
    model = LogisticRegression(C=1.0, max_iter=3000).fit(_hog(train.x), train.y)
    accuracy = model.score(_hog(test.x), test.y)
    assert 0.5 < accuracy < 0.98, accuracy  # chance is 1/7; perfect would be too easy


def test_given_default_params_when_classified_by_mean_brightness_then_near_chance(faces):
    train, test = faces.part("Training"), faces.part("PublicTest")
    model = LogisticRegression(max_iter=1000).fit(_brightness(train.x), train.y)
    assert model.score(_brightness(test.x), test.y) < 0.3


def test_given_default_params_when_generated_then_it_takes_well_under_two_seconds():
    start = time.perf_counter()
    generate_fer(FerSyntheticParams())
    assert time.perf_counter() - start < 2.0  # a guard against slow drawing, not a benchmark


# --- the written forms ------------------------------------------------------------------------


def test_given_npz_form_when_written_then_it_loads_without_pickle_to_identical_arrays(tmp_path):
    path = write_synthetic_fer(tmp_path / "fer.npz", SMALL, form="npz")
    expected = generate_fer(SMALL)
    assert path == tmp_path / "fer.npz"
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["usage", "x", "y"]
        assert archive["x"].dtype == np.uint8 and archive["y"].dtype == np.uint8
        np.testing.assert_array_equal(archive["x"], expected.x)
        np.testing.assert_array_equal(archive["y"], expected.y)
        assert archive["usage"].tolist() == expected.usage.tolist()
    assert _entries(tmp_path) == ["fer.npz"]


def test_given_csv_form_when_written_then_it_is_the_kaggle_layout_and_rereads_identically(
    tmp_path,
):
    path = write_synthetic_fer(tmp_path / "fer2013.csv", SMALL, form="csv")
    expected = generate_fer(SMALL)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("emotion,pixels,Usage\n") and "\r" not in text
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(expected)
    assert all(re.fullmatch(r"\d+( \d+){2303}", row["pixels"]) for row in rows)
    x = np.array([row["pixels"].split() for row in rows], dtype=np.uint8).reshape(-1, 48, 48)
    np.testing.assert_array_equal(x, expected.x)
    np.testing.assert_array_equal(np.array([int(r["emotion"]) for r in rows]), expected.y)
    assert [row["Usage"] for row in rows] == expected.usage.tolist()
    assert _entries(tmp_path) == ["fer2013.csv"]


def test_given_folder_form_when_written_then_it_is_the_image_folder_layout(tmp_path):
    root = write_synthetic_fer(tmp_path / "fer", SMALL, form="folder")
    assert root == tmp_path / "fer"
    assert _entries(root) == ["test", "train"]
    assert _entries(root / "train") == sorted(FOLDER_NAMES)
    assert _entries(root / "test") == sorted(FOLDER_NAMES)
    for name in FOLDER_NAMES:
        assert all(re.fullmatch(r"Training_\d+\.png", f) for f in _entries(root / "train" / name))
        assert all(re.fullmatch(r"PublicTest_\d+\.png", f) for f in _entries(root / "test" / name))
        assert len(_entries(root / "train" / name)) == 4
        assert len(_entries(root / "test" / name)) == 2
    assert _entries(tmp_path) == ["fer"]


def test_given_folder_form_when_reread_with_pillow_then_arrays_are_identical(tmp_path):
    root = write_synthetic_fer(tmp_path / "fer", SMALL, form="folder")
    expected = generate_fer(SMALL)
    for usage, split in (("Training", "train"), ("PublicTest", "test")):
        files = sorted((root / split).glob("*/*.png"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        part = expected.part(usage)
        images = []
        for file in files:
            with Image.open(file) as image:
                assert image.mode == "L" and image.size == (48, 48)
                images.append(np.asarray(image))
        np.testing.assert_array_equal(np.stack(images), part.x)
        labels = [FOLDER_NAMES.index(file.parent.name) for file in files]
        np.testing.assert_array_equal(labels, part.y)


def test_given_an_existing_folder_when_written_again_then_it_is_replaced_whole(tmp_path):
    bigger = SMALL.model_copy(update={"train_per_class": 6})
    write_synthetic_fer(tmp_path / "fer", bigger, form="folder")
    (tmp_path / "fer" / "stale.txt").write_text("old")
    root = write_synthetic_fer(tmp_path / "fer", SMALL, form="folder")
    assert _entries(root) == ["test", "train"]
    assert len(list((root / "train").glob("*/*.png"))) == 7 * 4
    assert _entries(tmp_path) == ["fer"]


def test_given_a_failure_mid_write_when_writing_folders_then_the_old_tree_stays_and_no_temp(
    tmp_path, monkeypatch
):
    write_synthetic_fer(tmp_path / "fer", SMALL, form="folder")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))

    def fail(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic_fer(tmp_path / "fer", SMALL.model_copy(update={"seed": 9}), "folder")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


def test_given_a_failure_mid_write_when_writing_npz_then_no_file_or_temp_is_left(
    tmp_path, monkeypatch
):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", fail)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic_fer(tmp_path / "fer.npz", SMALL, form="npz")
    assert _entries(tmp_path) == []


def test_given_an_unknown_form_when_writing_then_it_is_refused_before_anything_is_written(
    tmp_path,
):
    with pytest.raises(ValueError, match="npz, csv, folder"):
        write_synthetic_fer(tmp_path / "fer.jpg", SMALL, form="jpg")  # type: ignore[arg-type]
    assert _entries(tmp_path) == []
