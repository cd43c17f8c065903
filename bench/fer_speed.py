"""Benchmark: FER inference speed of Keras, TFLite float16 and TFLite int8 on the CPU.

Images per second and per-call latency (p50/p95) of the emotion CNNs, at batch 1 (a
camera frame) and batch 32, for:

- Keras: the trained model in TensorFlow, on its default thread pools; per model and
  batch size the faster of ``model(x, training=False)`` (eager) and ``predict_on_batch``
  (a traced function) is timed, picked on the warm-up, and the table says which;
- TFLite float16 and TFLite int8 (the exports of ``pipelines.fer.export``), through
  ``TFLiteClassifier.predict_proba``, the path Senim's edge and batch prediction use,
  with ``num_threads`` 1 and 2.

Every runtime goes from uint8 images (N, 48, 48) to float32 probabilities (N, 7), so the
input cast (Keras), the input checks and the int8 output dequantisation are all counted.

Models: ``senim_cnn`` at the full profile's width (48, ``--width``) and the paper's
``paper_cnn``. Each is trained briefly (``--epochs``, default 1) on the synthetic faces
with the quick profile's recipe before export, so the exports carry trained weights and
an int8 calibration (200 class-stratified training images) of a trained model rather than
a random initialisation. One epoch is far from converged (the section reports accuracy
and export fidelity); the kernels timed are dense, so their speed does not depend on the
weight values. Nothing is registered.

Timing is interleaved so that the noise of a shared machine falls on every setting alike:
after a discarded warm-up, ``--rounds`` rounds (default 3) in which every model, runtime,
thread count and batch size runs back to back for ``--seconds`` (default 2) in turn, the
order reversed every other round; the rounds are pooled.

    uv run python bench/fer_speed.py --write-docs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MARKER = "<!-- fer_speed -->"
HEADERS = ["model", "runtime", "threads", "batch", "calls", "images/s",
           "images/s by round", "G MAC/s", "p50 ms/call", "p95 ms/call"]  # fmt: skip
TARGET = 2000.0  # int8 faces per second at batch 1 on 2 cores (the target)
KINDS = ("float16", "int8")


@dataclass
class Setting:
    """One timed setting: a model on a runtime, with a thread count and a batch size."""

    model: str
    runtime: str
    threads: str
    batch: int
    call: Callable[[np.ndarray], object]
    images: np.ndarray
    macs: int = 0  # multiply-accumulates per image
    how: str = ""  # which Keras call
    probes: dict[str, float] = field(default_factory=dict)  # warm-up images/s per Keras call
    latencies: list[float] = field(default_factory=list)  # seconds per call, pooled
    round_rates: list[float] = field(default_factory=list)  # images/s of each round

    @property
    def key(self) -> tuple:
        return (self.model, self.runtime, self.threads, self.batch)

    def run_for(self, seconds: float) -> list[float]:
        """Calls back to back for ``seconds``; the per-call times in seconds."""
        times = []
        deadline = time.perf_counter() + seconds
        while True:
            started = time.perf_counter()
            self.call(self.images)
            ended = time.perf_counter()
            times.append(ended - started)
            if ended >= deadline:
                return times

    @property
    def images_per_s(self) -> float:
        return self.batch * len(self.latencies) / sum(self.latencies)

    def ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000

    def row(self) -> list:
        runtime = f"{self.runtime} ({self.how})" if self.how else self.runtime
        return [
            self.model,
            runtime,
            self.threads,
            self.batch,
            len(self.latencies),
            round(self.images_per_s, 1),
            f"{min(self.round_rates):,.0f}–{max(self.round_rates):,.0f}",
            round(self.images_per_s * self.macs / 1e9, 1),
            round(self.ms(50), 3),
            round(self.ms(95), 3),
        ]


@dataclass
class Trained:
    name: str
    model: object
    parameters: int
    macs: int  # multiply-accumulates per image (convolutions and dense layers)
    train_seconds: float
    paths: dict[str, Path]
    sizes: dict[str, int]
    accuracy: dict[str, float]  # on PublicTest, per runtime
    agreement: dict[str, float]  # top-1 agreement of each export with Keras
    max_diff: dict[str, float]  # mean over images of the largest |p_export - p_keras|
    keras_top_p: float  # mean top-1 probability of the Keras model
    steps: int  # training steps taken


def macs_per_image(model) -> int:
    """Multiply-accumulates of the Conv2D and Dense layers for one image."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, _ = layer.output.shape
            total += height * width * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return int(total)


