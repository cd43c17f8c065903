"""TFLite export of the FER CNN: float16 and full-integer int8 files that agree with Keras,
run through TFLiteClassifier, are checked against the Keras accuracy and written atomically.

One tiny CNN following the ``models.fer_cnn`` contract (float32 pixels 0..255 in, softmax
over 7 out) is trained once per module on a toy set of seven textures it learns to ~98%,
so accuracy and agreement numbers mean something.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.fer import export as fer_export
from pipelines.fer.export import (
    ExportRecord,
    TFLiteClassifier,
    export_and_check,
    export_tflite,
    representative_sample,
)
from pipelines.fer.schema import EMOTIONS, FerDataset
from senim.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[3]
_INTEGER_DTYPES = {np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.int32)}


_ROWS, _COLS = np.mgrid[0:48, 0:48]


def _texture(label: int, phase: float) -> np.ndarray:
    r, c = _ROWS, _COLS
    if label == 0:
        return np.sin(2 * np.pi * r / 6 + phase)
    if label == 1:
        return np.sin(2 * np.pi * c / 6 + phase)
    if label == 2:
        return np.sin(2 * np.pi * (r + c) / 8 + phase)
    if label == 3:
        return np.sin(2 * np.pi * (r - c) / 8 + phase)
    if label == 4:
        return np.sign(np.sin(2 * np.pi * r / 8 + phase)) * np.sign(
            np.sin(2 * np.pi * c / 8 + phase)
        )
    if label == 5:
        return np.zeros((48, 48))
    return np.sin(2 * np.pi * r / 16 + phase)


def _toy_faces(n: int, seed: int, usage: str = "Training") -> FerDataset:
    """Seven textures, one per class (stripes of four orientations, a checkerboard, flat,
    wide stripes), at random phase, brightness and contrast, with pixel noise."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % len(EMOTIONS)).astype(np.uint8)
    rng.shuffle(y)
    x = np.empty((n, 48, 48), dtype=np.uint8)
    for i, label in enumerate(y):
        pattern = _texture(int(label), rng.uniform(0, 2 * np.pi))
        image = rng.uniform(70, 180) + rng.uniform(30, 55) * pattern
        image += rng.normal(0, 16, (48, 48))
        x[i] = np.clip(image, 0, 255).astype(np.uint8)
    return FerDataset(x, y, np.array([usage] * n), source=f"toy-{usage}")


@pytest.fixture(scope="module")
def toy() -> dict:
    import keras

    train, test = _toy_faces(700, seed=1), _toy_faces(280, seed=2, usage="PublicTest")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((48, 48, 1), dtype="float32"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(EMOTIONS), activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
    model.fit(train.x[..., None].astype("float32"), train.y, epochs=25, batch_size=32, verbose=0)
    proba = model.predict(test.x[..., None].astype("float32"), verbose=0)
    keras_accuracy = float(np.mean(proba.argmax(axis=1) == test.y))
    assert keras_accuracy >= 0.9, f"the toy model did not learn: accuracy {keras_accuracy}"
    return {
        "model": model,
        "train": train,
        "test": test,
        "proba": proba,
        "keras_accuracy": keras_accuracy,
        "representative": representative_sample(train, 200, seed=0),
    }


@pytest.fixture(scope="module")
def exported(toy, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tflite")
    return {
        kind: export_tflite(
            toy["model"], kind, folder / f"{kind}.tflite", representative=toy["representative"]
        )
        for kind in ("float16", "int8")
    }


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))


# --------------------------------------------------------------------------- exports


def test_given_trained_model_when_exported_float16_then_probabilities_match_keras(toy, exported):
    classifier = TFLiteClassifier(exported["float16"])
    proba = classifier.predict_proba(toy["test"].x)

    assert proba.shape == (len(toy["test"]), len(EMOTIONS))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert _agreement(proba, toy["proba"]) >= 0.99
    np.testing.assert_allclose(proba, toy["proba"], atol=0.01)
    assert classifier.input_dtype == np.float32 and not classifier.quantized


