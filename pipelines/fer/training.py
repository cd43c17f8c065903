"""Train the emotion CNN on a ``FerDataset``: seeded, class-balanced, augmented on the fly.

One function, ``train_fer_model``, trains either architecture of ``models.fer_cnn`` the way
a ``FerTrainingProfile`` says, except the paper baseline (``paper_cnn``), which is always
trained with the paper's own recipe so the comparison with it is fair: Adam at its default
learning rate 0.001, plain categorical cross-entropy, no class weights, no augmentation,
batch 64, a fixed number of epochs and no early stopping. What a run will use is decided
in one place, ``fit_settings``, so the recipe can be checked without training anything.

The data pipeline is ``tf.data``: the uint8 images are shuffled (seeded, reshuffled every
epoch), batched, cast to float32 ``(batch, 48, 48, 1)`` pixels 0..255 (the models rescale
internally), augmented on training batches only when the profile asks (random horizontal
flip, +-10% translation, +-10 degree rotation, +-10% zoom: Keras preprocessing layers run
inside ``dataset.map``, never inside the model, so an exported model carries none of
them) and prefetched. Labels go in one-hot, as ``CategoricalCrossentropy`` with label
smoothing needs; class weights go in as per-image sample weights.

Determinism: ``keras.utils.set_random_seed`` seeds Python, NumPy and TensorFlow, every
random layer gets a seed derived from ``seed``, the subset and shuffles are seeded, and
the augmentation map runs sequentially (parallel calls would draw from the layers' seed
state in a racy order). On CPU TensorFlow's op determinism is switched on as well, where it
costs next to nothing, so the same seed gives bit-identical weights. On a GPU it is left
off by default (it forces slower cuDNN algorithms); runs are then repeatable only up to
floating-point summation order. ``deterministic=True`` forces it on there too. Op
determinism is a process-wide TensorFlow setting: once on, it stays on.

TensorFlow and Keras are imported inside the functions: importing this module is cheap
and has no side effects.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.fer.schema import EMOTIONS, IMAGE_SIZE, FerDataset
from senim.config import FerTrainingProfile
from senim.errors import DataError

if TYPE_CHECKING:
    import keras

N_CLASSES = len(EMOTIONS)
PAPER_ARCHITECTURE = "paper_cnn"
# The paper's recipe: Adam's default learning rate, batch 64, nothing else added.
PAPER_LEARNING_RATE = 1e-3
PAPER_BATCH_SIZE = 64
HISTORY_KEYS: tuple[str, ...] = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
# Augmentation strengths: +-10% shift, +-10 degrees (as a fraction of a full turn), +-10% zoom.
TRANSLATION = 0.1
ROTATION = 10.0 / 360.0
ZOOM = 0.1
# ReduceLROnPlateau: halve the rate after this share of the early-stopping patience.
PLATEAU_FACTOR = 0.5
PLATEAU_MIN_LR_FRACTION = 0.01
SGD_MOMENTUM = 0.9

Build = Callable[..., "keras.Model"]


@dataclass(frozen=True)
class FitSettings:
    """Everything a training run does that is not the data or the model itself."""

    architecture: str
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str  # constant | cosine | plateau
    optimizer: str  # adam | sgd (Nesterov, momentum 0.9)
    weight_decay: float
    label_smoothing: float
    class_weights: bool
    augmentation: bool
    early_stopping_patience: int | None
    max_train_images: int | None
    mixed_precision: bool = False  # float16 on a GPU, bfloat16 on a CPU with BF16 units


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch, as the listeners of ``train_fer_model`` see it (1-based)."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float  # NaN without a validation set
    val_accuracy: float
    lr: float
    seconds: float  # this epoch's wall time, validation included


# A listener may also hear each batch: ``on_batch(epoch, batch, batches)``.
EpochListener = Callable[[EpochReport], None]
BatchListener = Callable[[int, int, int], None]


@dataclass
class TrainedModel:
    """A trained Keras model and how it got there.

    ``history`` has one float per epoch run under each of ``HISTORY_KEYS`` (``val_*`` are
    NaN when there was no validation set; ``lr`` is the rate the epoch started with).
    ``best_epoch`` (1-based) is the epoch whose weights ``model`` holds: the best on
    validation accuracy when early stopping restored them, else the last one.
    """

    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    seconds: float
    device: str  # "GPU" or "CPU"
    architecture: str
    settings: FitSettings | None = None
    train_images: int = 0
    notes: tuple[str, ...] = field(default=())


def fit_settings(
    profile: FerTrainingProfile, architecture: str | None = None, epochs: int | None = None
) -> FitSettings:
    """The recipe a run will use: the profile's, or the paper's for ``paper_cnn``.

    ``epochs`` overrides the count; left out it is ``profile.baseline_epochs`` for the
    paper baseline and ``profile.epochs`` otherwise. ``max_train_images`` is the data
    budget, not part of the recipe, so it applies to both (they train on the same images).
    """
    architecture = architecture or profile.architecture
    if architecture == PAPER_ARCHITECTURE:
        settings = FitSettings(
            architecture=architecture,
            epochs=profile.baseline_epochs if epochs is None else epochs,
            batch_size=PAPER_BATCH_SIZE,
            learning_rate=PAPER_LEARNING_RATE,
            lr_schedule="constant",
            optimizer="adam",
            weight_decay=0.0,
            label_smoothing=0.0,
            class_weights=False,
            augmentation=False,
            early_stopping_patience=None,
            max_train_images=profile.max_train_images,
        )
    else:
        settings = FitSettings(
            architecture=architecture,
            epochs=profile.epochs if epochs is None else epochs,
            batch_size=profile.batch_size,
            learning_rate=profile.learning_rate,
            lr_schedule=profile.lr_schedule,
            optimizer=profile.optimizer,
            weight_decay=profile.weight_decay,
            label_smoothing=profile.label_smoothing,
            class_weights=profile.class_weights,
            augmentation=profile.augmentation,
            early_stopping_patience=profile.early_stopping_patience,
            max_train_images=profile.max_train_images,
            mixed_precision=profile.mixed_precision,
        )
    if settings.epochs < 1:
        raise ValueError(f"{architecture}: epochs must be at least 1, got {settings.epochs}")
    return settings


def check_training_set(train: FerDataset) -> None:
    """DataError unless ``train`` has images of every one of the seven classes."""
    if len(train) == 0:
        raise DataError(f"{train.source}: the training set has no images")
    counts = np.bincount(train.y, minlength=N_CLASSES)
    missing = [EMOTIONS[k] for k in range(N_CLASSES) if counts[k] == 0]
    if missing:
        raise DataError(
            f"{train.source}: the training set has no images of {', '.join(missing)}; "
            "every emotion needs at least one"
        )


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Per-class weights inverse to class frequency, normalised so their mean is 1.

    ``w_k = (1 / n_k) / mean_j(1 / n_j)`` over the seven classes, so the rarest class gets
    the largest weight and a balanced set gets 1 everywhere. Every class must be present.
    """
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=N_CLASSES)
    if counts.size != N_CLASSES:
        raise ValueError(f"labels must be in 0..{N_CLASSES - 1}")
    missing = [EMOTIONS[k] for k in range(N_CLASSES) if counts[k] == 0]
    if missing:
        raise DataError(f"cannot weight classes with no images: {', '.join(missing)}")
    inverse = 1.0 / counts.astype(np.float64)
    weights = inverse / inverse.mean()
    return {k: float(weights[k]) for k in range(N_CLASSES)}


