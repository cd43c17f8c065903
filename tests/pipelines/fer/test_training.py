"""Training the emotion CNN: recipe, data pipeline, determinism, early stopping, TTA.

The models here are tiny ones defined in this file (``models.fer_cnn`` is not needed), and
every run is a few dozen images for a few epochs, so the whole file takes seconds once
TensorFlow is imported.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pipelines.fer import training
from pipelines.fer.schema import EMOTIONS, FerDataset
from pipelines.fer.training import (
    HISTORY_KEYS,
    PAPER_BATCH_SIZE,
    PAPER_LEARNING_RATE,
    class_weights,
    fit_settings,
    predict_proba,
    stratified_subset,
    train_fer_model,
)
from senim.config import FerTrainingProfile
from senim.errors import DataError

# Where class k's bright square sits (top-left corner) on the 48x48 canvas.
POSITIONS = ((4, 4), (4, 20), (4, 36), (20, 4), (20, 36), (36, 4), (36, 20))


def _dataset(x: np.ndarray, y: np.ndarray, usage: str = "Training") -> FerDataset:
    return FerDataset(x.astype(np.uint8), y.astype(np.uint8), np.full(len(y), usage), source="test")


def _random_faces(per_class: int, seed: int, usage: str = "Training") -> FerDataset:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(7), per_class)
    x = rng.integers(0, 256, size=(len(y), 48, 48))
    return _dataset(x, y, usage)


def _squares(per_class: int, seed: int, usage: str = "Training") -> FerDataset:
    """Class k is a bright 8x8 square at POSITIONS[k] on a dark noisy background."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(7), per_class)
    x = rng.integers(0, 40, size=(len(y), 48, 48))
    for i, k in enumerate(y):
        row, col = POSITIONS[k]
        x[i, row : row + 8, col : col + 8] = rng.integers(200, 256, size=(8, 8))
    return _dataset(x, y, usage)