def train_and_export(architecture: str, data, args, tmp: Path) -> Trained:
    """Train ``architecture`` briefly, export both TFLite kinds, check them on PublicTest."""
    from models.fer_cnn import parameter_count
    from pipelines.fer.export import TFLiteClassifier, export_tflite, representative_sample
    from pipelines.fer.training import predict_proba, train_fer_model

    train, test, profile, seed = data
    # deterministic=False: op determinism is process-wide and would stay on for the Keras
    # timings; a benchmark needs no bit-identical weights.
    trained = train_fer_model(
        train,
        None,
        profile,
        seed=seed,
        architecture=architecture,
        epochs=args.epochs,
        deterministic=False,
    )
    model = trained.model
    representative = representative_sample(train, args.representative, seed)
    paths = {
        kind: export_tflite(
            model, kind, tmp / f"{architecture}_{kind}.tflite", representative=representative
        )
        for kind in KINDS
    }
    keras_p = predict_proba(model, test.x)
    keras_top = keras_p.argmax(axis=1)
    accuracy = {"Keras": float(np.mean(keras_top == test.y))}
    agreement, max_diff = {}, {}
    for kind, path in paths.items():
        proba = TFLiteClassifier(path).predict_proba(test.x)
        top = proba.argmax(axis=1)
        accuracy[kind] = float(np.mean(top == test.y))
        agreement[kind] = float(np.mean(top == keras_top))
        max_diff[kind] = float(np.mean(np.abs(proba - keras_p).max(axis=1)))
    return Trained(
        name=architecture if architecture == "paper_cnn" else f"senim_cnn w{profile.width}",
        model=model,
        parameters=parameter_count(model),
        macs=macs_per_image(model),
        train_seconds=trained.seconds,
        paths=paths,
        sizes={kind: path.stat().st_size for kind, path in paths.items()},
        accuracy=accuracy,
        agreement=agreement,
        max_diff=max_diff,
        keras_top_p=float(keras_p.max(axis=1).mean()),
        steps=trained.epochs_run * math.ceil(trained.train_images / trained.settings.batch_size),
    )


def keras_setting(trained: Trained, batch: int, images: np.ndarray, warmup: float) -> Setting:
    """The faster honest Keras call for this batch size, chosen on a warm-up of each."""
    model = trained.model

    def eager(x: np.ndarray) -> np.ndarray:
        return model(x.astype(np.float32)[..., None], training=False).numpy()

    def on_batch(x: np.ndarray) -> np.ndarray:
        return model.predict_on_batch(x.astype(np.float32)[..., None])

    candidates = {"model(x, training=False)": eager, "predict_on_batch": on_batch}
    rates = {}
    for how, call in candidates.items():
        probe = Setting(trained.name, "Keras", "TF default", batch, call, images, trained.macs)
        probe.run_for(warmup / 2)  # first calls: tracing, allocation
        times = probe.run_for(warmup)
        rates[how] = batch * len(times) / sum(times)
    how = max(rates, key=rates.get)
    return Setting(
        trained.name,
        "Keras",
        "TF default",
        batch,
        candidates[how],
        images,
        trained.macs,
        how=how,
        probes=rates,
    )


def tflite_settings(trained: Trained, args, inputs: dict[int, np.ndarray]) -> list[Setting]:
    from pipelines.fer.export import TFLiteClassifier

    settings = []
    for kind in KINDS:
        for threads in args.threads:
            classifier = TFLiteClassifier(
                trained.paths[kind], batch_size=max(args.batches), num_threads=threads
            )
            for batch in args.batches:
                settings.append(
                    Setting(
                        trained.name,
                        f"TFLite {kind}",
                        str(threads),
                        batch,
                        classifier.predict_proba,
                        inputs[batch],
                        trained.macs,
                    )
                )
    return settings


def measure(settings: list[Setting], args) -> None:
    """Warm-up (discarded), then interleaved rounds, pooled into each setting."""
    for setting in settings:
        setting.run_for(args.warmup)
    for round_index in range(args.rounds):
        order = settings if round_index % 2 == 0 else list(reversed(settings))
        for setting in order:
            times = setting.run_for(args.seconds)
            setting.latencies += times
            setting.round_rates.append(setting.batch * len(times) / sum(times))
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
                return ", ".join(flag for flag in wanted if flag in flags) or "none of note"
    except OSError:
        pass
    return "unknown"