def stratified_subset(data: FerDataset, size: int | None, seed: int) -> FerDataset:
    """``size`` images keeping each class's share (largest remainder), at least one of each
    class present; the whole set when ``size`` is None or not smaller. Seeded; the rows
    keep their original order."""
    n = len(data)
    if size is None or size >= n:
        return data
    counts = np.bincount(data.y, minlength=N_CLASSES)
    present = np.flatnonzero(counts)
    if size < present.size:
        raise ValueError(
            f"a subset of {size} images cannot hold all {present.size} classes present"
        )
    exact = counts * (size / n)
    quota = np.floor(exact).astype(np.int64)
    quota[present] = np.maximum(quota[present], 1)
    # Hand out what is left by largest fractional part (ties: lower class code first) ...
    order = sorted(present, key=lambda k: (-(exact[k] - math.floor(exact[k])), k))
    position = 0
    while quota.sum() < size:
        k = order[position % len(order)]
        if quota[k] < counts[k]:
            quota[k] += 1
        position += 1
    # ... or, when the one-per-class floor overshot, take back from the largest quotas.
    while quota.sum() > size:
        k = int(np.argmax(np.where(quota > 1, quota, -1)))
        quota[k] -= 1
    rng = np.random.default_rng(seed)
    keep = np.zeros(n, dtype=bool)
    for k in present:
        rows = np.flatnonzero(data.y == k)
        keep[rng.choice(rows, size=int(quota[k]), replace=False)] = True
    return data.where(keep, note=f"class-stratified subset of {size} of {n} training images")


