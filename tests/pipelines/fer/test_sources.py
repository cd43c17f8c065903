"""Reading FER2013 as CSV, image folders or .npz: one FerDataset out, one clear error each."""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.fer import sources as fer_sources
from pipelines.fer.schema import EMOTIONS, FOLDER_NAMES, FerDataset
from pipelines.fer.sources import (
    read_fer,
    read_fer_csv,
    read_fer_folder,
    read_fer_npz,
    write_fer_npz,
)
from senim.errors import ConfigError, DataError

REAL_NPZ = Path(__file__).resolve().parents[3].parent / "shared/data/fer2013/fer2013_dev.npz"


def _faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 48, 48), dtype=np.uint8)


def _smooth_face(seed: int) -> np.ndarray:
    """A gradient plus mild noise: JPEG keeps it within a few grey levels."""
    rows, cols = np.mgrid[0:48, 0:48]
    noise = np.random.default_rng(seed).integers(0, 8, (48, 48))
    return (40 + rows * 2 + cols + seed * 3 + noise).clip(0, 255).astype(np.uint8)


def _dataset(count: int = 9, seed: int = 0) -> FerDataset:
    rng = np.random.default_rng(seed)
    usage = np.array(["Training", "PublicTest", "PrivateTest"] * 3)[:count]
    return FerDataset(_faces(count, seed), rng.integers(0, 7, count, dtype=np.uint8), usage)


def _pixels(face: np.ndarray) -> str:
    return " ".join(map(str, face.ravel()))