def verdict_lines(by: dict[tuple, Setting], models: list[Trained], args) -> list[str]:
    """The target line (int8, batch 1, most threads) for each model, and what dominates."""
    threads = str(max(args.threads))
    big_batch = max(args.batches)
    lines = []
    for trained in models:
        one = by.get((trained.name, "TFLite int8", threads, 1))
        if one is None:
            continue
        rate = one.images_per_s
        mmacs = trained.macs / 1e6
        line = (
            f"- **Target: int8 >= {TARGET:,.0f} faces/s at batch 1 on {threads} cores — "
            f"{trained.name}: {'MET' if rate >= TARGET else 'NOT MET'}** ({rate:,.0f} "
            f"faces/s pooled, {min(one.round_rates):,.0f}–{max(one.round_rates):,.0f} by round; "
            f"{mmacs:,.1f} M multiply-accumulates a face, {rate * mmacs / 1e3:,.0f} G MAC/s)"
        )
        big = by.get((trained.name, "TFLite int8", threads, big_batch))
        below = sum(r < TARGET for r in one.round_rates)
        if rate >= TARGET:
            if below:
                line += (
                    f"; met on the pooled rate, but {below} of {len(one.round_rates)} rounds "
                    "fell below it: a margin within this machine's noise"
                )
            lines.append(line + ".")
            continue
        above = len(one.round_rates) - below
        if above:
            line += (
                f"; {above} of {len(one.round_rates)} rounds reached it (best "
                f"{max(one.round_rates):,.0f}), so the pooled shortfall of "
                f"{1 - rate / TARGET:.0%} is within this shared machine's noise: borderline"
            )
        if big is None:
            lines.append(line + ".")
            continue
        ceiling = big.images_per_s
        overhead = max(0.0, one.ms(50) - 1000 / ceiling)
        if ceiling < TARGET:
            line += (
                f". The arithmetic dominates, not the per-call overhead: {TARGET:,.0f} "
                f"faces/s needs {TARGET * mmacs / 1e3:,.0f} G MAC/s, and int8 on these cores "
                f"delivers {rate * mmacs / 1e3:,.0f} G MAC/s at batch 1 and "
                f"{ceiling * mmacs / 1e3:,.0f} G MAC/s at batch {big_batch} ({ceiling:,.0f} "
                f"faces/s), so batching cannot close the gap: a batch-1 call (p50 "
                f"{one.ms(50):.3f} ms) costs "
                + (
                    f"only {overhead:.3f} ms more than a face at batch {big_batch}."
                    if overhead > 0.01
                    else f"no more than a face at batch {big_batch}."
                )
            )
            if trained.name.startswith("senim_cnn"):
                # MACs grow about with the width squared: an estimate, not a measurement.
                width = int(trained.name.rsplit("w", 1)[-1])
                line += (
                    f" At this batch-1 rate the target needs under about "
                    f"{rate * mmacs / TARGET:,.0f} M MACs a face, i.e. senim_cnn at width "
                    f"~{width * (rate / TARGET) ** 0.5:.0f} (extrapolated, not measured), "
                    "or a faster CPU."
                )
            solo = by.get((trained.name, "TFLite int8", "1", 1))
            if solo and threads != "1" and rate / solo.images_per_s < 1.3:
                line += (
                    f" Caveat: in this run {threads} threads were no faster than 1 "
                    f"({rate / solo.images_per_s:.2f}x; 1 thread: {solo.images_per_s:,.0f} "
                    "faces/s), most likely because other jobs held the second core, so this is "
                    f"in effect a 1-core number. The target needs "
                    f"{TARGET / solo.images_per_s:.2f}x from the second core: re-measure on a "
                    "quiet machine before reading the gap as final."
                )
        else:
            line += (
                f". The per-call cost dominates, not the arithmetic: at batch {big_batch} "
                f"int8 reaches {ceiling:,.0f} faces/s, and the batch-1 call (p50 "
                f"{one.ms(50):.3f} ms) spends up to {overhead:.3f} ms on per-call overhead "
                "(Python, tensor copies, thread hand-off)."
            )
        lines.append(line)
    return lines