def test_given_float16_export_when_inspected_then_weights_are_float16(exported):
    interpreter = fer_export._make_interpreter(exported["float16"].read_bytes())
    dtypes = {np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    assert np.dtype(np.float16) in dtypes


def test_given_representative_images_when_exported_int8_then_agrees_with_keras(toy, exported):
    classifier = TFLiteClassifier(exported["int8"])
    proba = classifier.predict_proba(toy["test"].x)

    assert proba.shape == (len(toy["test"]), len(EMOTIONS))
    # Each of the 7 outputs is rounded to 1/256, so a row may sum up to 7/512 off 1.
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=0.03)
    assert _agreement(proba, toy["proba"]) >= 0.95
    np.testing.assert_allclose(proba, toy["proba"], atol=0.15)


def test_given_int8_export_when_inspected_then_integer_io_and_no_float_tensors(exported):
    interpreter = fer_export._make_interpreter(exported["int8"].read_bytes())
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()

    # uint8 in, calibrated to 0..255 with scale 1: raw camera pixels are the input as is.
    assert np.dtype(inp["dtype"]) == np.uint8 and inp["quantization"] == (1.0, 0)
    assert np.dtype(out["dtype"]) == np.uint8 and out["quantization"] == (1 / 256, 0)
    # Integer-only runtimes: no float tensor anywhere, not even at the edges (the edges are
    # integer QUANTIZE ops uint8 <-> int8).
    floats = [
        t["name"]
        for t in interpreter.get_tensor_details()
        if np.dtype(t["dtype"]) not in _INTEGER_DTYPES
    ]
    assert floats == []


def test_given_int8_without_representative_when_exported_then_value_error(toy, tmp_path):
    target = tmp_path / "int8.tflite"
    with pytest.raises(ValueError, match="representative"):
        export_tflite(toy["model"], "int8", target)
    assert not target.exists()


@pytest.mark.parametrize(
    "representative",
    [
        np.zeros((4, 48, 48), np.float32),
        np.zeros((4, 64, 64), np.uint8),
        np.zeros((0, 48, 48), np.uint8),
    ],
    ids=["float", "wrong-size", "empty"],
)
def test_given_bad_representative_when_exported_int8_then_data_error(toy, tmp_path, representative):
    with pytest.raises(DataError, match="representative"):
        export_tflite(toy["model"], "int8", tmp_path / "m.tflite", representative=representative)


def test_given_unknown_kind_when_exported_then_value_error(toy, tmp_path):
    with pytest.raises(ValueError, match="float16, int8"):
        export_tflite(toy["model"], "int4", tmp_path / "m.tflite")


def test_given_replace_fails_when_exported_then_no_temp_file_and_old_file_kept(
    toy, tmp_path, monkeypatch
):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"previous export")

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        export_tflite(toy["model"], "float16", target)

    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


# --------------------------------------------------------------------------- classifier


def test_given_any_batch_size_when_predicted_then_same_as_one_by_one(toy, exported):
    for path in exported.values():
        classifier = TFLiteClassifier(path, batch_size=8)
        images = toy["test"].x[:19]  # two full chunks and a padded one
        batched = classifier.predict_proba(images)
        single = np.concatenate([classifier.predict_proba(image[None]) for image in images])
        np.testing.assert_array_equal(batched, single)
        assert classifier.predict_proba(images[:0]).shape == (0, len(EMOTIONS))
        np.testing.assert_array_equal(classifier.predict(images), batched.argmax(axis=1))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 48, 48), np.float32), "uint8"),
        (np.zeros((2, 48, 48, 1), np.uint8), r"shape \(N, 48, 48\)"),
        (np.zeros((48, 48), np.uint8), r"shape \(N, 48, 48\)"),
        ([[0] * 48] * 48, "uint8"),
    ],
    ids=["float", "channel-axis", "single-without-batch", "list"],
)
def test_given_bad_images_when_predicted_then_data_error(exported, images, message):
    with pytest.raises(DataError, match=message):
        TFLiteClassifier(exported["int8"]).predict_proba(images)