def train_fer_model(
    train: FerDataset,
    validation: FerDataset | None,
    profile: FerTrainingProfile,
    *,
    seed: int,
    model: keras.Model | None = None,
    build: Build | None = None,
    architecture: str | None = None,
    epochs: int | None = None,
    log_dir: Path | None = None,
    deterministic: bool | None = None,
    verbose: int = 0,
    on_epoch: EpochListener | None = None,
    on_batch: BatchListener | None = None,
) -> TrainedModel:
    """Train ``model`` (or a fresh ``build(architecture, width=, seed=)``, by default
    ``models.fer_cnn.build_model``) on ``train``, validating on ``validation``.

    ``architecture`` defaults to the profile's and picks the recipe (see ``fit_settings``);
    ``epochs`` overrides the profile's count (the caller passes ``baseline_epochs`` for the
    paper baseline). With a validation set, training stops early on validation accuracy
    (when the recipe has a patience) and the best epoch's weights are restored. The
    ``plateau`` schedule halves the rate when validation accuracy (training accuracy
    without a validation set) has not improved for half the early-stopping patience
    (5 epochs when there is none), down to 1% of the starting rate. With
    ``log_dir`` the per-epoch metrics are also written to ``log_dir/history.csv`` as they
    come. ``on_epoch`` hears every finished epoch (loss, accuracy, validation accuracy:
    a progress line, a live MLflow curve) and ``on_batch`` every batch. The model is
    compiled here, whatever state it came in.
    """
    started = time.perf_counter()
    settings = fit_settings(profile, architecture, epochs)
    check_training_set(train)
    if validation is not None and len(validation) == 0:
        raise DataError(f"{validation.source}: the validation set has no images (pass None)")

    import keras
    import tensorflow as tf

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    if deterministic is None:
        deterministic = device == "CPU"
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)

    subset = stratified_subset(train, settings.max_train_images, seed)
    notes = list(subset.notes)
    policy: str | None = None
    if model is None:
        if build is None:
            from models.fer_cnn import build_model

            build = build_model
        if settings.mixed_precision:
            policy = mixed_policy(device)
            if policy is None:
                notes.append(
                    "mixed precision needs a GPU or a CPU with bfloat16 units "
                    "(AVX512-BF16 or AMX): this CPU run trained in float32"
                )
        model = _built(build, settings.architecture, profile.width, seed, policy)
    _check_model(model)

    steps_per_epoch = math.ceil(len(subset) / settings.batch_size)
    weights = class_weights(subset.y) if settings.class_weights else None
    train_ds = _dataset(
        subset,
        batch_size=settings.batch_size,
        shuffle_seed=seed,
        weights=weights,
        augment_seed=seed if settings.augmentation else None,
        parallel=not deterministic,
    )
    val_ds = None
    if validation is not None:
        val_ds = _dataset(validation, batch_size=max(settings.batch_size, 256))

    model.compile(
        optimizer=_optimizer(settings, steps_per_epoch, keras),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=settings.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    recorder = _HistoryRecorder.make(keras, settings.epochs, steps_per_epoch, on_epoch, on_batch)
    callbacks: list[Any] = [recorder]
    monitor = "val_accuracy" if val_ds is not None else "accuracy"
    if settings.lr_schedule == "plateau":
        patience = max(1, (settings.early_stopping_patience or 10) // 2)
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                mode="max",
                factor=PLATEAU_FACTOR,
                patience=patience,
                min_lr=settings.learning_rate * PLATEAU_MIN_LR_FRACTION,
            )
        )
    stopper = None
    if val_ds is not None and settings.early_stopping_patience is not None:
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_accuracy",
            mode="max",
            patience=settings.early_stopping_patience,
            restore_best_weights=True,
        )
        callbacks.append(stopper)
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        callbacks.append(keras.callbacks.CSVLogger(str(Path(log_dir) / "history.csv")))

    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=settings.epochs,
        shuffle=False,  # the dataset shuffles itself, seeded
        callbacks=callbacks,
        verbose=verbose,
    )

    if policy is not None:  # evaluation and every export get the same weights in float32
        trained = model
        model = _built(build, settings.architecture, profile.width, seed, policy=None)
        model.set_weights(trained.get_weights())
        compute = "float16" if policy == "mixed_float16" else "bfloat16"
        notes.append(f"trained with mixed precision ({compute} compute) on the {device}")
    history = recorder.history
    epochs_run = len(history["loss"])
    best_epoch = epochs_run
    if stopper is not None and stopper.best_weights is not None:
        best_epoch = int(stopper.best_epoch) + 1
    return TrainedModel(
        model=model,
        history=history,
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        seconds=time.perf_counter() - started,
        device=device,
        architecture=settings.architecture,
        settings=settings,
        train_images=len(subset),
        notes=tuple(notes),
    )


