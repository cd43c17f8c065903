"""The two facial-emotion CNNs: the source paper's network and Senim's improved design.

Both take raw FER2013 pixels, float32 0..255 of shape (batch, 48, 48, 1), and rescale
them in their first layer, so training, evaluation and every export feed pixels as they
are stored. Both end in a float32 softmax over the seven ``pipelines.fer.schema.EMOTIONS``.
Models come back uncompiled: training chooses the optimiser, loss and metrics.

Both are ``keras.Sequential`` (the input named "pixels"), so ``model.layers[0]`` is the
Rescaling. Keras 3 gives a Sequential no ``.input``/``.output`` until it is called on a
symbolic tensor: use ``model.inputs[0]``/``model.outputs[0]``, or a layer's ``.output``.

Keras (and with it TensorFlow, ~10 s to import) is imported inside the builders only, so
importing this module costs nothing and has no side effects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

INPUT_SHAPE: tuple[int, int, int] = (48, 48, 1)
NUM_CLASSES = 7
ARCHITECTURES: tuple[str, ...] = ("paper_cnn", "senim_cnn")

# senim_cnn: dropout before the classifier only. Dropout after every convolution block
# (0.1 to 0.4, as earlier versions had) kept the network from learning FER2013 at all:
# 16-25% training accuracy after 3 epochs on 8,000 real images, against 41% without it
# (docs/BENCHMARKS.md, FER section). BatchNorm and augmentation regularise the blocks.
_HEAD_DROPOUT = 0.5


def _layer_seeds(seed: int) -> Iterator[int]:
    """Distinct per-layer seeds from one model seed.

    A Keras 3 initializer given an integer seed draws the same values on every call, so
    reusing one seed for every layer would give same-shaped layers identical weights.
    """
    sequence = np.random.SeedSequence(seed)
    while True:
        yield from (int(value) for value in sequence.generate_state(16))
        sequence = sequence.spawn(1)[0]


def _pixels_input() -> keras.KerasTensor:
    import keras

    return keras.Input(shape=INPUT_SHAPE, dtype="float32", name="pixels")


def paper_cnn(seed: int = 0) -> keras.Model:
    """The source paper's network, layer for layer.

    Conv2D 3x3 64 ReLU -> MaxPool 2x2 -> Conv2D 3x3 128 ReLU -> MaxPool 2x2 ->
    Conv2D 3x3 256 ReLU -> MaxPool 2x2 -> Flatten -> Dense 512 ReLU -> Dropout 0.5 ->
    Dense 7 softmax, after a Rescaling(1/255) of the raw pixels.

    The paper gives no padding, so the convolutions use Keras' default ('valid'), as the
    paper's Keras code would: 48 -> 46 -> 23 -> 21 -> 10 -> 8 -> 4, so Flatten gives
    4*4*256 = 4,096 features. Initialisation is Keras' default (Glorot uniform), seeded.

    Parameters: 640 + 73,856 + 295,168 (convolutions) + 2,097,664 (Dense 512) + 3,591
    (Dense 7) = 2,470,919, all trainable.
    """
    import keras
    from keras import layers

    seeds = _layer_seeds(seed)

    def glorot() -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=next(seeds))

    return keras.Sequential(
        [
            _pixels_input(),
            layers.Rescaling(1.0 / 255, name="rescale"),
            layers.Conv2D(64, 3, activation="relu", kernel_initializer=glorot(), name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(128, 3, activation="relu", kernel_initializer=glorot(), name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(256, 3, activation="relu", kernel_initializer=glorot(), name="conv3"),
            layers.MaxPooling2D(2, name="pool3"),
            layers.Flatten(name="flatten"),
            layers.Dense(512, activation="relu", kernel_initializer=glorot(), name="dense"),
            layers.Dropout(0.5, seed=next(seeds), name="dropout"),
            layers.Dense(
                NUM_CLASSES,
                activation="softmax",
                kernel_initializer=glorot(),
                dtype="float32",
                name="emotion",
            ),
        ],
        name="paper_cnn",
    )


def senim_cnn(width: int = 64, seed: int = 0) -> keras.Model:
    """Senim's design: a VGG-style network sized for FER2013 and for edge hosts.

    Four blocks of [Conv2D 3x3 'same' -> BatchNorm -> ReLU] x 2 -> MaxPool 2x2, with
    width, 2*width, 4*width and 8*width filters (48 -> 24 -> 12 -> 6 -> 3),
    then GlobalAveragePooling -> Dense 4*width -> BatchNorm -> ReLU -> Dropout 0.5 ->
    Dense 7 softmax (float32), after a Rescaling(1/255) of the raw pixels.

    Global average pooling instead of Flatten keeps the head small (the paper's Dense 512
    alone holds 85% of its weights). Only ops TFLite quantises well to int8 are used:
    convolutions and dense layers carry no bias because the BatchNorm after each folds
    into them at conversion; no augmentation layers (the data pipeline augments, so the
    exported model is pure inference). Kernels are He-normal, seeded.

    Parameters (trainable + BatchNorm moving statistics):
    width 64: 4,823,879 (4,819,527 trainable); width 16: 303,575 (302,487 trainable).
    """
    import keras
    from keras import layers

    if width < 1:
        raise ValueError(f"width must be a positive number of filters, got {width}")
    seeds = _layer_seeds(seed)

    def he() -> keras.initializers.Initializer:
        return keras.initializers.HeNormal(seed=next(seeds))

    stack: list[keras.layers.Layer | keras.KerasTensor] = [
        _pixels_input(),
        layers.Rescaling(1.0 / 255, name="rescale"),
    ]
    for block in range(1, 5):
        filters = width * 2 ** (block - 1)
        for conv in (1, 2):
            name = f"block{block}_conv{conv}"
            stack += [
                layers.Conv2D(
                    filters,
                    3,
                    padding="same",
                    use_bias=False,
                    kernel_initializer=he(),
                    name=name,
                ),
                layers.BatchNormalization(name=f"{name}_bn"),
                layers.ReLU(name=f"{name}_relu"),
            ]
        stack.append(layers.MaxPooling2D(2, name=f"block{block}_pool"))
    stack += [
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(4 * width, use_bias=False, kernel_initializer=he(), name="dense"),
        layers.BatchNormalization(name="dense_bn"),
        layers.ReLU(name="dense_relu"),
        layers.Dropout(_HEAD_DROPOUT, seed=next(seeds), name="dense_dropout"),
        layers.Dense(
            NUM_CLASSES,
            activation="softmax",
            kernel_initializer=he(),
            dtype="float32",
            name="emotion",
        ),
    ]
    return keras.Sequential(stack, name="senim_cnn")


def build_model(architecture: str, *, width: int = 64, seed: int = 0) -> keras.Model:
    """The named architecture (``FerTrainingProfile.architecture``); ``width`` is
    senim_cnn's first-block filter count and is ignored by paper_cnn."""
    if architecture == "paper_cnn":
        return paper_cnn(seed=seed)
    if architecture == "senim_cnn":
        return senim_cnn(width=width, seed=seed)
    raise ValueError(
        f"unknown architecture {architecture!r}: expected one of {', '.join(ARCHITECTURES)}"
    )


def parameter_count(model: keras.Model) -> int:
    """Every weight of ``model``, trainable and non-trainable (BatchNorm statistics)."""
    return int(sum(int(np.prod(weight.shape)) for weight in model.weights))
