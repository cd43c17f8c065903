"""Benchmark: frames per second of the edge runner's whole loop on this machine's CPU.

The loop is what ``senim-edge run`` does per frame (``edge.frame_pipeline``): decode a
640x480 frame from an MJPG video, detect faces with the Haar cascade (on the frame shrunk
to 320 px wide, the runner's default), crop and classify each face, track, smooth, run one
rule, and keep the pre-event ring buffer for clips. The video (10 s at 30 fps, one drawn
face drifting across the frame, ``edge.face_drawing``) is generated here, so nothing is
downloaded. Stages are also timed cumulatively (decode only; decode + detect) to show
where the time goes, and classification alone (one 48x48 face per call, batch 1).

Two classifiers: the TFLite int8 export through ``ai_edge_litert`` (what the host runs,
one thread) and the Keras model it came from (one traced ``tf.function``, TensorFlow's
default thread pools). The
model is ``senim_cnn`` at width 48 trained for one epoch on the synthetic faces with the
quick profile's recipe (speed does not depend on the weights), exported with
``pipelines.fer.export.export_tflite``. Rounds are interleaved (``--rounds``, default 3)
and the median is reported. The bench may use TensorFlow; the edge package never does.

    uv run python bench/edge_fps.py --write-docs
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MARKER = "<!-- edge_fps -->"
TARGET_FPS = 30.0
WIDTH, HEIGHT, VIDEO_FPS = 640, 480, 30.0


def write_video(path: Path, seconds: float) -> Path:
    from edge.face_drawing import Expression, face_frame

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (WIDTH, HEIGHT))
    expressions = (Expression(), Expression(mouth_curve=0.8), Expression(mouth_curve=-0.8))
    for index in range(int(seconds * VIDEO_FPS)):
        x = 200 + int(240 * abs((index % 120) / 60 - 1))  # drifts left and right
        face = ((x, 240), 170, expressions[(index // 45) % 3])
        writer.write(face_frame(WIDTH, HEIGHT, (face,)))
    writer.release()
    return path


def train_and_export(folder: Path):
    """(keras model, int8 .tflite path): senim_cnn w48, one epoch on the synthetic faces."""
    from models.fer_cnn import build_model
    from pipelines.fer.export import export_tflite, representative_sample
    from pipelines.fer.synthetic import generate_fer
    from pipelines.fer.training import train_fer_model
    from senim.config import FerSyntheticParams, load_params

    fer = load_params(REPO / "params.yaml").fer
    profile = fer.training.profiles["quick"].model_copy(update={"width": 48})
    train = generate_fer(FerSyntheticParams()).part("Training")
    model = build_model("senim_cnn", width=48, seed=0)
    trained = train_fer_model(
        train, None, profile, seed=0, model=model, epochs=1, deterministic=False
    )
    path = export_tflite(
        trained.model,
        "int8",
        folder / "fer_int8.tflite",
        representative=representative_sample(train, 200, 0),
    )
    return trained.model, path


class KerasFaceClassifier:
    """The Keras model behind the edge classifier's interface (bench only), called through
    one traced ``tf.function`` (a fixed signature, so it is traced once)."""

    def __init__(self, model, classes: tuple[str, ...]) -> None:
        import tensorflow as tf

        self.classes, self.version = classes, "keras"
        signature = [tf.TensorSpec((1, 48, 48, 1), tf.float32)]
        self._call = tf.function(lambda x: model(x, training=False), input_signature=signature)

    def classify(self, face: np.ndarray) -> np.ndarray:
        x = face.astype(np.float32)[None, :, :, None]
        return self._call(x).numpy()[0]


def time_loop(video: Path, stage: str, classifier=None) -> tuple[float, int]:
    """(frames/s, faces classified) for one pass over ``video`` up to ``stage``."""
    from edge.clip_recorder import ClipRecorder
    from edge.config import parse_config
    from edge.face_detection import HaarFaceDetector
    from edge.frame_pipeline import FramePipeline
    from edge.model_holder import ModelHolder
    from edge.video_source import VideoSource

    config = parse_config(
        {
            "rules": [
                {
                    "name": "sad",
                    "emotions": ["Sad", "Fear"],
                    "min_seconds": 3,
                    "cooldown_seconds": 3600,
                }
            ]
        }
    )
    detector = HaarFaceDetector(config.detection)
    holder = ModelHolder()
    if classifier is not None:
        holder.swap(classifier)  # the Keras adapter has the same interface
    with tempfile.TemporaryDirectory() as clips:
        pipeline = FramePipeline(
            config,
            detector,
            holder,
            ClipRecorder(Path(clips), 2.0, VIDEO_FPS),
            "bench",
            emit=lambda event: None,
        )
        source = VideoSource(str(video))
        frames, faces = 0, 0
        started = time.perf_counter()
        for frame in source.frames(threading.Event()):
            if stage == "decode":
                pass
            elif stage == "detect":
                detector.detect(cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY))
            else:
                faces += len(pipeline.process(frame.t, frame.image).faces)
            frames += 1
        elapsed = time.perf_counter() - started
        source.close()
    return frames / elapsed, faces


def time_classify(classifier, faces: np.ndarray, seconds: float) -> float:
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        classifier.classify(faces[calls % len(faces)])
        calls += 1
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="video length")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--classify-seconds", type=float, default=2.0)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load_before = os.getloadavg()[0]

    from edge.face_classifier import FaceClassifier
    from edge.protocol import EMOTIONS
    from edge.sample_faces import load_sample_faces

    faces = load_sample_faces()
    with tempfile.TemporaryDirectory(prefix="senim-bench-edge-") as tmp:
        video = write_video(Path(tmp) / "faces.avi", args.seconds)
        keras_model, tflite_path = train_and_export(Path(tmp))
        print("trained and exported", file=sys.stderr)
        classifiers = {
            "TFLite int8": FaceClassifier(tflite_path, EMOTIONS, "int8"),
            "Keras": KerasFaceClassifier(keras_model, EMOTIONS),
        }
        for classifier in classifiers.values():  # warm-up
            time_classify(classifier, faces, 0.3)
        loops = {
            "decode only": ("decode", None),
            "decode + detect": ("detect", None),
            "whole loop, TFLite int8": ("full", classifiers["TFLite int8"]),
            "whole loop, Keras": ("full", classifiers["Keras"]),
        }
        results: dict[str, list[float]] = {name: [] for name in loops}
        classify: dict[str, list[float]] = {name: [] for name in classifiers}
        faces_seen: dict[str, int] = {}
        for round_index in range(args.rounds):
            order = list(loops) if round_index % 2 == 0 else list(reversed(loops))
            for name in order:
                stage, classifier = loops[name]
                fps, seen = time_loop(video, stage, classifier)
                results[name].append(fps)
                faces_seen[name] = seen
            for name, classifier in classifiers.items():
                classify[name].append(time_classify(classifier, faces, args.classify_seconds))
            print(f"round {round_index + 1} done", file=sys.stderr)
    frames = int(args.seconds * VIDEO_FPS)
    text = section(results, classify, faces_seen, frames, args, load_before)
    print(text)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "edge_fps.md").write_text(text)
    if args.write_docs:
        from bench.credit_quality import write_docs_section

        write_docs_section(text, MARKER)


def section(results, classify, faces_seen, frames, args, load_before) -> str:
    from bench.credit_quality import machine_info

    whole = statistics.median(results["whole loop, TFLite int8"])
    verdict = "met" if whole >= TARGET_FPS else "NOT met"
    lines = [
        MARKER,
        "## Edge runner: frames per second (bench/edge_fps.py)",
        "",
        f"- Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine_info()}; "
        f"load average {load_before:.1f} before the run, CPU affinity "
        f"{len(os.sched_getaffinity(0))} cores.",
        f"- Video: {WIDTH}x{HEIGHT} MJPG, {frames} frames at {VIDEO_FPS:.0f} fps, one drawn face "
        "(~170 px) drifting across the frame; detection on the frame shrunk to 320 px wide.",
        "- Model: senim_cnn width 48, one epoch on the synthetic faces; TFLite int8 via "
        "ai_edge_litert (1 thread) vs the Keras model (a traced tf.function, TensorFlow's "
        "default pools).",
        f"- Median of {args.rounds} interleaved rounds (the per-round values in brackets).",
        f"- Target: whole loop with TFLite int8 >= {TARGET_FPS:.0f} FPS: **{verdict}** "
        f"({whole:.1f} FPS).",
        "",
        "| what | frames/s | rounds | faces classified |",
        "|---|---:|---|---:|",
    ]
    for name, values in results.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        seen = faces_seen.get(name, 0)
        lines.append(
            f"| {name} | {statistics.median(values):.1f} | [{rounds}] | {seen if seen else '-'} |"
        )
    lines += [
        "",
        "| classification alone (batch 1, one 48x48 face) | faces/s | rounds |",
        "|---|---:|---|",
    ]
    for name, values in classify.items():
        rounds = ", ".join(f"{v:.0f}" for v in values)
        lines.append(f"| {name} | {statistics.median(values):.0f} | [{rounds}] |")
    lines += ["", MARKER, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