def predict_proba(
    model: keras.Model, x: np.ndarray, *, batch_size: int = 256, tta: bool = False
) -> np.ndarray:
    """``(N, 7)`` class probabilities for uint8 images ``(N, 48, 48)``.

    With ``tta`` the prediction is the mean of those for the images and their mirror
    images (flipped left to right), a cheap test-time augmentation.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"images must have shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got {x.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if len(x) == 0:
        return np.zeros((0, N_CLASSES), dtype=np.float32)
    pixels = x.astype(np.float32)[..., np.newaxis]
    proba = np.asarray(model.predict(pixels, batch_size=batch_size, verbose=0))
    if tta:
        mirrored = np.ascontiguousarray(pixels[:, :, ::-1, :])
        proba = (proba + np.asarray(model.predict(mirrored, batch_size=batch_size, verbose=0))) / 2
    if proba.shape != (len(x), N_CLASSES):
        raise ValueError(f"the model returned shape {proba.shape}, expected ({len(x)}, 7)")
    return proba


def mixed_policy(device: str) -> str | None:
    """The Keras mixed policy that pays on ``device``: ``mixed_float16`` on a GPU,
    ``mixed_bfloat16`` on a CPU with bfloat16 units (measured on AVX512-BF16: a training
    step 25% shorter, docs/BENCHMARKS.md), none elsewhere (emulated bfloat16 is slower)."""
    if device == "GPU":
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bfloat16() else None


def cpu_has_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU advertises bfloat16 arithmetic (Linux; False where unknown)."""
    try:
        flags = cpuinfo.read_text(errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _built(build: Build, architecture: str, width: int, seed: int, policy: str | None) -> Any:
    """``build(...)`` under the Keras dtype ``policy`` (layers keep the policy they were
    made with; the softmax layer is float32 either way), in float32 when it is None."""
    import keras

    if policy is None:
        return build(architecture, width=width, seed=seed)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        return build(architecture, width=width, seed=seed)
    finally:
        keras.config.set_dtype_policy(previous)


def _check_model(model: Any) -> None:
    output = tuple(model.output_shape) if hasattr(model, "output_shape") else None
    if output is not None and output[-1] != N_CLASSES:
        raise ValueError(f"the model must output {N_CLASSES} class probabilities, got {output}")


def _optimizer(settings: FitSettings, steps_per_epoch: int, keras: Any) -> Any:
    rate = _learning_rate(settings, steps_per_epoch, keras)
    decay = settings.weight_decay or None
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=rate, momentum=SGD_MOMENTUM, nesterov=True, weight_decay=decay
        )
    if settings.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=rate, weight_decay=decay)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}: expected adam or sgd")