def int8_gain_lines(by: dict[tuple, Setting], models: list[Trained], args) -> list[str]:
    threads = str(max(args.threads))
    gains = []
    for m in models:
        for batch in args.batches:
            f16 = by.get((m.name, "TFLite float16", threads, batch))
            i8 = by.get((m.name, "TFLite int8", threads, batch))
            if f16 and i8:
                gains.append(f"{m.name} batch {batch} {i8.images_per_s / f16.images_per_s:.1f}x")
    if not gains:
        return []
    return [
        f"- int8 vs float16 ({threads} threads): {', '.join(gains)}. This CPU has "
        f"{cpu_flags()}; XNNPACK's int8 kernels use such integer dot-product instructions "
        "where present, so expect a smaller int8 gain on CPUs (and edge boards) without them."
    ]


def fidelity_lines(models: list[Trained]) -> list[str]:
    """What the agreement column means where an export disagrees with Keras often."""
    lines = []
    for m in models:
        if m.agreement["int8"] >= 0.9:
            continue
        if m.keras_top_p < 0.3:
            lines.append(
                f"- {m.name}: int8 agrees with Keras on only {m.agreement['int8']:.0%} of "
                f"top-1 labels, but its probabilities are within {m.max_diff['int8']:.4f} "
                f"(mean largest gap) and Keras's own top probability averages "
                f"{m.keras_top_p:.3f} against a uniform 0.143: near-ties that int8's 1/256 "
                "output steps flip, in a barely trained model. Export accuracy on a trained "
                "model is checked by `export_and_check`, not here."
            )
        else:
            lines.append(
                f"- {m.name}: int8 agrees with Keras on only {m.agreement['int8']:.0%} of "
                f"top-1 labels although Keras is confident (top probability "
                f"{m.keras_top_p:.3f}): the int8 export looks wrong, check it."
            )
    return lines


