"""Benchmark: one FER training step in float32 against mixed bfloat16, on this CPU.

The ``cpu`` profile's recipe (``senim_cnn`` at its width, batch 64, Nesterov SGD with
weight decay, label smoothing, op determinism on, the augmented ``tf.data`` pipeline of
``pipelines.fer.training``) on random faces, timed per step under both Keras dtype
policies side by side: ``--rounds`` interleaved rounds (default 3, order reversed every
other round) of ``--steps`` steps each (default 40) after a warm-up, so the shared
machine's noise falls on both alike. The ratio is what decides ``mixed_precision`` for
the profile on a CPU with bfloat16 units (``pipelines.fer.training.mixed_policy``); on a
CPU without them bfloat16 is emulated and the bench says so instead of timing it.

    uv run python bench/fer_train_step.py --write-docs
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MARKER = "<!-- fer_train_step -->"
POLICIES = ("float32", "mixed_bfloat16")


class _Faces:
    """Random faces in the shape ``pipelines.fer.training._dataset`` reads."""

    def __init__(self, n: int, seed: int) -> None:
        import numpy as np

        rng = np.random.default_rng(seed)
        self.x = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        self.y = rng.integers(0, 7, n)

    def __len__(self) -> int:
        return len(self.x)


def _trainer(policy: str, width: int, batch: int, steps: int):
    """A compiled model and its dataset under ``policy``: (model, dataset of ``steps``)."""
    import keras

    from pipelines.fer.training import SGD_MOMENTUM, _built, _dataset

    faces = _Faces(batch * steps, seed=1)
    data = _dataset(faces, batch_size=batch, shuffle_seed=1, augment_seed=1)
    model = _built(_build, "senim_cnn", width, 1, None if policy == "float32" else policy)
    model.compile(
        optimizer=keras.optimizers.SGD(
            0.05, momentum=SGD_MOMENTUM, nesterov=True, weight_decay=5e-4
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
    )
    model.fit(data.take(3), epochs=1, verbose=0)  # warm-up: tracing, first allocations
    return model, data


def _build(architecture: str, width: int, seed: int):
    from models.fer_cnn import build_model

    return build_model(architecture, width=width, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=None, help="default: the cpu profile's")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    import tensorflow as tf

    from bench.credit_quality import machine_info
    from pipelines.fer.training import cpu_has_bfloat16
    from senim.config import Params

    profile = Params().fer.training.profiles["cpu"]
    width = args.width or profile.width
    tf.config.experimental.enable_op_determinism()
    bf16 = cpu_has_bfloat16()
    policies = POLICIES if bf16 else POLICIES[:1]
    trainers = {
        policy: _trainer(policy, width, profile.batch_size, args.steps) for policy in policies
    }
    per_step: dict[str, list[float]] = {policy: [] for policy in policies}
    for round_ in range(args.rounds):
        order = policies if round_ % 2 == 0 else tuple(reversed(policies))
        for policy in order:
            model, data = trainers[policy]
            started = time.perf_counter()
            model.fit(data, epochs=1, verbose=0)
            per_step[policy].append((time.perf_counter() - started) / args.steps * 1000)

    steps_per_epoch = math.ceil(28_357 / profile.batch_size)  # cleaned FER2013 Training
    lines = [
        MARKER,
        "## FER training step: float32 against mixed bfloat16 (bench/fer_train_step.py)",
        "",
        f"- Machine: {machine_info()}; TensorFlow {tf.__version__}; bfloat16 units: "
        f"{'yes (AVX512-BF16 or AMX)' if bf16 else 'no (bfloat16 would be emulated: not timed)'}",
        f"- The `cpu` profile's step: `senim_cnn` width {width}, batch {profile.batch_size}, "
        "Nesterov SGD with weight decay, augmentation in `tf.data`, op determinism on; "
        f"{args.rounds} interleaved rounds of {args.steps} steps after a warm-up",
        "- `uv run python bench/fer_train_step.py --write-docs`",
        "",
        "| policy | ms per step (median of rounds) | rounds | one epoch of FER2013 Training |",
        "|---|---|---|---|",
    ]
    medians = {policy: statistics.median(values) for policy, values in per_step.items()}
    for policy in policies:
        values = ", ".join(f"{v:.0f}" for v in per_step[policy])
        epoch_s = medians[policy] * steps_per_epoch / 1000
        lines.append(f"| {policy} | {medians[policy]:.0f} | {values} | {epoch_s:.0f} s |")
    if bf16:
        ratio = medians["mixed_bfloat16"] / medians["float32"]
        lines += [
            "",
            f"- mixed bfloat16 takes {ratio:.2f}x the float32 step "
            f"({(1 - ratio) * 100:.0f}% shorter).",
        ]
    lines.append(MARKER)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write_docs:
        from bench.credit_quality import write_docs_section

        write_docs_section(text, MARKER)


if __name__ == "__main__":
    main()