def _learning_rate(settings: FitSettings, steps_per_epoch: int, keras: Any) -> Any:
    if settings.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=settings.learning_rate,
            decay_steps=max(1, settings.epochs * steps_per_epoch),
        )
    return settings.learning_rate


def _dataset(
    data: FerDataset,
    *,
    batch_size: int,
    shuffle_seed: int | None = None,
    weights: dict[int, float] | None = None,
    augment_seed: int | None = None,
    parallel: bool = False,
) -> Any:
    """``tf.data`` of ``(float32 (b, 48, 48, 1), one-hot (b, 7)[, sample weights (b,)])``."""
    import tensorflow as tf

    labels = data.y.astype(np.int32)
    tensors: tuple[np.ndarray, ...] = (data.x, labels)
    if weights is not None:
        per_image = np.array([weights[k] for k in range(N_CLASSES)], dtype=np.float32)[labels]
        tensors = (data.x, labels, per_image)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle_seed is not None:
        ds = ds.shuffle(len(data), seed=shuffle_seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def prepare(x: Any, y: Any, *w: Any) -> tuple[Any, ...]:
        pixels = tf.expand_dims(tf.cast(x, tf.float32), -1)
        return (pixels, tf.one_hot(y, N_CLASSES), *w)

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if augment_seed is not None:
        augment = _augmenter(augment_seed)

        def augmented(x: Any, y: Any, *w: Any) -> tuple[Any, ...]:
            return (augment(x), y, *w)

        # Sequential when runs must repeat (the layers' seed state is drawn in batch
        # order); in parallel otherwise (a GPU run), so augmentation keeps the GPU fed.
        ds = ds.map(augmented, num_parallel_calls=tf.data.AUTOTUNE if parallel else None)
    return ds.prefetch(tf.data.AUTOTUNE)


def _augmenter(seed: int) -> Callable[[Any], Any]:
    """Flip, shift, rotate and zoom a float32 batch; each layer seeded from ``seed``."""
    import keras
    import tensorflow as tf

    layers = [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(TRANSLATION, TRANSLATION, seed=seed + 1),
        keras.layers.RandomRotation(ROTATION, seed=seed + 2),
        keras.layers.RandomZoom(ZOOM, seed=seed + 3),
    ]

    def augment(batch: Any) -> Any:
        for layer in layers:
            batch = layer(batch, training=True)
        return tf.clip_by_value(batch, 0.0, 255.0)

    return augment


class _HistoryRecorder:
    """Builds the Keras callback that keeps every epoch's metrics and starting rate."""

    @staticmethod
    def make(
        keras: Any,
        epochs: int,
        steps: int,
        on_epoch: EpochListener | None = None,
        on_batch: BatchListener | None = None,
    ) -> Any:
        class Recorder(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
                self._lr = math.nan
                self._started = time.perf_counter()
                self._epoch = 0

            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                rate = self.model.optimizer.learning_rate
                self._lr = float(keras.ops.convert_to_numpy(rate))
                self._started = time.perf_counter()
                self._epoch = epoch + 1

            def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
                if on_batch is not None:
                    on_batch(self._epoch, batch + 1, steps)

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                logs = logs if logs is not None else {}
                for key in HISTORY_KEYS[:-1]:
                    value = logs.get(key)
                    self.history[key].append(math.nan if value is None else float(value))
                self.history["lr"].append(self._lr)
                logs["lr"] = self._lr  # so CSVLogger, after this, writes it too
                if on_epoch is not None:
                    on_epoch(
                        EpochReport(
                            epoch=epoch + 1,
                            epochs=epochs,
                            loss=self.history["loss"][-1],
                            accuracy=self.history["accuracy"][-1],
                            val_loss=self.history["val_loss"][-1],
                            val_accuracy=self.history["val_accuracy"][-1],
                            lr=self._lr,
                            seconds=time.perf_counter() - self._started,
                        )
                    )

        return Recorder()