def section(settings: list[Setting], models: list[Trained], args, meta: dict) -> str:
    from tabulate import tabulate

    from bench.credit_quality import machine_info

    by = {setting.key: setting for setting in settings}
    table = [setting.row() for setting in settings]
    size_headers = ["model", "parameters", "M MACs/image", "float16 .tflite bytes",
                    "int8 .tflite bytes", "training steps (s)",
                    "PublicTest accuracy Keras / f16 / int8",
                    "top-1 agreement with Keras f16 / int8",
                    "mean max abs(p - p_Keras) f16 / int8"]  # fmt: skip
    sizes = [
        [
            m.name,
            f"{m.parameters:,}",
            f"{m.macs / 1e6:,.1f}",
            f"{m.sizes['float16']:,}",
            f"{m.sizes['int8']:,}",
            f"{m.steps} ({m.train_seconds:.0f})",
            " / ".join(f"{m.accuracy[k]:.3f}" for k in ("Keras", *KINDS)),
            " / ".join(f"{m.agreement[k]:.3f}" for k in KINDS),
            " / ".join(f"{m.max_diff[k]:.4f}" for k in KINDS),
        ]
        for m in models
    ]
    keras_notes = []
    for setting in settings:
        if setting.probes:
            probes = ", ".join(f"`{how}` {rate:,.0f}/s" for how, rate in setting.probes.items())
            keras_notes.append(f"{setting.model} batch {setting.batch}: {probes}")
    speedups, ratios = [], []
    for trained in models:
        for kind in KINDS:
            one = by.get((trained.name, f"TFLite {kind}", "1", 1))
            two = by.get((trained.name, f"TFLite {kind}", "2", 1))
            if one and two:
                ratios.append(two.images_per_s / one.images_per_s)
                speedups.append(f"{trained.name} {kind} {two.images_per_s / one.images_per_s:.2f}x")
    lines = [
        MARKER,
        "## FER inference speed: Keras vs TFLite float16 vs TFLite int8 on the CPU",
        "",
        f"- Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine_info()}",
        f"- TensorFlow {meta['tensorflow']} · Keras {meta['keras']} (TFLite via "
        "`tf.lite.Interpreter`, XNNPACK) · CPU features: "
        f"{cpu_flags()} · CPU affinity: {meta['affinity']} cores · load average "
        f"{meta['load_before']:.2f} before, {meta['load_after']:.2f} after (a shared machine: "
        "other jobs were running, so read absolute numbers as indicative, ratios as firmer)",
        f"- Models: trained {args.epochs} epoch{'s' if args.epochs != 1 else ''} on "
        f"{meta['train_images']} synthetic faces "
        "(the quick profile's recipe for senim_cnn, at the width shown; the paper's for "
        "paper_cnn), exported, int8 calibrated on "
        f"{args.representative} class-stratified training images. So the exports carry trained "
        "weights and calibrated ranges, not a random initialisation, but the models are far "
        "from converged: PublicTest accuracy is near chance (1/7), and after "
        f"{models[0].steps} steps senim_cnn's BatchNorm moving statistics (momentum 0.99) "
        f"are only {1 - 0.99 ** models[0].steps:.0%} of the way from their start to the data's. "
        "The kernels timed here are dense, so their speed does not depend on the weight values",
        f"- Interleaved: after a {args.warmup:g} s warm-up each (discarded), {args.rounds} "
        f"rounds in which every row ran for {args.seconds:g} s in turn (order reversed every "
        "other round), pooled. uint8 images in, float32 probabilities out, in one Python "
        "thread; TFLite through `TFLiteClassifier.predict_proba`, Keras on TensorFlow's "
        "default thread pools (all cores)",
        f"- Keras call, the faster on the warm-up per model and batch: {'; '.join(keras_notes)}",
        "- `uv run python bench/fer_speed.py --write-docs`",
        "",
        tabulate(table, headers=HEADERS, tablefmt="github"),
        "",
        tabulate(sizes, headers=size_headers, tablefmt="github"),
        "",
        *verdict_lines(by, models, args),
        *fidelity_lines(models),
        f"- Batch 1, 2 threads vs 1 thread: {', '.join(speedups)}"
        + (
            f". Under 1.3x on the whole: the second core was most likely busy with other jobs "
            f"for much of the run (load average {meta['load_before']:.2f} before, "
            f"{meta['load_after']:.2f} after), so the 2-thread rows understate a quiet machine."
            if ratios and float(np.median(ratios)) < 1.3
            else "."
        ),
        *int8_gain_lines(by, models, args),
        "",
        MARKER,
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=None, help="senim_cnn filters (full profile)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per model")
    parser.add_argument("--representative", type=int, default=200, help="int8 calibration")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--seconds", type=float, default=2.0, help="per row and round")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds per row, discarded")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    import keras
    import tensorflow as tf

    from pipelines.fer.synthetic import generate_fer
    from senim.config import load_params

    fer = load_params(REPO / "params.yaml").fer
    width = args.width or fer.training.profiles["full"].width
    profile = fer.training.profiles["quick"].model_copy(update={"width": width})
    dataset = generate_fer(fer.synthetic)
    train, test = dataset.part("Training"), dataset.part("PublicTest")
    if len(test) < max(args.batches):
        sys.exit(f"PublicTest has {len(test)} images, fewer than batch {max(args.batches)}")
    inputs = {batch: np.ascontiguousarray(test.x[:batch]) for batch in args.batches}

    with tempfile.TemporaryDirectory(prefix="senim-bench-fer-") as tmp:
        models = []
        for architecture in ("senim_cnn", "paper_cnn"):
            data = (train, test, profile, fer.training.seed)
            models.append(train_and_export(architecture, data, args, Path(tmp)))
            print(f"{models[-1].name}: trained and exported", file=sys.stderr)
        settings = []
        for trained in models:
            for batch in args.batches:
                settings.append(keras_setting(trained, batch, inputs[batch], args.warmup))
            settings += tflite_settings(trained, args, inputs)
        measure(settings, args)

    meta = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "affinity": len(os.sched_getaffinity(0)),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "train_images": len(train),
    }
    text = section(settings, models, args, meta)
    print(text)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fer_speed.md").write_text(text)
    raw = {
        "meta": meta,
        "rows": [dict(zip(HEADERS, s.row(), strict=True)) | {"latencies_s": s.latencies}
                 for s in settings],
        "models": [{"name": m.name, "parameters": m.parameters, "macs": m.macs,
                    "sizes": m.sizes, "accuracy": m.accuracy, "agreement": m.agreement,
                    "max_diff": m.max_diff, "keras_top_p": m.keras_top_p, "steps": m.steps}
                   for m in models],
    }  # fmt: skip
    (out / "fer_speed.json").write_text(json.dumps(raw, indent=2))
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.write_docs:
        from bench.credit_quality import write_docs_section

        write_docs_section(text, MARKER)


if __name__ == "__main__":
    main()
