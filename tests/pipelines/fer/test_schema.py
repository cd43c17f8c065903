"""FerDataset: the one in-memory form of FER2013; bad arrays are refused with the problem named."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.fer.schema import EMOTIONS, FerDataset
from senim.errors import DataError


def _dataset(n: int = 6, **changes) -> FerDataset:
    arrays = {
        "x": np.zeros((n, 48, 48), dtype=np.uint8),
        "y": (np.arange(n) % len(EMOTIONS)).astype(np.uint8),
        "usage": np.array(["Training"] * (n - 2) + ["PublicTest"] * 2),
    }
    arrays.update(changes)
    return FerDataset(**arrays, source="test.npz")


def test_given_valid_arrays_when_built_then_parts_and_counts_follow_usage_and_labels():
    dataset = _dataset(8)
    assert len(dataset) == 8
    assert len(dataset.part("Training")) == 6 and len(dataset.part("PublicTest")) == 2
    assert dataset.class_counts()["Angry"] == 2 and sum(dataset.class_counts().values()) == 8


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"x": np.zeros((6, 48, 48), dtype=np.float32)}, "uint8"),
        ({"x": np.zeros((6, 64, 64), dtype=np.uint8)}, "shape (N, 48, 48)"),
        ({"y": np.zeros(6, dtype=np.int64)}, "labels must be a 1-D uint8"),
        ({"y": np.array([0, 1, 2, 7, 0, 9], dtype=np.uint8)}, "index 3: label 7 is outside 0..6"),
        ({"usage": np.array(["Training"] * 5 + ["Validation"])}, "index 5: usage 'Validation'"),
        ({"y": np.zeros(5, dtype=np.uint8)}, "counts must match"),
    ],
    ids=["float-pixels", "wrong-size", "int64-labels", "label-7", "unknown-usage", "lengths"],
)
def test_given_bad_arrays_when_built_then_data_error_names_the_problem(changes, message):
    with pytest.raises(DataError, match="test.npz") as error:
        _dataset(**changes)
    assert message in str(error.value)


def test_given_a_mask_when_filtered_then_rows_kept_and_the_note_recorded():
    dataset = _dataset(6)
    kept = dataset.where(np.array([True, False] * 3), note="dropped 3 blank images")
    assert len(kept) == 3 and kept.notes == ("dropped 3 blank images",)


def test_given_parts_when_concatenated_then_rows_in_order_and_no_parts_is_an_error():
    first, second = _dataset(4), _dataset(3)
    joined = FerDataset.concatenate([first, second], source="both")
    assert len(joined) == 7 and joined.source == "both"
    with pytest.raises(DataError, match="no images"):
        FerDataset.concatenate([], source="nothing")
