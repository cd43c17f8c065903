"""Export a trained FER CNN to TensorFlow Lite for edge cameras, and check the export.

Two kinds of export, both from a Keras model that takes float32 pixels 0..255 of shape
(batch, 48, 48, 1) and ends in a softmax over the seven emotions (``models.fer_cnn``):

- ``float16``: post-training float16 weight quantisation. Weights are stored as float16
  (about half the size); inputs, outputs and arithmetic stay float32.
- ``int8``: full-integer quantisation, calibrated on representative training images,
  with ``TFLITE_BUILTINS_INT8`` only, so it runs on integer-only edge runtimes (micro
  controllers, NPUs, Edge TPU). Input and output tensors are **uint8**: the input is
  calibrated to scale 1, zero point 0 (see ``_pinned_representative``), so a camera's raw
  grayscale pixels *are* the quantised input, with no arithmetic on the device; the output
  is the softmax in steps of 1/256 (scale 1/256, zero point 0). uint8 converts cleanly
  (the converter adds one integer QUANTIZE op uint8 -> int8 after the input and one int8
  -> uint8 before the output); int8 would need every pixel shifted by 128 first.

``export_and_check`` exports, measures the export's accuracy on an evaluation set and
accepts it only when it is within ``max_int8_drop`` (1 point) of the Keras model's
accuracy. The same bound applies to float16 exports: float16 weights rarely move accuracy
at all, so a float16 export that loses a point means something went wrong. A rejected
export is not an error: the file is written and the record says why it was rejected.

``TFLiteClassifier`` runs an exported file on uint8 images, quantising the input and
dequantising the output from the tensors' own scale and zero point, so it runs both kinds.
It uses ``tf.lite.Interpreter``, which TF 2.21 flags as deprecated in favour of the
``ai_edge_litert`` package (not installed here). The interpreter is built in one place,
``_make_interpreter``: switching to ``ai_edge_litert.interpreter.Interpreter`` is a one-line
change there.

TensorFlow takes ~10 s to import, so it is imported inside the functions that need it:
importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pipelines.fer.schema import EMOTIONS, IMAGE_SIZE, FerDataset
from senim.atomic_files import atomic_write
from senim.errors import DataError

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

ExportKind = Literal["float16", "int8"]
EXPORT_KINDS: tuple[str, ...] = ("float16", "int8")
NUM_CLASSES = len(EMOTIONS)
DEFAULT_BATCH = 64  # images per interpreter call when predicting many at once
_PIXEL_MAX = 255


# --------------------------------------------------------------------------- export


def export_tflite(
    model: keras.Model,
    kind: ExportKind,
    path: Path,
    *,
    representative: np.ndarray | None = None,
) -> Path:
    """Convert ``model`` to a ``.tflite`` of the given kind and write it atomically to ``path``.

    ``representative``: uint8 images (N, 48, 48) from the training data, used to calibrate
    the int8 activation ranges (a few hundred class-stratified images, see
    ``representative_sample``). Required for ``int8``; ``float16`` needs none and ignores it.
    The file is written only once conversion has succeeded, via a temp file and a rename,
    so a failure leaves the previous file (or none), never a partial one.
    """
    content = convert_tflite(model, kind, representative=representative)
    path = atomic_write(Path(path), lambda handle: handle.write(content))
    log.info("wrote %s TFLite model %s (%d bytes)", kind, path, len(content))
    return path


def convert_tflite(
    model: keras.Model, kind: ExportKind, *, representative: np.ndarray | None = None
) -> bytes:
    """The ``.tflite`` flatbuffer of ``model`` (see ``export_tflite``), in memory."""
    _check_kind(kind)
    if kind == "int8":
        if representative is None:
            raise ValueError(
                "int8 export needs representative images (uint8, N x 48 x 48, from the "
                "training data) to calibrate its activation ranges"
            )
        _check_images(representative, "representative images")
        if len(representative) == 0:
            raise DataError("representative images: the array is empty")

    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    else:
        converter.representative_dataset = lambda: _pinned_representative(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    # Keras prints every exported signature's tensors to stdout while converting.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # Emitted for every full-integer conversion; the statistics come from calibration.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(converter.convert())


def _pinned_representative(images: np.ndarray):
    """Calibration batches: each image alone, as float32 (1, 48, 48, 1), then one anchor.

    The anchor is the first image with one pixel set to 0 and one to 255, so the input's
    calibrated range is exactly 0..255 whatever the sample holds: the uint8 input then has
    scale 1 and zero point 0 and takes raw pixels as they are. Two pixels barely move the
    later layers' ranges.
    """
    for image in images:
        yield [image.astype(np.float32)[None, :, :, None]]
    anchor = images[0].astype(np.float32).copy()
    anchor[0, 0], anchor[-1, -1] = 0.0, float(_PIXEL_MAX)
    yield [anchor[None, :, :, None]]


# --------------------------------------------------------------------------- running


def _make_interpreter(content: bytes, num_threads: int | None = None) -> Any:
    """The one place a TFLite interpreter is built: LiteRT (``ai_edge_litert``, the `edge`
    extra, no TensorFlow import) when installed, else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        pass
    else:
        return Interpreter(model_content=content, num_threads=num_threads)
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        return tf.lite.Interpreter(model_content=content, num_threads=num_threads)


