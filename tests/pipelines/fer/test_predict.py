"""Prediction input: only an .npz of uint8 48x48 images is accepted, with the problem named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.fer.predict import (
    OUTPUT_COLUMNS,
    FerPredictor,
    predict_fer_frame,
    read_images_npz,
)
from senim.errors import DataError


def _npz(tmp_path, **arrays):
    path = tmp_path / "images.npz"
    np.savez_compressed(path, **arrays)
    return path


def test_given_images_and_labels_when_read_then_only_images_are_used(tmp_path):
    x = np.arange(2 * 48 * 48, dtype=np.uint32).astype(np.uint8).reshape(2, 48, 48)
    assert np.array_equal(read_images_npz(_npz(tmp_path, x=x, y=np.array([1, 2]))), x)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((1, 48, 48), np.uint8)}, "no array 'x'"),
        ({"x": np.zeros((1, 48, 48), np.float32)}, "must be uint8"),
        ({"x": np.zeros((1, 48, 47), np.uint8)}, "shape (N, 48, 48)"),
        ({"x": np.zeros((0, 48, 48), np.uint8)}, "holds no images"),
    ],
    ids=["no-x", "float", "wrong-shape", "empty"],
)
def test_given_bad_npz_when_read_then_data_error_names_it(tmp_path, arrays, message):
    with pytest.raises(DataError, match="images.npz") as error:
        read_images_npz(_npz(tmp_path, **arrays))
    assert message in str(error.value)


def test_given_missing_or_corrupt_file_when_read_then_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_images_npz(tmp_path / "absent.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        read_images_npz(broken)


def test_given_probabilities_when_framed_then_label_is_argmax_and_columns_in_order():
    proba = np.array([[0.1, 0, 0, 0.7, 0.1, 0, 0.1], [0, 0, 0, 0, 0, 0.2, 0.8]])
    frame = predict_fer_frame(FerPredictor(lambda x: proba, "4", "keras"), np.zeros((2, 48, 48)))
    assert list(frame.columns) == list(OUTPUT_COLUMNS)
    assert frame["label"].tolist() == [3, 6] and frame["emotion"].tolist() == ["Happy", "Neutral"]
    assert (frame["model_version"] == "4").all() and isinstance(frame, pd.DataFrame)