def _write_csv(path: Path, data: FerDataset, header: str = "emotion,pixels,Usage") -> Path:
    lines = [header] + [
        f"{label},{_pixels(face)},{usage}"
        for face, label, usage in zip(data.x, data.y, data.usage, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _csv_with_row(tmp_path: Path, emotion: str, pixels: str, usage: str) -> Path:
    """Two good rows, then the given one as data row 3 (line 4)."""
    good = _pixels(_faces(1)[0])
    text = f"emotion,pixels,Usage\n0,{good},Training\n1,{good},PublicTest\n"
    path = tmp_path / "fer2013.csv"
    path.write_text(text + f"{emotion},{pixels},{usage}\n")
    return path


def _save(path: Path, pixels: np.ndarray, **options: object) -> Path:
    """An 8-bit image file; Pillow picks L or RGB from the array and the format from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **options)
    return path


def _folder(root: Path, per_class: int = 2) -> FerDataset:
    """PNG release (lossless): per class, un-prefixed train files and prefixed test files.

    Returns what a reader must give back, in its documented order.
    """
    xs, ys, usages = [], [], []
    seed = 0
    for split, names in (
        ("train", [f"img{i}.png" for i in range(per_class)]),
        ("test", ["PublicTest_1.png", "PrivateTest_2.png"]),
    ):
        for label, class_name in enumerate(FOLDER_NAMES):
            for name in sorted(names):
                seed += 1
                face = _faces(1, seed)[0]
                _save(root / split / class_name / name, face)
                xs.append(face)
                ys.append(label)
                if split == "train":
                    usages.append("Training")
                else:
                    usages.append(name.split("_", 1)[0])
    return FerDataset(np.stack(xs), np.array(ys, dtype=np.uint8), np.array(usages))


def _assert_same(got: FerDataset, expected: FerDataset) -> None:
    np.testing.assert_array_equal(got.x, expected.x)
    np.testing.assert_array_equal(got.y, expected.y)
    np.testing.assert_array_equal(got.usage, expected.usage)


def _save_npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)
    return path


# --- CSV: good input -------------------------------------------------------------------------


def test_given_a_good_csv_when_read_then_pixels_labels_and_usages_round_trip_exactly(tmp_path):
    expected = _dataset()
    got = read_fer_csv(_write_csv(tmp_path / "fer2013.csv", expected))
    _assert_same(got, expected)
    assert got.x.dtype == np.uint8 and got.y.dtype == np.uint8
    assert got.source == str(tmp_path / "fer2013.csv") and got.notes == ()


def test_given_more_rows_than_one_block_when_read_then_blocks_join_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(fer_sources, "_CSV_BLOCK", 2)
    expected = _dataset(7)
    _assert_same(read_fer_csv(_write_csv(tmp_path / "f.csv", expected)), expected)


def test_given_bom_spaced_reordered_headers_and_blank_lines_when_read_then_columns_match(
    tmp_path,
):
    expected = _dataset(3)
    rows = [
        f"{u} ,{label},{_pixels(face)}"
        for face, label, u in zip(expected.x, expected.y, expected.usage, strict=True)
    ]
    path = tmp_path / "f.csv"
    path.write_bytes(
        ("\ufeff Usage ,Emotion, pixels\n\n" + "\n\n".join(rows) + "\n\n\n").encode("utf-8")
    )
    _assert_same(read_fer_csv(path), expected)


# --- CSV: bad input --------------------------------------------------------------------------


def test_given_a_missing_file_when_read_then_error_names_it(tmp_path):
    with pytest.raises(DataError, match=r"not found: .*nope\.csv"):
        read_fer_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_given_an_empty_file_when_read_then_error_says_empty(tmp_path, content):
    path = tmp_path / "fer2013.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=r"fer2013\.csv: the file is empty"):
        read_fer_csv(path)


def test_given_a_header_without_rows_when_read_then_error_says_no_data_rows(tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="no data rows"):
        read_fer_csv(path)


@pytest.mark.parametrize(
    ("header", "missing"),
    [("emotion,pixels", "'Usage'"), ("label,pixels,split", "'emotion', 'Usage'")],
)
def test_given_missing_columns_when_read_then_error_names_them(tmp_path, header, missing):
    path = tmp_path / "fer2013.csv"
    path.write_text(header + "\n0,1 2,Training\n")
    with pytest.raises(DataError, match=rf"fer2013\.csv: missing column\(s\) {missing}"):
        read_fer_csv(path)


@pytest.mark.parametrize(
    ("pixels", "problem"),
    [
        (" ".join(["7"] * 2303), "expected 2304, got 2303"),
        (" ".join(["7"] * 2305), "expected 2304, got 2305"),
        ("", "expected 2304, got 0"),
    ],
)
def test_given_pixel_string_of_wrong_length_when_read_then_error_names_row_and_count(
    tmp_path, pixels, problem
):
    with pytest.raises(DataError) as caught:
        read_fer_csv(_csv_with_row(tmp_path, "3", pixels, "Training"))
    message = str(caught.value)
    assert "fer2013.csv: data row 3 (line 4)" in message
    assert "'pixels'" in message and problem in message


def test_given_comma_separated_pixels_when_read_then_error_hints_at_spaces(tmp_path):
    path = _csv_with_row(tmp_path, "3", '"' + ",".join(["7"] * 2304) + '"', "Training")
    with pytest.raises(DataError, match=r"got 1 \(the values must be separated by spaces\)"):
        read_fer_csv(path)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("x", "value 5 is 'x', not an integer"),
        ("2.5", "value 5 is '2.5', not an integer"),
        ("1e3", "value 5 is '1e3', not an integer"),
        ("256", "value 5 is 256, outside 0..255"),
        ("-1", "value 5 is -1, outside 0..255"),
        ("99999999999999999999", "value 5 is 99999999999999999999, outside 0..255"),
    ],
)
def test_given_a_bad_pixel_value_when_read_then_error_names_row_position_and_value(
    tmp_path, bad, problem
):
    tokens = ["7"] * 2304
    tokens[4] = bad
    with pytest.raises(DataError) as caught:
        read_fer_csv(_csv_with_row(tmp_path, "3", " ".join(tokens), "Training"))
    assert "data row 3 (line 4): column 'pixels'" in str(caught.value)
    assert problem in str(caught.value)


@pytest.mark.parametrize("emotion", ["7", "-1", "happy", "3.0", ""])
def test_given_emotion_outside_0_to_6_when_read_then_error_names_row_and_value(tmp_path, emotion):
    path = _csv_with_row(tmp_path, emotion, _pixels(_faces(1)[0]), "Training")
    with pytest.raises(DataError) as caught:
        read_fer_csv(path)
    message = str(caught.value)
    assert "data row 3 (line 4): column 'emotion' is " + repr(emotion) in message
    assert "0..6" in message


def test_given_an_unknown_usage_when_read_then_error_names_row_value_and_allowed(tmp_path):
    path = _csv_with_row(tmp_path, "3", _pixels(_faces(1)[0]), "Validation")
    with pytest.raises(
        DataError,
        match=r"data row 3 \(line 4\): column 'Usage' is 'Validation'; "
        r"expected one of Training, PublicTest, PrivateTest",
    ):
        read_fer_csv(path)


def test_given_a_row_with_an_extra_field_when_read_then_error_names_row_and_counts(tmp_path):
    path = _csv_with_row(tmp_path, "3", _pixels(_faces(1)[0]), "Training,extra")
    with pytest.raises(DataError, match=r"data row 3 \(line 4\) has 4 fields but the header has 3"):
        read_fer_csv(path)


def test_given_a_file_that_is_not_utf8_when_read_then_error_says_so(tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_bytes(b"emotion,pixels,Usage\n\xff\xfe\x00garbage\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_fer_csv(path)


# --- folders: good input ---------------------------------------------------------------------


def test_given_a_png_release_when_read_then_it_round_trips_exactly_in_documented_order(tmp_path):
    expected = _folder(tmp_path / "fer", per_class=3)
    got = read_fer_folder(tmp_path / "fer")
    _assert_same(got, expected)
    assert got.notes == () and got.source == str(tmp_path / "fer")


def test_given_file_names_out_of_order_when_read_then_train_test_class_and_name_order_hold(
    tmp_path,
):
    root = tmp_path / "fer"
    # Written test first, classes backwards, names descending: the reader must sort.
    for split in ("test", "train"):
        for class_name in reversed(FOLDER_NAMES):
            for name in ("b.png", "a.png"):
                _save(root / split / class_name / name, _faces(1)[0])
    got = read_fer_folder(root)
    assert got.usage.tolist() == ["Training"] * 14 + ["PublicTest"] * 14
    assert got.y.tolist() == [label for label in range(7) for _ in "ab"] * 2


def test_given_name_prefixes_when_read_then_prefix_wins_and_folders_fill_the_rest(tmp_path):
    root = tmp_path / "fer"
    face = _faces(1)[0]
    for name in ("PrivateTest_9.png", "PublicTest_3.png", "plain.png"):
        _save(root / "test" / "happy" / name, face)
    for name in ("Training_1.png", "plain.png", "publictest_7.png"):
        _save(root / "train" / "sad" / name, face)
    got = read_fer_folder(root)
    assert got.usage.tolist() == [
        "Training",  # train/sad/Training_1.png
        "Training",  # train/sad/plain.png: no prefix, train/ folder
        "PublicTest",  # train/sad/publictest_7.png: prefix (any case) beats the folder
        "PrivateTest",  # test/happy/PrivateTest_9.png
        "PublicTest",  # test/happy/PublicTest_3.png
        "PublicTest",  # test/happy/plain.png: no prefix, test/ folder
    ]
    assert any(
        note.startswith("1 file(s) took their usage from the name prefix")
        and "train/sad/publictest_7.png" in note
        for note in got.notes
    )


def test_given_folder_names_in_other_cases_when_read_then_they_match(tmp_path):
    root = tmp_path / "fer"
    _save(root / "TRAIN" / "Happy" / "a.png", _faces(1)[0])
    _save(root / "Test" / "SURPRISE" / "b.PNG", _faces(1)[0])
    got = read_fer_folder(root)
    assert got.y.tolist() == [EMOTIONS.index("Happy"), EMOTIONS.index("Surprise")]
    assert got.usage.tolist() == ["Training", "PublicTest"]


def test_given_only_some_class_folders_when_read_then_missing_classes_are_noted(tmp_path):
    root = tmp_path / "fer"
    _save(root / "train" / "happy" / "a.png", _faces(1)[0])
    got = read_fer_folder(root)
    assert len(got) == 1
    assert any("no folder for class(es)" in n and "disgust" in n for n in got.notes)


def test_given_jpegs_when_read_then_pixels_match_within_jpeg_loss(tmp_path):
    root = tmp_path / "fer"
    faces = np.stack([_smooth_face(seed) for seed in range(3)])
    for i, face in enumerate(faces):
        _save(root / "train" / "fear" / f"{i}.jpg", face, quality=95)
    got = read_fer_folder(root)
    assert got.y.tolist() == [2, 2, 2]
    assert not any(note.startswith(("converted", "resized", "skipped")) for note in got.notes)
    error = np.abs(got.x.astype(int) - faces.astype(int))
    assert error.mean() < 2.0 and error.max() <= 16


def test_given_rgb_and_large_images_when_read_then_converted_and_resized_are_counted(tmp_path):
    root = tmp_path / "fer"
    colour = np.full((64, 64, 3), (100, 150, 200), dtype=np.uint8)
    _save(root / "train" / "angry" / "a_rgb64.png", colour)  # converted and resized
    _save(root / "train" / "angry" / "b_rgb64.jpg", colour)  # converted and resized
    _save(root / "train" / "angry" / "c_rgb48.png", colour[:48, :48])  # converted only
    _save(root / "train" / "angry" / "d_l64.png", np.full((64, 64), 90, np.uint8))  # resized only
    _save(root / "train" / "angry" / "e_l48.png", _faces(1)[0])  # as is
    got = read_fer_folder(root)
    assert len(got) == 5 and got.x.shape == (5, 48, 48)
    assert "converted 3 image(s) to grayscale L (3 from RGB)" in got.notes
    assert "resized 3 image(s) to 48x48 (Lanczos)" in got.notes
    luma = 100 * 0.299 + 150 * 0.587 + 200 * 0.114  # ITU-R 601, about 140.75
    assert np.abs(got.x[:3].astype(float) - luma).max() <= 2
    assert (got.x[3] == 90).all()


def test_given_corrupt_images_when_read_then_they_are_skipped_counted_and_named(tmp_path):
    root = tmp_path / "fer"
    good = _faces(2)
    _save(root / "train" / "neutral" / "a.png", good[0])
    _save(root / "train" / "neutral" / "z.png", good[1])
    (root / "train" / "neutral" / "b_garbage.jpg").write_bytes(os.urandom(200))
    buffer = io.BytesIO()
    Image.fromarray(_smooth_face(1)).save(buffer, format="JPEG")
    (root / "train" / "neutral" / "c_truncated.jpg").write_bytes(buffer.getvalue()[:300])
    got = read_fer_folder(root)
    np.testing.assert_array_equal(got.x, good)
    assert (
        "skipped 2 undecodable image file(s): train/neutral/b_garbage.jpg, "
        "train/neutral/c_truncated.jpg" in got.notes
    )


def test_given_only_corrupt_images_when_read_then_error_says_none_decoded(tmp_path):
    (tmp_path / "fer" / "train" / "sad").mkdir(parents=True)
    (tmp_path / "fer" / "train" / "sad" / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="none of the 1 image files could be decoded"):
        read_fer_folder(tmp_path / "fer")


def test_given_hidden_and_system_files_when_read_then_they_are_skipped_with_a_note(tmp_path):
    root = tmp_path / "fer"
    _save(root / "train" / "happy" / "a.png", _faces(1)[0])
    for junk in ("train/happy/.DS_Store", "train/happy/._a.png", "train/Thumbs.db"):
        (root / junk).write_bytes(b"\x00junk")
    (root / "README.md").write_text("loose files at the root are ignored")
    got = read_fer_folder(root)
    assert len(got) == 1
    assert any(n.startswith("ignored 3 hidden or system file(s)") for n in got.notes)


# --- folders: bad input ----------------------------------------------------------------------


def test_given_an_unknown_class_folder_when_read_then_error_names_it(tmp_path):
    root = tmp_path / "fer"
    _save(root / "train" / "happy" / "a.png", _faces(1)[0])
    _save(root / "train" / "contempt" / "a.png", _faces(1)[0])
    with pytest.raises(
        DataError, match=r"unknown class folder\(s\) train/contempt/; expected angry, disgust"
    ):
        read_fer_folder(root)


def test_given_a_stray_non_image_file_when_read_then_error_names_it(tmp_path):
    root = tmp_path / "fer"
    _save(root / "test" / "fear" / "a.png", _faces(1)[0])
    (root / "test" / "fear" / "labels.txt").write_text("?")
    with pytest.raises(DataError, match=r"non-image file\(s\) test/fear/labels\.txt"):
        read_fer_folder(root)


@pytest.mark.parametrize("stray", ["train/happy/more/a.png", "train/a.png"])
def test_given_images_outside_class_folders_when_read_then_error_names_them(tmp_path, stray):
    root = tmp_path / "fer"
    _save(root / "train" / "happy" / "a.png", _faces(1)[0])
    _save(root / stray, _faces(1)[0])
    with pytest.raises(DataError, match="outside the <split>/<class>/<image> layout"):
        read_fer_folder(root)


def test_given_a_root_without_train_or_test_when_read_then_error_says_so_with_a_hint(tmp_path):
    _save(tmp_path / "download" / "fer2013" / "train" / "happy" / "a.png", _faces(1)[0])
    with pytest.raises(DataError) as caught:
        read_fer_folder(tmp_path / "download")
    assert "no train/ or test/ folder" in str(caught.value)
    assert "did you mean" in str(caught.value) and "fer2013" in str(caught.value)


def test_given_an_extra_split_folder_when_read_then_error_names_it(tmp_path):
    root = tmp_path / "fer"
    _save(root / "train" / "happy" / "a.png", _faces(1)[0])
    _save(root / "val" / "happy" / "a.png", _faces(1)[0])
    with pytest.raises(DataError, match=r"unexpected folder\(s\) val/"):
        read_fer_folder(root)


def test_given_class_folders_without_images_when_read_then_error_says_no_images(tmp_path):
    (tmp_path / "fer" / "train" / "happy").mkdir(parents=True)
    with pytest.raises(DataError, match="no .jpg/.jpeg/.png images"):
        read_fer_folder(tmp_path / "fer")


def test_given_a_missing_or_file_path_when_read_as_folder_then_error_names_it(tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        read_fer_folder(tmp_path / "absent")
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(DataError, match=r"file\.txt: not a folder"):
        read_fer_folder(tmp_path / "file.txt")


# --- npz -------------------------------------------------------------------------------------


def test_given_an_npz_with_wide_integer_arrays_when_read_then_they_narrow_to_uint8(tmp_path):
    expected = _dataset()
    path = _save_npz(
        tmp_path / "f.npz",
        x=expected.x.astype(np.int64),
        y=expected.y.astype(np.int32),
        usage=expected.usage,
    )
    got = read_fer_npz(path)
    _assert_same(got, expected)
    assert got.x.dtype == np.uint8 and got.y.dtype == np.uint8 and got.notes == ()


def test_given_an_npz_without_usage_when_read_then_all_are_training_with_a_note(tmp_path):
    data = _dataset(4)
    got = read_fer_npz(_save_npz(tmp_path / "f.npz", x=data.x, y=data.y, extra=np.arange(3)))
    assert got.usage.tolist() == ["Training"] * 4
    assert "no 'usage' array: all 4 images taken as Training" in got.notes
    assert "ignored array(s) 'extra'" in got.notes


def test_given_bytes_usage_when_read_then_it_is_decoded(tmp_path):
    data = _dataset(3)
    path = _save_npz(tmp_path / "f.npz", x=data.x, y=data.y, usage=data.usage.astype("S"))
    assert read_fer_npz(path).usage.tolist() == data.usage.tolist()


def test_given_missing_arrays_when_read_then_error_names_them(tmp_path):
    path = _save_npz(tmp_path / "f.npz", images=_faces(2), usage=np.array(["Training"] * 2))
    with pytest.raises(
        DataError, match=r"f\.npz: missing array\(s\) 'x', 'y'; found 'images', 'usage'"
    ):
        read_fer_npz(path)


@pytest.mark.parametrize(
    ("arrays", "problem"),
    [
        ({"x": _faces(3).astype(np.float32) / 255}, "found float32; float pixels are refused"),
        ({"x": _faces(3)[..., None]}, r"'x' must have shape \(N, 48, 48\), found \(3, 48, 48, 1\)"),
        ({"x": _faces(3)[:, :32]}, r"found \(3, 32, 48\)"),
        ({"x": np.full((3, 48, 48), 300, np.int16)}, r"x\[0\] has value 300, outside 0..255"),
        ({"x": _faces(0)}, "holds no images"),
        ({"y": np.zeros(2, np.uint8)}, r"'y' must have shape \(3,\) like 'x', found \(2,\)"),
        ({"y": np.eye(7, dtype=np.uint8)[:3]}, "one-hot"),
        ({"y": np.zeros(3, np.float64)}, "integer labels 0..6, found float64"),
        ({"y": np.array([0, 7, 1])}, r"y\[1\] has value 7, outside 0..6"),
        ({"y": np.array([0, 1, -1])}, r"y\[2\] has value -1, outside 0..6"),
        ({"usage": np.array(["Training", "Validation", "Training"])}, r"usage\[1\] is 'Valid"),
        ({"usage": np.array(["Training"] * 2)}, r"'usage' must have shape \(3,\)"),
        ({"usage": np.arange(3)}, "'usage' must hold strings"),
    ],
)
def test_given_wrong_npz_arrays_when_read_then_error_says_expected_and_found(
    tmp_path, arrays, problem
):
    good = {"x": _faces(3), "y": np.zeros(3, np.uint8), "usage": np.array(["Training"] * 3)}
    path = _save_npz(tmp_path / "f.npz", **{**good, **arrays})
    with pytest.raises(DataError, match=r"f\.npz: .*" + problem):
        read_fer_npz(path)


def test_given_object_usage_when_read_then_pickle_is_refused(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, x=_faces(1), y=np.zeros(1, np.uint8), usage=np.array(["Training"], object))
    with pytest.raises(DataError, match="'usage' holds Python objects"):
        read_fer_npz(path)


def test_given_files_that_are_not_npz_archives_when_read_then_error_says_what_they_are(tmp_path):
    np.save(tmp_path / "single.npy", _faces(1))
    (tmp_path / "text.npz").write_text("x,y\n")
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(DataError, match="single .npy array"):
        read_fer_npz(tmp_path / "single.npy")
    with pytest.raises(DataError, match=r"text\.npz: is not an \.npz \(zip\) archive"):
        read_fer_npz(tmp_path / "text.npz")
    with pytest.raises(DataError, match=r"empty\.npz: is empty"):
        read_fer_npz(tmp_path / "empty.npz")
    with pytest.raises(DataError, match=r"broken\.npz: not a readable \.npz archive"):
        read_fer_npz(tmp_path / "broken.npz")
    with pytest.raises(DataError, match="not found"):
        read_fer_npz(tmp_path / "absent.npz")


# --- read_fer --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fer2013.csv", "FER.CSV", "snap.npz", "release"])
def test_given_a_path_when_read_without_form_then_the_form_is_inferred(tmp_path, name):
    data = _folder(tmp_path / "release", per_class=1)
    if name.lower().endswith(".csv"):
        _write_csv(tmp_path / name, data)
    elif name.endswith(".npz"):
        write_fer_npz(data, tmp_path / name)
    _assert_same(read_fer(tmp_path / name), data)


def test_given_an_explicit_form_when_read_then_it_overrides_the_suffix(tmp_path):
    data = _dataset(3)
    _assert_same(read_fer(_write_csv(tmp_path / "export.dat", data), form="csv"), data)


def test_given_an_unknown_suffix_when_read_then_error_lists_the_forms(tmp_path):
    (tmp_path / "faces.h5").write_bytes(b"")
    with pytest.raises(DataError, match=r"faces\.h5: .*expected one of csv, folder, npz"):
        read_fer(tmp_path / "faces.h5")
    with pytest.raises(DataError, match=r"not found: .*absent\.csv"):
        read_fer(tmp_path / "absent.csv")


def test_given_an_unknown_form_when_read_then_config_error_lists_the_forms(tmp_path):
    with pytest.raises(ConfigError, match="unknown FER2013 form 'parquet': use one of csv, folder"):
        read_fer(tmp_path, form="parquet")  # type: ignore[arg-type]


# --- write_fer_npz ---------------------------------------------------------------------------


def test_given_a_dataset_when_written_and_read_then_it_round_trips_exactly(tmp_path):
    expected = _dataset()
    path = write_fer_npz(expected, tmp_path / "snap" / "snapshot.npz")
    got = read_fer_npz(path)
    _assert_same(got, expected)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["usage", "x", "y"]
        assert archive["usage"].dtype == np.dtype("<U11")
    assert os.listdir(tmp_path / "snap") == ["snapshot.npz"]


def test_given_the_same_dataset_when_written_twice_then_the_bytes_are_identical(tmp_path):
    data = _dataset()
    copy = FerDataset(data.x.copy(), data.y.copy(), data.usage.copy())
    first = write_fer_npz(data, tmp_path / "a.npz").read_bytes()
    second = write_fer_npz(copy, tmp_path / "b.npz").read_bytes()
    assert first == second


def test_given_a_failure_during_write_when_written_then_no_partial_file_is_left(
    tmp_path, monkeypatch
):
    path = tmp_path / "snapshot.npz"
    write_fer_npz(_dataset(3, seed=1), path)
    before = path.read_bytes()

    def fail_midway(out, array, **_):
        out.write(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", fail_midway)
    with pytest.raises(OSError, match="No space left"):
        write_fer_npz(_dataset(), path)
    with pytest.raises(OSError, match="No space left"):
        write_fer_npz(_dataset(), tmp_path / "new.npz")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["snapshot.npz"]


# --- the real development data ---------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.shared_data
@pytest.mark.skipif(not REAL_NPZ.is_file(), reason=f"{REAL_NPZ} is not present")
def test_given_the_real_dev_npz_when_read_then_counts_match_its_readme():
    data = read_fer(REAL_NPZ)
    assert len(data) == 32_298 and data.notes == ()
    assert Counter(data.usage.tolist()) == {"Training": 28_709, "PublicTest": 3_589}
    assert data.part("Training").class_counts() == dict(
        zip(EMOTIONS, (3_995, 436, 4_097, 7_215, 4_830, 3_171, 4_965), strict=True)
    )
    assert data.part("PublicTest").class_counts() == dict(
        zip(EMOTIONS, (467, 56, 496, 895, 653, 415, 607), strict=True)
    )
    # README row order: all Training first, then PublicTest, each by label.
    assert (data.usage[:28_709] == "Training").all()
    training_labels = data.part("Training").y
    assert (np.diff(training_labels.astype(int)) >= 0).all()