def test_given_file_that_is_not_tflite_when_loaded_then_data_error(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"not a flatbuffer")
    with pytest.raises(DataError, match="not a TFLite model"):
        TFLiteClassifier(path)
    with pytest.raises(DataError, match="cannot read"):
        TFLiteClassifier(tmp_path / "missing.tflite")


# --------------------------------------------------------------------------- checking


@pytest.mark.parametrize("kind", ["float16", "int8"])
def test_given_export_when_checked_then_record_matches_file_and_accuracy(toy, tmp_path, kind):
    record = export_and_check(
        toy["model"],
        kind,
        tmp_path / f"{kind}.tflite",
        evaluation=toy["test"],
        representative=toy["representative"],
        keras_accuracy=toy["keras_accuracy"],
    )

    content = record.path.read_bytes()
    assert record.kind == kind and record.path == tmp_path / f"{kind}.tflite"
    assert record.size_bytes == len(content) == record.path.stat().st_size
    assert record.sha256 == hashlib.sha256(content).hexdigest()
    expected = np.mean(TFLiteClassifier(record.path).predict(toy["test"].x) == toy["test"].y)
    assert record.accuracy == pytest.approx(expected)
    assert record.keras_accuracy == toy["keras_accuracy"]
    assert record.accepted is (toy["keras_accuracy"] - record.accuracy <= 0.01)
    if kind == "float16":  # float16 weights do not move this model's accuracy
        assert record.accepted and "within" in record.reason
    json.dumps(record.as_dict())


def test_given_export_losing_accuracy_when_checked_then_rejected_but_written(
    toy, tmp_path, monkeypatch
):
    monkeypatch.setattr(
        fer_export, "_accuracy", lambda classifier, evaluation: toy["keras_accuracy"] - 0.05
    )
    record = export_and_check(
        toy["model"],
        "int8",
        tmp_path / "int8.tflite",
        evaluation=toy["test"],
        representative=toy["representative"],
        keras_accuracy=toy["keras_accuracy"],
    )

    assert record.accepted is False
    assert "more than the 0.0100 allowed" in record.reason and "int8" in record.reason
    assert record.path.exists() and record.size_bytes == record.path.stat().st_size


def test_given_keras_accuracy_far_above_when_float16_checked_then_rejected(toy, tmp_path):
    record = export_and_check(
        toy["model"],
        "float16",
        tmp_path / "float16.tflite",
        evaluation=toy["test"],
        keras_accuracy=1.0,
        max_int8_drop=0.0,
    )
    assert record.accuracy < 1.0  # the toy model is ~98% accurate, not perfect
    assert record.accepted is False and "more than the 0.0000 allowed" in record.reason
    assert record.path.exists()


def test_given_export_runtime_cannot_run_when_checked_then_rejected_not_raised(
    toy, tmp_path, monkeypatch
):
    def broken(content, num_threads=None):
        raise ValueError("Model provided has model identifier 'xxxx'")

    monkeypatch.setattr(fer_export, "_make_interpreter", broken)
    record = export_and_check(
        toy["model"],
        "float16",
        tmp_path / "float16.tflite",
        evaluation=toy["test"],
        keras_accuracy=toy["keras_accuracy"],
    )
    assert record.accepted is False and math.isnan(record.accuracy)
    assert "does not run" in record.reason and record.path.exists()


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"evaluation": "empty"}, DataError, "evaluation set is empty"),
        ({"evaluation": "array"}, DataError, "must be a FerDataset"),
        ({"keras_accuracy": 1.5}, ValueError, "keras_accuracy must be in 0..1"),
        ({"keras_accuracy": float("nan")}, ValueError, "keras_accuracy"),
        ({"max_int8_drop": -0.1}, ValueError, "max_int8_drop"),
        ({"kind": "int4"}, ValueError, "export kind"),
        ({"representative": None}, ValueError, "representative"),
    ],
    ids=["empty", "not-dataset", "accuracy>1", "accuracy-nan", "negative-drop", "kind", "no-rep"],
)
def test_given_bad_inputs_when_checked_then_raises_and_writes_nothing(
    toy, tmp_path, changes, error, message
):
    arguments = {
        "kind": "int8",
        "evaluation": toy["test"],
        "representative": toy["representative"],
        "keras_accuracy": toy["keras_accuracy"],
    }
    arguments.update(changes)
    evaluation = arguments["evaluation"]
    if isinstance(evaluation, str):
        empty = toy["test"].where(np.zeros(len(toy["test"]), dtype=bool))
        arguments["evaluation"] = empty if evaluation == "empty" else toy["test"].x
    kind = arguments.pop("kind")
    with pytest.raises(error, match=message):
        export_and_check(toy["model"], kind, tmp_path / "m.tflite", **arguments)
    assert not (tmp_path / "m.tflite").exists()