def _conv_build(architecture: str, *, width: int = 4, seed: int = 0):
    """Rescaling -> Conv2D(4) -> global average pooling -> softmax over 7."""
    import keras

    return keras.Sequential(
        [
            keras.Input((48, 48, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(7, activation="softmax"),
        ]
    )


def _position_build(architecture: str, *, width: int = 4, seed: int = 0):
    """Sees where bright pixels are (no pooling over position), and is not flip-invariant."""
    import keras

    return keras.Sequential(
        [
            keras.Input((48, 48, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.AveragePooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(7, activation="softmax"),
        ]
    )


def _profile(**overrides) -> FerTrainingProfile:
    values = dict(
        architecture="senim_cnn",
        width=4,
        epochs=2,
        batch_size=16,
        learning_rate=1e-3,
        lr_schedule="constant",
        max_train_images=None,
        augmentation=False,
        label_smoothing=0.0,
        class_weights=False,
        early_stopping_patience=None,
        baseline_epochs=1,
    )
    values.update(overrides)
    return FerTrainingProfile(**values)


FULL_RECIPE = _profile(
    lr_schedule="cosine",
    max_train_images=35,
    augmentation=True,
    label_smoothing=0.1,
    class_weights=True,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run through every option at once: subset, augmentation, weights, cosine rate."""
    log_dir = tmp_path_factory.mktemp("fer-log")
    result = train_fer_model(
        _random_faces(6, seed=1),
        _random_faces(2, seed=2, usage="PublicTest"),
        FULL_RECIPE,
        seed=3,
        build=_conv_build,
        log_dir=log_dir,
    )
    return result, log_dir


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_weights()]


# --- the training run --------------------------------------------------------------------


def test_given_a_full_recipe_when_trained_then_the_model_predicts_probability_rows(trained):
    result, _ = trained
    x = _random_faces(3, seed=9).x

    proba = predict_proba(result.model, x)

    assert proba.shape == (21, 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert result.device == "CPU"
    assert result.architecture == "senim_cnn"
    assert result.seconds > 0


def test_given_a_run_when_it_ends_then_history_has_one_entry_per_epoch_for_each_key(trained):
    result, log_dir = trained

    assert result.epochs_run == 2
    assert set(result.history) == set(HISTORY_KEYS)
    for key in HISTORY_KEYS:
        assert len(result.history[key]) == result.epochs_run, key
        assert np.all(np.isfinite(result.history[key])), key
    assert result.best_epoch == result.epochs_run  # no early stopping: the last epoch
    with open(log_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {"loss", "val_accuracy", "lr"} <= set(rows[0])


def test_given_cosine_schedule_when_trained_then_the_rate_decays_from_the_profile_rate(trained):
    result, _ = trained

    assert result.history["lr"][0] == pytest.approx(FULL_RECIPE.learning_rate)
    assert result.history["lr"][1] < result.history["lr"][0]


def test_given_max_train_images_when_trained_then_that_many_images_are_used(trained):
    result, _ = trained

    assert result.train_images == 35
    assert any("subset of 35 of 42" in note for note in result.notes)


def test_given_the_same_seed_when_trained_twice_then_the_weights_are_identical(trained):
    # Op determinism is on for CPU and augmentation is seeded and sequential: bit-identical.
    first, _ = trained
    again = train_fer_model(
        _random_faces(6, seed=1),
        _random_faces(2, seed=2, usage="PublicTest"),
        FULL_RECIPE,
        seed=3,
        build=_conv_build,
    )
    other_seed = train_fer_model(
        _random_faces(6, seed=1), None, FULL_RECIPE, seed=4, build=_conv_build
    )

    for a, b in zip(_weights(first.model), _weights(again.model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.history == again.history
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(_weights(first.model), _weights(other_seed.model), strict=True)
    )


def test_given_no_validation_set_when_trained_then_validation_history_is_nan():
    result = train_fer_model(
        _random_faces(2, seed=5), None, _profile(epochs=1), seed=0, build=_conv_build
    )

    assert result.epochs_run == 1
    assert np.isnan(result.history["val_accuracy"]).all()
    assert np.isfinite(result.history["loss"]).all()


def test_given_a_built_model_when_passed_then_it_is_the_one_trained():
    import keras

    keras.utils.set_random_seed(0)
    model = _conv_build("senim_cnn")

    result = train_fer_model(
        _random_faces(2, seed=5), None, _profile(epochs=1), seed=0, model=model
    )

    assert result.model is model


# --- learning something real -------------------------------------------------------------


def test_given_a_learnable_toy_problem_when_trained_then_accuracy_is_high():
    # Guards the wiring of images to labels: a shuffled label or a lost pixel fails this.
    profile = _profile(epochs=4, batch_size=8, learning_rate=0.02, class_weights=True)
    result = train_fer_model(
        _squares(10, seed=1),
        _squares(4, seed=2, usage="PublicTest"),
        profile,
        seed=0,
        build=_position_build,
    )
    test = _squares(5, seed=3, usage="PrivateTest")

    accuracy = float((predict_proba(result.model, test.x).argmax(axis=1) == test.y).mean())

    assert accuracy >= 0.9
    assert result.history["val_accuracy"][-1] >= 0.9


def test_given_validation_that_cannot_improve_when_trained_then_it_stops_early_at_best():
    # Validation labels are shifted by one class: as the model learns the true mapping its
    # validation accuracy can only fall, so patience 1 stops it and restores the best epoch.
    train = _squares(10, seed=1)
    shifted = _squares(4, seed=2, usage="PublicTest")
    validation = _dataset(shifted.x, (shifted.y + 1) % 7, "PublicTest")
    profile = _profile(epochs=5, batch_size=8, learning_rate=0.02, early_stopping_patience=1)

    result = train_fer_model(train, validation, profile, seed=0, build=_position_build)

    assert result.epochs_run < 5
    assert result.best_epoch < result.epochs_run
    best = result.best_epoch - 1
    proba = predict_proba(result.model, validation.x)
    accuracy = float((proba.argmax(axis=1) == validation.y).mean())
    loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(proba)), validation.y], 1e-7, 1))))
    assert accuracy == pytest.approx(result.history["val_accuracy"][best])
    assert loss == pytest.approx(result.history["val_loss"][best], rel=1e-4)
    assert loss != pytest.approx(result.history["val_loss"][-1], rel=1e-4)


def test_given_plateau_schedule_when_validation_stalls_then_the_rate_is_halved():
    # Patience 2 for early stopping gives the plateau schedule a patience of 1.
    train = _squares(4, seed=1)
    shifted = _squares(2, seed=2, usage="PublicTest")
    validation = _dataset(shifted.x, (shifted.y + 1) % 7, "PublicTest")
    profile = _profile(
        epochs=3, learning_rate=0.02, lr_schedule="plateau", early_stopping_patience=2
    )

    result = train_fer_model(train, validation, profile, seed=0, build=_position_build)

    assert result.history["lr"] == pytest.approx([0.02, 0.02, 0.01])


# --- the paper recipe --------------------------------------------------------------------


def test_given_the_paper_cnn_when_settings_are_made_then_the_paper_recipe_is_used():
    profile = _profile(
        epochs=60,
        batch_size=32,
        learning_rate=0.01,
        lr_schedule="cosine",
        augmentation=True,
        label_smoothing=0.1,
        class_weights=True,
        early_stopping_patience=5,
        baseline_epochs=20,
        max_train_images=500,
        optimizer="sgd",
        weight_decay=5e-4,
    )

    paper = fit_settings(profile, "paper_cnn")
    ours = fit_settings(profile, "senim_cnn")

    assert paper.learning_rate == PAPER_LEARNING_RATE == 0.001
    assert paper.batch_size == PAPER_BATCH_SIZE == 64
    assert paper.lr_schedule == "constant"
    assert (paper.optimizer, paper.weight_decay) == ("adam", 0.0)
    assert (ours.optimizer, ours.weight_decay) == ("sgd", 5e-4)
    assert paper.label_smoothing == 0.0
    assert paper.augmentation is False
    assert paper.class_weights is False
    assert paper.early_stopping_patience is None
    assert paper.epochs == 20
    assert fit_settings(profile, "paper_cnn", epochs=3).epochs == 3
    assert paper.max_train_images == 500  # the same images as the model it is compared with
    assert (ours.learning_rate, ours.batch_size, ours.lr_schedule) == (0.01, 32, "cosine")
    assert (ours.label_smoothing, ours.augmentation, ours.class_weights) == (0.1, True, True)
    assert (ours.early_stopping_patience, ours.epochs) == (5, 60)
    assert fit_settings(profile).architecture == "senim_cnn"


def test_given_the_paper_cnn_when_trained_then_it_runs_all_epochs_at_the_default_rate():
    train = _squares(4, seed=1)
    shifted = _squares(2, seed=2, usage="PublicTest")
    validation = _dataset(shifted.x, (shifted.y + 1) % 7, "PublicTest")
    profile = _profile(
        learning_rate=0.05, lr_schedule="cosine", early_stopping_patience=1, augmentation=True
    )

    result = train_fer_model(
        train,
        validation,
        profile,
        seed=0,
        build=_position_build,
        architecture="paper_cnn",
        epochs=3,
    )

    assert result.architecture == "paper_cnn"
    assert result.epochs_run == 3  # no early stopping, however validation goes
    assert result.best_epoch == 3
    assert result.history["lr"] == pytest.approx([PAPER_LEARNING_RATE] * 3)


def test_given_the_sgd_recipe_when_trained_then_nesterov_sgd_with_decay_fits_the_model():
    train = _squares(4, seed=1)
    profile = _profile(optimizer="sgd", weight_decay=5e-4, learning_rate=0.05, epochs=1)

    result = train_fer_model(train, None, profile, seed=0, build=_position_build)

    optimizer = result.model.optimizer
    assert type(optimizer).__name__ == "SGD"
    assert optimizer.nesterov is True
    assert optimizer.momentum == pytest.approx(0.9)
    assert optimizer.weight_decay == pytest.approx(5e-4)
    assert int(optimizer.iterations) > 0


def test_given_the_adam_recipe_without_decay_when_trained_then_adam_has_no_weight_decay():
    train = _squares(4, seed=1)

    result = train_fer_model(train, None, _profile(epochs=1), seed=0, build=_position_build)

    assert type(result.model.optimizer).__name__ == "Adam"
    assert result.model.optimizer.weight_decay is None


def test_given_zero_epochs_when_settings_are_made_then_value_error():
    with pytest.raises(ValueError, match="epochs"):
        fit_settings(_profile(baseline_epochs=0), "paper_cnn")


# --- inputs that cannot be trained on ------------------------------------------------------


def test_given_an_empty_training_set_when_trained_then_data_error():
    empty = _dataset(np.zeros((0, 48, 48)), np.zeros(0))

    with pytest.raises(DataError, match="no images"):
        train_fer_model(empty, None, _profile(), seed=0, build=_conv_build)


def test_given_a_class_missing_from_training_when_trained_then_data_error_names_it():
    faces = _random_faces(2, seed=0)
    without_disgust = faces.where(faces.y != 1)

    with pytest.raises(DataError, match="Disgust"):
        train_fer_model(without_disgust, None, _profile(), seed=0, build=_conv_build)


def test_given_an_empty_validation_set_when_trained_then_data_error():
    empty = _dataset(np.zeros((0, 48, 48)), np.zeros(0), "PublicTest")

    with pytest.raises(DataError, match="validation"):
        train_fer_model(_random_faces(1, seed=0), empty, _profile(), seed=0, build=_conv_build)


# --- the stratified subset and class weights -------------------------------------------


def _imbalanced() -> FerDataset:
    counts = [50, 3, 40, 100, 30, 20, 57]
    y = np.repeat(np.arange(7), counts)
    x = np.random.default_rng(0).integers(0, 256, size=(len(y), 48, 48))
    return _dataset(x, y)


def test_given_an_imbalanced_set_when_subset_then_size_and_every_class_are_kept():
    data = _imbalanced()

    subset = stratified_subset(data, 30, seed=1)

    assert len(subset) == 30
    counts = np.bincount(subset.y, minlength=7)
    assert (counts >= 1).all()
    expected = np.bincount(data.y, minlength=7) * 30 / len(data)
    assert np.all(np.abs(counts - expected) <= 1)


def test_given_a_seed_when_subset_twice_then_the_same_rows_and_another_seed_differs():
    data = _imbalanced()

    a = stratified_subset(data, 30, seed=1)
    b = stratified_subset(data, 30, seed=1)
    c = stratified_subset(data, 30, seed=2)

    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


def test_given_no_limit_or_a_large_one_when_subset_then_the_whole_set():
    data = _imbalanced()

    assert stratified_subset(data, None, seed=0) is data
    assert stratified_subset(data, 10_000, seed=0) is data


def test_given_a_limit_below_the_class_count_when_subset_then_it_still_keeps_every_class():
    data = _imbalanced()

    subset = stratified_subset(data, 7, seed=0)

    assert np.bincount(subset.y, minlength=7).tolist() == [1] * 7


def test_given_class_counts_when_weighted_then_inverse_frequency_with_mean_one():
    counts = np.array([10, 1, 10, 40, 20, 5, 14])
    y = np.repeat(np.arange(7), counts)

    weights = class_weights(y)

    inverse = 1 / counts
    expected = inverse / inverse.mean()
    assert list(weights) == list(range(7))
    np.testing.assert_allclose([weights[k] for k in range(7)], expected)
    assert np.mean(list(weights.values())) == pytest.approx(1.0)
    assert max(weights, key=weights.get) == EMOTIONS.index("Disgust")
    assert weights[3] == pytest.approx(weights[0] / 4)


def test_given_balanced_classes_when_weighted_then_all_weights_are_one():
    weights = class_weights(np.repeat(np.arange(7), 5))

    assert list(weights.values()) == pytest.approx([1.0] * 7)


def test_given_a_missing_class_when_weighted_then_data_error():
    with pytest.raises(DataError, match="Fear"):
        class_weights(np.array([0, 1, 3, 4, 5, 6]))


# --- predict_proba -----------------------------------------------------------------------


def test_given_tta_when_predicting_then_it_averages_the_mirror_image_predictions():
    import keras

    keras.utils.set_random_seed(11)
    model = _position_build("senim_cnn")
    x = _squares(2, seed=4).x
    plain = model.predict(x.astype(np.float32)[..., None], verbose=0)
    mirrored = model.predict(x[:, :, ::-1].astype(np.float32)[..., None], verbose=0)

    without = predict_proba(model, x, batch_size=5)
    with_tta = predict_proba(model, x, batch_size=5, tta=True)

    np.testing.assert_allclose(without, plain, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(with_tta, (plain + mirrored) / 2, rtol=1e-5, atol=1e-7)
    assert not np.allclose(with_tta, without)  # the model is not flip-invariant
    np.testing.assert_allclose(with_tta.sum(axis=1), 1.0, rtol=1e-5)


def test_given_wrong_image_shapes_when_predicting_then_value_error():
    with pytest.raises(ValueError, match="shape"):
        predict_proba(object(), np.zeros((3, 48, 47), dtype=np.uint8))


def test_given_no_images_when_predicting_then_an_empty_matrix():
    assert predict_proba(object(), np.zeros((0, 48, 48), dtype=np.uint8)).shape == (0, 7)


# --- mixed precision (the full profile, on a GPU) -----------------------------------------


def test_given_mixed_precision_on_a_cpu_without_bfloat16_when_trained_then_float32_and_a_note(
    monkeypatch,
):
    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: False)
    result = train_fer_model(
        _squares(3, seed=1), None, _profile(mixed_precision=True, epochs=1), seed=0,
        build=_conv_build,
    )  # fmt: skip

    assert any("trained in float32" in note for note in result.notes)
    assert all(layer.dtype_policy.name == "float32" for layer in result.model.layers)


def test_given_mixed_precision_on_a_cpu_with_bfloat16_when_trained_then_bfloat16_computes(
    monkeypatch,
):
    """bfloat16 is emulated where the CPU lacks the units (slowly, but correctly), so the
    path runs on any CPU: it trains under mixed_bfloat16 and hands back float32."""
    import keras

    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: True)
    seen: list[str] = []

    def spying_build(architecture, *, width=4, seed=0):
        model = _conv_build(architecture, width=width, seed=seed)
        seen.append(model.layers[1].dtype_policy.name)
        return model

    result = train_fer_model(
        _squares(3, seed=1), None, _profile(mixed_precision=True, epochs=1), seed=0,
        build=spying_build,
    )  # fmt: skip

    assert seen == ["mixed_bfloat16", "float32"]
    assert keras.config.dtype_policy().name == "float32"
    assert any("bfloat16 compute" in note for note in result.notes)
    assert all(layer.dtype_policy.name == "float32" for layer in result.model.layers)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu avx2 avx512f avx512_bf16 sha_ni", True), ("fpu amx_bf16 amx_tile", True),
     ("fpu avx2 avx512f", False)],
)  # fmt: skip
def test_given_cpu_flags_when_asked_for_bfloat16_then_only_bf16_units_count(
    tmp_path, flags, expected
):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")

    assert training.cpu_has_bfloat16(cpuinfo) is expected


def test_given_no_cpuinfo_when_asked_for_bfloat16_then_no(tmp_path):
    assert training.cpu_has_bfloat16(tmp_path / "missing") is False


def test_given_mixed_precision_on_a_gpu_when_trained_then_float16_computes_and_float32_is_kept(
    monkeypatch,
):
    """A GPU stood in for (the mixed policy also runs on a CPU, slowly): the network trains
    under mixed_float16 with loss scaling, and comes back as a float32 copy with the same
    weights, so evaluation and the TFLite exports see a plain float32 model."""
    import keras
    import tensorflow as tf

    real = tf.config.list_physical_devices
    monkeypatch.setattr(
        tf.config,
        "list_physical_devices",
        lambda kind=None: ["GPU:0"] if kind == "GPU" else real(kind),
    )
    seen: list[str] = []

    def spying_build(architecture, *, width=4, seed=0):
        model = _conv_build(architecture, width=width, seed=seed)
        seen.append(model.layers[1].dtype_policy.name)
        return model

    result = train_fer_model(
        _squares(3, seed=1), None, _profile(mixed_precision=True, epochs=1), seed=0,
        build=spying_build, deterministic=False,
    )  # fmt: skip

    assert seen == ["mixed_float16", "float32"]  # trained mixed, handed back in float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert result.device == "GPU"
    assert any("mixed precision" in note for note in result.notes)
    assert all(layer.dtype_policy.name == "float32" for layer in result.model.layers)
    assert result.model.predict(np.zeros((1, 48, 48, 1), np.float32), verbose=0).dtype == np.float32
