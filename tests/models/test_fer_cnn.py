"""The emotion CNNs: contract shapes, the paper's exact network, senim_cnn's size, seeds."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

from models.fer_cnn import (
    ARCHITECTURES,
    INPUT_SHAPE,
    NUM_CLASSES,
    build_model,
    paper_cnn,
    parameter_count,
    senim_cnn,
)
from pipelines.fer.schema import EMOTIONS, IMAGE_SIZE
from senim.config import FerTrainingProfile

REPO = Path(__file__).resolve().parents[2]

# senim_cnn's parameters (trainable + BatchNorm moving statistics), as its docstring states.
SENIM_PARAMS = {16: 303_575, 64: 4_823_879}


def _conv(kernel: int, channels_in: int, filters: int, *, bias: bool = True) -> int:
    return kernel * kernel * channels_in * filters + (filters if bias else 0)


def _dense(units_in: int, units: int, *, bias: bool = True) -> int:
    return units_in * units + (units if bias else 0)


def _pixels(value: float | None = None, *, batch: int = 2) -> np.ndarray:
    """A float32 batch of uint8-valued pixels: random, or all ``value``."""
    if value is not None:
        return np.full((batch, *INPUT_SHAPE), value, dtype=np.float32)
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(batch, *INPUT_SHAPE), dtype=np.uint8).astype(np.float32)


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(weight) for weight in model.get_weights()]


@pytest.fixture(scope="module")
def paper():
    return paper_cnn(seed=0)


@pytest.fixture(scope="module")
def senim16():
    return senim_cnn(width=16, seed=0)


@pytest.fixture(scope="module")
def senim64():
    return senim_cnn(width=64, seed=0)


def test_given_a_fresh_interpreter_when_importing_the_module_then_tensorflow_is_not_loaded():
    code = (
        "import sys; import models.fer_cnn; "
        "loaded = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_given_the_contract_then_constants_match_the_fer_schema_and_config():
    assert INPUT_SHAPE == (IMAGE_SIZE, IMAGE_SIZE, 1) == (48, 48, 1)
    assert NUM_CLASSES == len(EMOTIONS) == 7
    architecture = FerTrainingProfile.model_fields["architecture"].annotation
    assert set(typing.get_args(architecture)) == set(ARCHITECTURES)


@pytest.mark.parametrize("fixture", ["paper", "senim16"])
def test_given_each_model_when_predicting_raw_pixels_then_rows_are_seven_probabilities(
    fixture, request
):
    model = request.getfixturevalue(fixture)
    assert tuple(model.inputs[0].shape) == (None, *INPUT_SHAPE)
    assert model.inputs[0].dtype == "float32"

    probabilities = np.asarray(model(_pixels(), training=False))

    assert probabilities.shape == (2, NUM_CLASSES)
    assert probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_given_paper_cnn_then_its_layers_are_exactly_the_papers(paper):
    import keras

    model = paper
    layers = model.layers
    assert model.name == "paper_cnn"
    assert [type(layer) for layer in layers] == [
        keras.layers.Rescaling,
        keras.layers.Conv2D,
        keras.layers.MaxPooling2D,
        keras.layers.Conv2D,
        keras.layers.MaxPooling2D,
        keras.layers.Conv2D,
        keras.layers.MaxPooling2D,
        keras.layers.Flatten,
        keras.layers.Dense,
        keras.layers.Dropout,
        keras.layers.Dense,
    ]
    convs = [layer for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [64, 128, 256]
    assert all(tuple(conv.kernel_size) == (3, 3) for conv in convs)
    assert all(conv.padding == "valid" and conv.use_bias for conv in convs)
    assert all(conv.activation is keras.activations.relu for conv in convs)
    pools = [layer for layer in layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert all(tuple(pool.pool_size) == (2, 2) for pool in pools)
    hidden, dropout, output = layers[8], layers[9], layers[10]
    assert hidden.units == 512 and hidden.activation is keras.activations.relu
    assert dropout.rate == 0.5
    assert output.units == NUM_CLASSES and output.activation is keras.activations.softmax
    # 'valid' 3x3 convs and 2x2 pools: 48 -> 46 -> 23 -> 21 -> 10 -> 8 -> 4.
    assert tuple(layers[7].output.shape) == (None, 4 * 4 * 256)


def test_given_paper_cnn_then_parameter_count_is_the_hand_arithmetic(paper):
    flat = 4 * 4 * 256
    expected = (
        _conv(3, 1, 64)
        + _conv(3, 64, 128)
        + _conv(3, 128, 256)
        + _dense(flat, 512)
        + _dense(512, NUM_CLASSES)
    )
    assert expected == 2_470_919
    assert parameter_count(paper) == expected
    assert "2,470,919" in paper_cnn.__doc__


def _senim_expected(width: int) -> tuple[int, int]:
    """(all, trainable) parameters of senim_cnn by hand: bias-free convs/dense + BN."""
    filters = [width * 2**block for block in range(4)]
    convs = 0
    channels_in = 1
    for out in filters:
        convs += _conv(3, channels_in, out, bias=False) + _conv(3, out, out, bias=False)
        channels_in = out
    bn_channels = 2 * sum(filters) + 4 * width  # gamma, beta + moving mean, variance each
    dense = _dense(8 * width, 4 * width, bias=False) + _dense(4 * width, NUM_CLASSES)
    return convs + dense + 4 * bn_channels, convs + dense + 2 * bn_channels


@pytest.mark.parametrize("width", [16, 64])
def test_given_senim_cnn_at_width_16_and_64_then_parameter_counts_match_its_docstring(
    width, request
):
    model = request.getfixturevalue(f"senim{width}")
    total, trainable = _senim_expected(width)

    assert parameter_count(model) == total == SENIM_PARAMS[width]
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    doc = " ".join(senim_cnn.__doc__.split())
    assert re.search(rf"width {width}: {total:,} \({trainable:,} trainable\)", doc)


def test_given_parameter_count_then_it_includes_non_trainable_batchnorm_statistics(senim16):
    non_trainable = sum(int(np.prod(w.shape)) for w in senim16.non_trainable_weights)
    assert non_trainable > 0
    assert parameter_count(senim16) == senim16.count_params()


def test_given_senim_cnn_then_it_is_vgg_blocks_with_batchnorm_and_global_pooling(senim16):
    import keras

    layers = senim16.layers
    assert senim16.name == "senim_cnn"
    convs = [layer for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [16, 16, 32, 32, 64, 64, 128, 128]
    assert all(conv.padding == "same" and tuple(conv.kernel_size) == (3, 3) for conv in convs)
    assert all(isinstance(conv.kernel_initializer, keras.initializers.HeNormal) for conv in convs)
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == len(convs) + 1  # one after each conv and after the hidden dense
    pools = [layer for layer in layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [tuple(pool.output.shape[1:3]) for pool in pools] == [(24, 24), (12, 12), (6, 6), (3, 3)]
    assert any(isinstance(layer, keras.layers.GlobalAveragePooling2D) for layer in layers)
    assert not any(isinstance(layer, keras.layers.Flatten) for layer in layers)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in layers)
    # Pure inference: no augmentation layers inside the model.
    assert not any(type(layer).__name__.startswith("Random") for layer in layers)
    assert layers[-1].units == NUM_CLASSES and layers[-1].activation is keras.activations.softmax


def test_given_a_mixed_precision_policy_when_building_then_probabilities_stay_float32():
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = senim_cnn(width=4)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.outputs[0].dtype == "float32"


def test_given_each_architecture_name_when_building_then_it_dispatches(senim16):
    paper = build_model("paper_cnn", width=16, seed=0)  # paper_cnn ignores width
    senim = build_model("senim_cnn", width=16, seed=0)

    assert paper.name == "paper_cnn" and senim.name == "senim_cnn"
    assert parameter_count(paper) == 2_470_919
    assert parameter_count(senim) == SENIM_PARAMS[16]
    for built, direct in zip(_weights(senim), _weights(senim16), strict=True):
        np.testing.assert_array_equal(built, direct)


def test_given_an_unknown_architecture_when_building_then_error_names_the_known_ones():
    with pytest.raises(ValueError, match="resnet") as error:
        build_model("resnet")
    assert all(name in str(error.value) for name in ARCHITECTURES)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_given_a_seed_when_building_twice_then_same_seed_same_weights_and_other_seed_differs(
    architecture,
):
    first = _weights(build_model(architecture, width=8, seed=3))
    again = _weights(build_model(architecture, width=8, seed=3))
    other = _weights(build_model(architecture, width=8, seed=4))

    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    kernels = [(a, b) for a, b in zip(first, other, strict=True) if a.ndim > 1]
    assert kernels and all(not np.array_equal(a, b) for a, b in kernels)
    # Per-layer seeds: same-shaped kernels within one model are not copies of each other.
    shapes: dict[tuple[int, ...], np.ndarray] = {}
    for weight in (w for w in first if w.ndim > 1):
        if weight.shape in shapes:
            assert not np.array_equal(weight, shapes[weight.shape])
        shapes[weight.shape] = weight


@pytest.mark.parametrize("fixture", ["paper", "senim16"])
def test_given_raw_pixels_when_the_first_layer_runs_then_255_becomes_1(fixture, request):
    import keras

    model = request.getfixturevalue(fixture)
    rescale = model.layers[0]
    assert isinstance(rescale, keras.layers.Rescaling)
    np.testing.assert_allclose(np.asarray(rescale(_pixels(255.0))), 1.0, rtol=1e-6)

    # The model fed 255s equals its layers after the rescaling fed 1s ...
    unscaled = _pixels(1.0)
    for layer in model.layers[1:]:
        unscaled = layer(unscaled, training=False)
    white = np.asarray(model(_pixels(255.0), training=False))
    np.testing.assert_allclose(white, np.asarray(unscaled), rtol=1e-5, atol=1e-6)
    # ... and differs from the model fed 1s, which it rescales to 1/255.
    assert not np.allclose(white, np.asarray(model(_pixels(1.0), training=False)), atol=1e-6)