# --------------------------------------------------------------------------- sampling


def _indexed_dataset(counts: list[int]) -> FerDataset:
    """Images that carry their row index in the first two pixels."""
    y = np.repeat(np.arange(len(counts)), counts).astype(np.uint8)
    np.random.default_rng(3).shuffle(y)
    x = np.zeros((len(y), 48, 48), dtype=np.uint8)
    x[:, 0, 0], x[:, 0, 1] = np.arange(len(y)) // 256, np.arange(len(y)) % 256
    return FerDataset(x, y, np.array(["Training"] * len(y)))


def _rows(images: np.ndarray) -> np.ndarray:
    return images[:, 0, 0].astype(int) * 256 + images[:, 0, 1]


def test_given_imbalanced_set_when_sampled_then_stratified_and_deterministic():
    dataset = _indexed_dataset([400, 6, 120, 700, 300, 250, 224])  # 2,000 images
    sample = representative_sample(dataset, 200, seed=7)

    rows = _rows(sample)
    assert sample.dtype == np.uint8 and sample.shape == (200, 48, 48)
    assert len(set(rows)) == 200 and np.all(np.diff(rows) > 0)  # distinct, in dataset order
    per_class = np.bincount(dataset.y[rows], minlength=len(EMOTIONS))
    expected = np.array([400, 6, 120, 700, 300, 250, 224]) / 2000 * 200
    assert np.all(np.abs(per_class - expected) <= 1) and per_class[1] >= 1
    np.testing.assert_array_equal(representative_sample(dataset, 200, seed=7), sample)
    assert not np.array_equal(_rows(representative_sample(dataset, 200, seed=8)), rows)


def test_given_rare_class_when_sampled_small_then_every_present_class_appears():
    dataset = _indexed_dataset([500, 1, 0, 500, 500, 500, 500])
    sample = representative_sample(dataset, 10, seed=0)
    labels = set(dataset.y[_rows(sample)].tolist())
    assert labels == {0, 1, 3, 4, 5, 6} and len(sample) == 10


def test_given_n_at_least_size_when_sampled_then_whole_set_and_bad_n_refused():
    dataset = _indexed_dataset([3, 3, 3, 3, 3, 3, 3])
    np.testing.assert_array_equal(representative_sample(dataset, 50, seed=0), dataset.x)
    assert len(representative_sample(dataset, 3, seed=0)) == 3
    with pytest.raises(ValueError, match="positive integer"):
        representative_sample(dataset, 0, seed=0)
    with pytest.raises(DataError, match="no images"):
        representative_sample(dataset.where(np.zeros(21, dtype=bool)), 5, seed=0)


# --------------------------------------------------------------------------- module


def test_given_module_when_imported_then_tensorflow_is_not():
    code = "import sys, pipelines.fer.export; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


def test_record_is_a_plain_dataclass():
    record = ExportRecord("int8", Path("m.tflite"), 1, "ab", 0.9, 0.91, True, "ok")
    assert record.as_dict()["path"] == "m.tflite"
