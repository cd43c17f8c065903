"""Gather an emotion retraining's review evidence: the model card (no fairness slices:
FER2013 carries no demographic or other slice columns to slice by).

Intervals come from a seeded bootstrap over the evaluation images the gate used, so a
reviewer re-running it with the same seed gets the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipelines.common.confidence_intervals import bootstrap_intervals
from pipelines.common.model_card import ChampionFacts, to_html, to_markdown
from pipelines.fer.card import FerCardFacts, build_fer_card
from pipelines.fer.gate import FerChampionEvidence
from pipelines.fer.schema import EMOTIONS, FerDataset
from pipelines.release.evidence import EvidenceFiles
from senim.config import Params

BOOTSTRAP_RESAMPLES = 1000
SMALL_CLASS_IMAGES = 30  # fewer evaluation images than this: per-class scores are noise


def fer_champion_facts(
    client, name: str, champion: FerChampionEvidence | None, data_version: str
) -> ChampionFacts | None:
    """The gate's champion evidence (accuracy on these images) plus its recorded macro-F1."""
    if champion is None:
        return None
    tags = client.get_model_version(name, champion.version).tags or {}
    metrics = {"accuracy": champion.accuracy}
    if "eval.macro_f1" in tags:
        metrics["macro_f1"] = float(tags["eval.macro_f1"])
    recorded_on = tags.get("data_version", "unknown")
    note = "The champion's accuracy is on the same evaluation images as this version's."
    if "macro_f1" in metrics and recorded_on != data_version:
        note += f" Its macro_f1 was recorded on data version {recorded_on}."
    return ChampionFacts(champion.version, metrics, note)


def fer_evidence(
    *,
    model_name: str,
    version: str,
    run_id: str,
    cleaned: FerDataset,
    dropped: dict[str, Any],
    validation,  # pipelines.fer.validate.FerValidationResult
    evaluation_usage: str,
    evaluation_y: np.ndarray,
    proba: np.ndarray,
    metrics: dict[str, Any],
    exports: Sequence[Any],
    champion: ChampionFacts | None,
    data_version: str,
    params: Params,
) -> EvidenceFiles:
    """The card, Markdown and HTML rendered from one content."""
    active = params.fer.training.active
    intervals = bootstrap_intervals(
        evaluation_y,
        np.asarray(proba).argmax(axis=1),
        n_classes=len(EMOTIONS),
        n_resamples=BOOTSTRAP_RESAMPLES,
        seed=params.fer.training.seed,
    )
    card = build_fer_card(
        FerCardFacts(
            model_name=model_name,
            version=version,
            run_id=run_id,
            architecture=active.architecture,
            profile=params.fer.training.profile,
            data_version=data_version,
            data_source=params.fer.data.source,
            validation_headline=validation.headline(),
            validation_evaluated=int(validation.evaluated),
            validation_failed=len(validation.failures),
            labels=cleaned.y,
            usage=cleaned.usage,
            dropped=dropped,
            training_duplicates=int(validation.duplicates.training_redundant),
            evaluation_usage=evaluation_usage,
            metrics=metrics,
            intervals=intervals,
            exports=exports,
            champion=champion,
            small_class_images=SMALL_CLASS_IMAGES,
        )
    )
    return EvidenceFiles(card_markdown=to_markdown(card), card_html=to_html(card))
