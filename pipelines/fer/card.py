"""The fer-emotion model card: intended use on camera hosts, the FER2013-coded data it was
trained on, PublicTest metrics with seeded bootstrap intervals, per-emotion scores, the
champion comparison and the limitations this run's facts show (small classes, int8
accuracy drop, synthetic data, FER2013's known biases).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.common.confidence_intervals import Interval
from pipelines.common.model_card import (
    Bullets,
    ChampionFacts,
    ModelCard,
    Section,
    champion_section,
    data_lines,
    fmt,
    table,
)
from pipelines.fer.schema import EMOTIONS, USAGES

HEADLINE_METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "balanced_accuracy")
BOOTSTRAPPED = ("accuracy", "macro_f1")

INTENDED_USE = (
    "Classifies the emotion (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral) of one "
    "48x48 grayscale face crop, on the device of a camera host, to raise alerts the host "
    "reviews. It is a prompt for a person to look, not a judgement about anyone."
)
OUT_OF_SCOPE = (
    "Decisions about a person (hiring, credit, policing, health, education) or inferring "
    "their inner state, intent or honesty.",
    "Identifying or tracking individuals: the model sees a face crop, not an identity.",
    "Faces that are not frontal, well lit 48x48 crops as produced by the host's detector.",
)
FER2013_BIASES = (
    "FER2013 faces were collected by web image search with emotion keywords: many "
    "expressions are posed or exaggerated, and labels are noisy (human accuracy on the "
    "set is reported at about 65%).",
    "FER2013 has no demographic labels and its demographic make-up is not balanced or "
    "documented, so accuracy across age, gender and skin tone cannot be measured here.",
)


@dataclass(frozen=True)
class FerCardFacts:
    model_name: str
    version: str
    run_id: str
    architecture: str
    profile: str
    data_version: str
    data_source: str  # params.fer.data.source
    validation_headline: str
    validation_evaluated: int
    validation_failed: int
    labels: np.ndarray  # the cleaned dataset's labels 0..6
    usage: np.ndarray  # and its usages, row-aligned
    dropped: dict[str, Any]  # clean_for_training's counts
    training_duplicates: int  # Training images repeating an earlier Training image
    evaluation_usage: str
    metrics: dict[str, Any]  # evaluate_fer on the evaluation images, as logged
    intervals: dict[str, Interval]  # bootstrap intervals for BOOTSTRAPPED
    exports: Sequence[Any]  # ExportRecord: kind, accuracy, keras_accuracy, accepted
    champion: ChampionFacts | None
    small_class_images: int  # an evaluation class with fewer images is called out


def build_fer_card(facts: FerCardFacts) -> ModelCard:
    if len(facts.labels) != len(facts.usage):
        raise ValueError(f"labels has {len(facts.labels)} entries but usage has {len(facts.usage)}")
    return ModelCard(
        title=f"Model card: {facts.model_name} version {facts.version}",
        sections=(
            Section("Intended use", (INTENDED_USE,)),
            Section("Out-of-scope use", (Bullets(OUT_OF_SCOPE),)),
            Section(
                "Model",
                (
                    Bullets(
                        (
                            f"Registered model: {facts.model_name}, version {facts.version}",
                            f"MLflow run: {facts.run_id}",
                            f"Architecture: {facts.architecture} (profile {facts.profile})",
                        )
                    ),
                ),
            ),
            _data_section(facts),
            _metrics_section(facts),
            _per_class_section(facts),
            _exports_section(facts),
            champion_section(_numbers(facts.metrics), facts.champion, HEADLINE_METRICS),
            Section("Known limitations", (Bullets(fer_limitations(facts)),)),
        ),
    )


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


def _counts(facts: FerCardFacts) -> dict[str, list[int]]:
    """Images per class for each usage present after cleaning."""
    labels = np.asarray(facts.labels, dtype=np.int64)
    usage = np.asarray(facts.usage)
    return {
        name: np.bincount(labels[usage == name], minlength=len(EMOTIONS)).tolist()
        for name in USAGES
        if (usage == name).any()
    }


def _data_section(facts: FerCardFacts) -> Section:
    counts = _counts(facts)
    rows = [
        (emotion, *(counts[name][k] for name in counts), sum(c[k] for c in counts.values()))
        for k, emotion in enumerate(EMOTIONS)
    ]
    rows.append(("total", *(sum(c) for c in counts.values()), len(facts.labels)))
    blank = facts.dropped.get("blank_dropped", {})
    blank_text = ", ".join(f"{usage} {n}" for usage, n in blank.items() if n) or "none"
    return Section(
        "Training data",
        (
            Bullets(
                (
                    *data_lines(facts),
                    f"Dropped blank images: {sum(blank.values())} ({blank_text})",
                    "Dropped Training images with an exact copy in an evaluation usage: "
                    f"{facts.dropped.get('cross_split_dropped', 0)}",
                    f"Duplicate Training images kept: {facts.training_duplicates}",
                )
            ),
            "Images per class and usage after cleaning:",
            table(("emotion", *counts, "total"), rows),
        ),
    )


def _metrics_section(facts: FerCardFacts) -> Section:
    rows = []
    for name in HEADLINE_METRICS:
        interval = facts.intervals.get(name)
        ci = f"[{fmt(interval.low)}, {fmt(interval.high)}]" if interval else "n/a"
        rows.append((name, fmt(facts.metrics.get(name)), ci))
    method = next(iter(facts.intervals.values())).method if facts.intervals else "n/a"
    images = sum(int(facts.metrics.get(f"support_{e}", 0)) for e in EMOTIONS)
    return Section(
        f"Metrics on {facts.evaluation_usage}",
        (
            f"{images} {facts.evaluation_usage} images, never trained on. 95% percentile "
            f"intervals ({method}).",
            table(("metric", "value", "95% CI"), rows),
        ),
    )


def _per_class_section(facts: FerCardFacts) -> Section:
    m = facts.metrics
    rows = [
        (
            e,
            fmt(m[f"precision_{e}"]),
            fmt(m[f"recall_{e}"]),
            fmt(m[f"f1_{e}"]),
            int(m[f"support_{e}"]),
        )
        for e in EMOTIONS
    ]
    return Section(
        f"Per-emotion precision, recall and F1 ({facts.evaluation_usage})",
        (table(("emotion", "precision", "recall", "f1", "support"), rows),),
    )


def _exports_section(facts: FerCardFacts) -> Section:
    rows = [
        (
            record.kind,
            fmt(record.accuracy),
            fmt(record.keras_accuracy - record.accuracy),
            "yes" if record.accepted else "no",
        )
        for record in facts.exports
    ]
    return Section(
        "On-device exports (TFLite)",
        (table(("export", "accuracy", "drop vs Keras", "accepted"), rows),),
    )


def fer_limitations(facts: FerCardFacts) -> tuple[str, ...]:
    """Limitations that follow from this run's facts, then FER2013's known biases."""
    notes: list[str] = []
    if facts.data_source == "synthetic":
        notes.append(
            "Trained on synthetic faces (fer.data.source = synthetic): the metrics say "
            "nothing about real faces."
        )
    for record in facts.exports:
        if record.kind == "int8":
            drop = record.keras_accuracy - record.accuracy
            state = "accepted" if record.accepted else "rejected"
            notes.append(
                f"The int8 export scores {fmt(record.accuracy)} against the Keras model's "
                f"{fmt(record.keras_accuracy)} (drop {fmt(drop)}; {state})."
            )
    for e in EMOTIONS:
        support = int(facts.metrics.get(f"support_{e}", 0))
        if support < facts.small_class_images:
            notes.append(
                f"{e} has only {support} {facts.evaluation_usage} images (fewer than "
                f"{facts.small_class_images}): its scores are unreliable."
            )
    training = _counts(facts).get("Training")
    if training and min(training) > 0 and max(training) / min(training) > 3:
        smallest = EMOTIONS[int(np.argmin(training))]
        notes.append(
            f"Training classes are imbalanced: {smallest} has {min(training)} images, the "
            f"largest class {max(training)} ({max(training) / min(training):.1f}x)."
        )
    return tuple(notes) + FER2013_BIASES