class TFLiteClassifier:
    """A ``.tflite`` FER model: ``predict_proba`` on uint8 images (N, 48, 48) -> (N, 7).

    One interpreter for single images is allocated once and reused, so the batch-1 path
    (a camera frame) does no allocation beyond the input copy; a second interpreter,
    resized to ``batch_size`` and built on first use, runs larger arrays in chunks.
    """

    def __init__(
        self, path: Path, *, batch_size: int = DEFAULT_BATCH, num_threads: int | None = None
    ) -> None:
        self.path = Path(path)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        try:
            self._content = self.path.read_bytes()
        except OSError as exc:
            raise DataError(f"{self.path}: cannot read the TFLite model: {exc}") from exc
        self._batch_size = batch_size
        self._num_threads = num_threads
        try:
            self._single = _make_interpreter(self._content, num_threads)
        except ValueError as exc:
            raise DataError(f"{self.path}: not a TFLite model: {exc}") from exc
        if (
            len(self._single.get_input_details()) != 1
            or len(self._single.get_output_details()) != 1
        ):
            raise DataError(f"{self.path}: expected a model with one input and one output")
        self.input_details = self._single.get_input_details()[0]
        self.output_details = self._single.get_output_details()[0]
        self._check_contract()
        self._allocate(self._single, 1)
        self._batched: Any = None
        self.input_dtype = np.dtype(self.input_details["dtype"])
        self.output_dtype = np.dtype(self.output_details["dtype"])
        self._in_scale, self._in_zero = self.input_details["quantization"]
        self._out_scale, self._out_zero = self.output_details["quantization"]
        # Raw pixels are already the quantised input (the int8 export's uint8 input).
        self._raw_input = (
            self.input_dtype == np.uint8 and self._in_scale == 1.0 and self._in_zero == 0
        )

    def _check_contract(self) -> None:
        in_shape = tuple(int(v) for v in self.input_details["shape"][1:])
        out_shape = tuple(int(v) for v in self.output_details["shape"][1:])
        if in_shape != (IMAGE_SIZE, IMAGE_SIZE, 1) or out_shape != (NUM_CLASSES,):
            raise DataError(
                f"{self.path}: expected a model from (batch, {IMAGE_SIZE}, {IMAGE_SIZE}, 1) "
                f"to (batch, {NUM_CLASSES}), got {in_shape} -> {out_shape}"
            )

    @property
    def quantized(self) -> bool:
        """Whether input and output tensors are integers (a full-integer export)."""
        return self.input_dtype.kind in "iu" and self.output_dtype.kind in "iu"

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 7) float32 for uint8 images (N, 48, 48)."""
        _check_images(x, "images")
        n = len(x)
        out = np.empty((n, NUM_CLASSES), dtype=np.float32)
        if n == 1:
            out[0] = self._run(self._single, x)[0]
            return out
        interpreter = self._batched_interpreter() if n else None
        for start in range(0, n, self._batch_size):
            chunk = x[start : start + self._batch_size]
            if len(chunk) < self._batch_size:  # pad the last chunk: no reallocation
                pad = np.zeros((self._batch_size - len(chunk), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
                chunk = np.concatenate([chunk, pad])
            out[start : start + self._batch_size] = self._run(interpreter, chunk)[: n - start]
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable class (N,) for uint8 images (N, 48, 48)."""
        return self.predict_proba(x).argmax(axis=1)

    def _batched_interpreter(self) -> Any:
        if self._batched is None:
            interpreter = _make_interpreter(self._content, self._num_threads)
            self._allocate(interpreter, self._batch_size)
            self._batched = interpreter
        return self._batched

    def _allocate(self, interpreter: Any, batch: int) -> None:
        """Fix the batch size and allocate; a model the runtime cannot prepare is a DataError."""
        shape = [batch, IMAGE_SIZE, IMAGE_SIZE, 1]
        try:
            interpreter.resize_tensor_input(self.input_details["index"], shape)
            interpreter.allocate_tensors()
        except RuntimeError as exc:  # e.g. a degenerate int8 tensor scale XNNPACK refuses
            raise DataError(
                f"{self.path}: the TFLite runtime cannot run this model: {exc}"
            ) from exc

    def _run(self, interpreter: Any, pixels: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(self.input_details["index"], self._quantize(pixels))
        interpreter.invoke()
        return self._dequantize(interpreter.get_tensor(self.output_details["index"]))

    def _quantize(self, pixels: np.ndarray) -> np.ndarray:
        pixels = pixels[..., None]
        if self._raw_input:
            return np.ascontiguousarray(pixels)
        if self.input_dtype.kind == "f":
            return pixels.astype(self.input_dtype)
        info = np.iinfo(self.input_dtype)
        q = np.round(pixels.astype(np.float32) / self._in_scale + self._in_zero)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def _dequantize(self, values: np.ndarray) -> np.ndarray:
        if self.output_dtype.kind == "f":
            return values.astype(np.float32)
        return (values.astype(np.float32) - self._out_zero) * np.float32(self._out_scale)


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class ExportRecord:
    """One export and its check: what was written, how accurate it is, whether it passed."""

    kind: str
    path: Path
    size_bytes: int
    sha256: str
    accuracy: float  # of the export, on the evaluation set
    keras_accuracy: float  # of the Keras model it came from, on the same set
    accepted: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """Plain values (path as text), for JSON reports and tracking."""
        return {**asdict(self), "path": str(self.path)}


def export_and_check(
    model: keras.Model,
    kind: ExportKind,
    path: Path,
    *,
    evaluation: FerDataset,
    representative: np.ndarray | None = None,
    keras_accuracy: float,
    max_int8_drop: float = 0.01,
) -> ExportRecord:
    """Export ``model``, measure the export on ``evaluation`` and accept or reject it.

    Accepted when the export's accuracy is at most ``max_int8_drop`` below
    ``keras_accuracy`` (the Keras model's accuracy on the same ``evaluation`` set), for
    ``int8`` and ``float16`` alike. A rejected export is still written and returned with
    ``accepted=False`` and the reason, as is an export the TFLite runtime cannot run
    (``accuracy`` NaN); conversion errors propagate. Bad inputs (empty or malformed
    evaluation set, malformed representative images, an accuracy outside 0..1) raise
    DataError/ValueError.
    """
    _check_kind(kind)
    if not isinstance(evaluation, FerDataset):
        raise DataError(f"evaluation must be a FerDataset, got {type(evaluation).__name__}")
    if len(evaluation) == 0:
        raise DataError(f"{evaluation.source}: the evaluation set is empty")
    _check_fraction(keras_accuracy, "keras_accuracy")
    _check_fraction(max_int8_drop, "max_int8_drop")

    path = export_tflite(model, kind, path, representative=representative)
    content = path.read_bytes()
    try:
        accuracy = _accuracy(TFLiteClassifier(path), evaluation)
    except DataError as exc:  # the inputs were checked above: the export itself is at fault
        accuracy, accepted = float("nan"), False
        reason = f"{kind} export does not run: {exc}"
    else:
        drop = keras_accuracy - accuracy
        accepted = bool(drop <= max_int8_drop + 1e-9)
        verdict = "within" if accepted else "more than"
        reason = (
            f"{kind} export accuracy {accuracy:.4f} vs Keras {keras_accuracy:.4f} on "
            f"{len(evaluation)} {evaluation.source} images: drop {drop:+.4f} is {verdict} "
            f"the {max_int8_drop:.4f} allowed"
        )
    (log.info if accepted else log.warning)("%s: %s", path, reason)
    return ExportRecord(
        kind=kind,
        path=path,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        accuracy=accuracy,
        keras_accuracy=float(keras_accuracy),
        accepted=accepted,
        reason=reason,
    )


def _accuracy(classifier: TFLiteClassifier, evaluation: FerDataset) -> float:
    """Share of ``evaluation`` images whose most probable class is the label."""
    return float(np.mean(classifier.predict(evaluation.x) == evaluation.y))


# --------------------------------------------------------------------------- sampling


def representative_sample(dataset: FerDataset, n: int, seed: int) -> np.ndarray:
    """``n`` images (uint8, n x 48 x 48) drawn class by class, deterministically per seed.

    Each class present gets at least one image (when ``n`` allows) and the rest are shared
    in proportion to the class counts (largest remainders, ties to the lower class), so
    rare classes such as Disgust are calibrated too. Rows come back in dataset order.
    The whole set (in order) when ``n`` is at least its size.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if len(dataset) == 0:
        raise DataError(f"{dataset.source}: no images to sample representative images from")
    if n >= len(dataset):
        return dataset.x.copy()
    counts = np.bincount(dataset.y, minlength=NUM_CLASSES)
    present = counts > 0
    if n >= int(present.sum()):
        per_class = present.astype(np.int64)
        per_class += _largest_remainder(n - int(present.sum()), counts - present)
    else:
        per_class = _largest_remainder(n, counts)
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(dataset.y == label), size=int(k), replace=False)
        for label, k in enumerate(per_class)
        if k
    ]
    return dataset.x[np.sort(np.concatenate(chosen))]


def _largest_remainder(n: int, weights: np.ndarray) -> np.ndarray:
    """Integers summing to ``n`` in proportion to ``weights`` (each at most its weight)."""
    total = int(weights.sum())
    if n == 0 or total == 0:
        return np.zeros(len(weights), dtype=np.int64)
    quotas = n * weights.astype(np.float64) / total
    shares = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - shares), kind="stable")
    shares[order[: n - int(shares.sum())]] += 1
    return shares


# --------------------------------------------------------------------------- checks


def _check_kind(kind: str) -> None:
    if kind not in EXPORT_KINDS:
        raise ValueError(f"export kind must be one of {', '.join(EXPORT_KINDS)}, got {kind!r}")


def _check_images(x: object, what: str) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
        got = f"{x.dtype} array" if isinstance(x, np.ndarray) else type(x).__name__
        raise DataError(f"{what} must be a uint8 array, got {got}")
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{what} must have shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got {tuple(x.shape)}"
        )


def _check_fraction(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise ValueError(f"{name} must be a number in 0..1, got {value!r}")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in 0..1, got {value!r}")
