"""Register the best credit candidate with its lineage, and score the champion on the
challenger's folds for the gate (aliases: ``pipelines.release.registry``)."""

from __future__ import annotations

import json

from pipelines.common.lineage import Lineage
from pipelines.common.metric_values import finite_metrics, metric_tag, tag_decimals
from pipelines.credit.card import HEADLINE_METRICS
from pipelines.credit.evaluation import Comparison
from pipelines.credit.gate import ChampionEvidence
from pipelines.credit.tracking import RetrainingRun
from pipelines.credit.training_matrix import TrainingMatrix
from pipelines.release.registry import CHAMPION, RegisteredVersion, current_alias, register_version
from pipelines.release.review import TRAINED_BY, trained_by
from senim.config import Params


def register_best(
    client, comparison: Comparison, run: RetrainingRun, lineage: Lineage, params: Params
) -> RegisteredVersion:
    best = comparison.best_evaluation
    name = params.registry.model_name
    tags = {
        **lineage.tags(),
        "family": best.family,
        "hyperparams": json.dumps(best.hyperparams, sort_keys=True),
        "cv_folds_fingerprint": comparison.folds_fingerprint,
        "parent_run_id": run.parent_run_id,
        "selection_metric": comparison.selection_metric,
        # Bands are the model's; probabilities calibrated on company-grouped inner folds.
        "calibrated": str(best.calibrated).lower(),
        "gate.decision": "pending",
        TRAINED_BY: trained_by(),
        # The headline metrics only (the gate and the card read them); every metric is on
        # the run, so the version page stays short enough to read.
        **{
            f"cv.{k}": metric_tag(v)
            for k, v in finite_metrics(best.metrics).items()
            if k in HEADLINE_METRICS
        },
    }
    if comparison.beats_baseline is not None:
        tags["beats_thesis_baseline"] = str(comparison.beats_baseline).lower()
    return register_version(
        client,
        name,
        description=(
            "Corporate credit rating band (A+..Junk) from 25 financial ratios, the sector, "
            "the rating agency's scale and the rating year."
        ),
        source=run.model_uri,
        run_id=run.candidate_run_ids[comparison.best],
        tags=tags,
    )


def champion_evidence(
    client, name: str, matrix: TrainingMatrix, folds, fingerprint: str, params: Params
) -> ChampionEvidence | None:
    """The champion's macro-F1 on THESE folds: reuse its tag when folds match, else refit.

    Refitting the champion's recipe (family + hyperparameters) on the challenger's folds is
    the only fair comparison: scoring the champion artifact on data it was trained on
    would flatter it.
    """
    champion = current_alias(client, name, CHAMPION)
    if champion is None:
        return None
    tags = champion.tags
    if tags.get("cv_folds_fingerprint") == fingerprint and "cv.macro_f1" in tags:
        stored = tags["cv.macro_f1"]
        return ChampionEvidence(
            version=str(champion.version), macro_f1=float(stored), decimals=tag_decimals(stored)
        )
    from pipelines.credit.metrics import classification_metrics
    from pipelines.credit.tuning import CandidateSettings, oof_predictions

    # Calibration never changes a band, so the uncalibrated refit scores the same macro-F1.
    oof = oof_predictions(
        tags["family"],
        json.loads(tags["hyperparams"]),
        matrix.features,
        matrix.bands,
        folds,
        settings=CandidateSettings.from_params(params),
    )
    macro_f1 = classification_metrics(matrix.bands, oof.proba, oof.bands)["macro_f1"]
    return ChampionEvidence(version=str(champion.version), macro_f1=macro_f1)
