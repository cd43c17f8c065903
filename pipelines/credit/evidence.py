"""Gather a credit retraining's review evidence: the model card and the fairness report.

Everything comes from what the flow already holds: the selected candidate's out-of-fold
probabilities (the honest predictions: no row predicted by a model that saw its
company), the grouped folds, the snapshot and its validation result, and the champion
as it was before this version was registered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipelines.common.model_card import ChampionFacts, to_html, to_markdown
from pipelines.credit.card import HEADLINE_METRICS, CreditCardFacts, build_credit_card
from pipelines.credit.evaluation import CandidateEvaluation
from pipelines.credit.fairness import slice_report
from pipelines.credit.metrics import credit_fold_intervals
from pipelines.release.evidence import EvidenceFiles
from pipelines.release.registry import CHAMPION, current_alias
from senim.config import Params


def champion_facts(client, name: str, fingerprint: str) -> ChampionFacts | None:
    """The current champion's recorded headline metrics (its ``cv.*`` tags), or None."""
    champion = current_alias(client, name, CHAMPION)
    if champion is None:
        return None
    tags = champion.tags or {}
    metrics = {m: float(tags[f"cv.{m}"]) for m in HEADLINE_METRICS if f"cv.{m}" in tags}
    if tags.get("cv_folds_fingerprint") == fingerprint:
        note = "The champion's metrics were recorded on the same folds as this version's."
    else:
        note = (
            "The champion's metrics were recorded on other folds or data (data version "
            f"{tags.get('data_version', 'unknown')}); the gate refits it on this version's "
            "folds for macro_f1 (see the version's gate.reasons)."
        )
    return ChampionFacts(str(champion.version), metrics, note)


def credit_evidence(
    *,
    model_name: str,
    version: str,
    run_id: str,
    evaluation: CandidateEvaluation,
    frame: pd.DataFrame,
    bands: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    data_version: str,
    validation,  # pipelines.credit.validate.ValidationResult
    champion: ChampionFacts | None,
    params: Params,
) -> EvidenceFiles:
    """The card (Markdown and HTML from one content) and the fairness report."""
    fairness_params = params.review.fairness
    oof_proba, predicted = evaluation.oof_proba, evaluation.oof_bands
    fairness = slice_report(frame.reset_index(drop=True), bands, predicted, fairness_params)
    card = build_credit_card(
        CreditCardFacts(
            model_name=model_name,
            version=version,
            run_id=run_id,
            candidate=evaluation.name,
            data_version=data_version,
            data_source=params.data.source,
            validation_headline=validation.summary(),
            validation_evaluated=int(validation.evaluated),
            validation_failed=len(validation.failures),
            frame=frame.reset_index(drop=True),
            bands=np.asarray(bands),
            metrics=evaluation.metrics,
            intervals=credit_fold_intervals(bands, oof_proba, folds, predicted),
            per_band=evaluation.per_band,
            champion=champion,
            fairness=fairness,
            small_band_rows=fairness_params.min_slice_size,
        )
    )
    return EvidenceFiles(
        card_markdown=to_markdown(card),
        card_html=to_html(card),
        fairness_markdown=fairness.to_markdown(),
        fairness_json=fairness.to_json(),
        fairness_flagged=len(fairness.flagged),
        notes=tuple(
            f"fairness: {s.column} = {s.value} scores {fairness.metric} {s.metric:.3f}, "
            f"{s.gap:.3f} below overall ({s.size} rows; review.fairness.max_gap "
            f"{fairness_params.max_gap:g})"
            for s in fairness.flagged
        ),
    )
