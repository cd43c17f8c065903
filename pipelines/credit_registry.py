"""Register the best candidate, record the gate decision, and move aliases.

Registry stages are deprecated in MLflow; Senim uses aliases: ``challenger`` for the
newest registered candidate, ``champion`` for the model production serves. A version is
created with all of its lineage tags (and who trained it) in one call, and removed again
if a later step of registration fails, so no half-registered version is left behind.
Where a registry needs human review, the gate stops at ``challenger``; the reviewer's
decision (``pipelines.model_review``) moves ``champion``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipelines.candidate_evaluation import Comparison
from pipelines.credit_metrics import finite_metrics
from pipelines.credit_tracking import Lineage, RetrainingRun
from pipelines.model_review import TRAINED_BY, ReviewedDecision, trained_by
from pipelines.promotion_gate import ChampionEvidence, GateDecision
from pipelines.training_matrix import TrainingMatrix
from senim.config import Params, ReviewParams

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    model_uri: str  # models:/name/version


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
        "gate.decision": "pending",
        TRAINED_BY: trained_by(),
        **{f"cv.{k}": f"{v:.6f}" for k, v in finite_metrics(best.metrics).items()},
    }
    if comparison.beats_baseline is not None:
        tags["beats_thesis_baseline"] = str(comparison.beats_baseline).lower()
    if not _exists(client, name):
        client.create_registered_model(
            name, description="Corporate credit rating band (A+..Junk) from 25 financial ratios."
        )
    version = client.create_model_version(
        name, source=run.model_uri, run_id=run.candidate_run_ids[comparison.best], tags=tags
    )
    try:
        client.set_registered_model_alias(name, CHALLENGER, version.version)
    except BaseException:  # no half-registered version: undo, then re-raise as is
        client.delete_model_version(name, version.version)
        raise
    return RegisteredVersion(name, str(version.version), f"models:/{name}/{version.version}")


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
        return ChampionEvidence(version=str(champion.version), macro_f1=float(tags["cv.macro_f1"]))
    from pipelines.credit_metrics import classification_metrics
    from pipelines.tuning import oof_probabilities

    proba, _ = oof_probabilities(
        tags["family"],
        json.loads(tags["hyperparams"]),
        matrix.features,
        matrix.bands,
        folds,
        knn_neighbors=params.features.knn_neighbors,
        smote_k=params.smote.k_neighbors,
        seed=params.tuning.seed,
    )
    macro_f1 = classification_metrics(matrix.bands, proba)["macro_f1"]
    return ChampionEvidence(version=str(champion.version), macro_f1=macro_f1)


def current_alias(client, name: str, alias: str):
    """The version ``alias`` points at, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    if not _exists(client, name):
        return None
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise


def _exists(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def apply_gate(
    client,
    registered: RegisteredVersion,
    decision: GateDecision,
    review: ReviewParams,
    database_url: str,
) -> ReviewedDecision:
    """Record the decision on the version and move aliases; returns what the CLI prints.

    A passing version of a registry in ``review.approval_required_for`` stays
    ``challenger`` and waits for a reviewer (``review.status=awaiting_review``); any
    other passing version becomes ``champion`` at once (``auto_promoted``). Every alias
    move is appended to the alias history in the auth database (``database_url``).
    """
    from pipelines import model_review as mr
    from pipelines.alias_history import alias_move, history, open_history, record_moves

    name, version = registered.name, registered.version
    sessions = open_history(database_url)
    tags = client.get_model_version(name, version).tags or {}
    trainer = tags.get(mr.TRAINED_BY) or mr.trained_by()
    awaiting = decision.passed and mr.approval_required(review, name)
    reasons = list(decision.reasons)
    if awaiting:
        reasons.append(
            f"{name} needs a reviewer (review.approval_required_for): champion moves after "
            f"`senim review approve {name} {version}`"
        )
    outcome = mr.ReviewedDecision(passed=decision.passed, reasons=reasons, awaiting_review=awaiting)
    status = (
        mr.GATE_FAILED if not decision.passed else mr.AWAITING if awaiting else mr.AUTO_PROMOTED
    )
    for key, value in (
        (mr.TRAINED_BY, trainer),
        ("gate.decision", outcome.label),
        ("gate.reasons", "\n".join(reasons)[:4900]),
        (mr.GATE, "passed" if decision.passed else "failed"),
        (mr.STATUS, status),
    ):
        client.set_model_version_tag(name, version, key, value)
    earlier = [m for m in history(sessions, name) if m.alias == CHALLENGER]
    moves = [
        alias_move(
            name,
            CHALLENGER,
            earlier[-1].to_version if earlier else None,
            version,
            "gate",
            trainer,
            outcome.summary()[:4000],
        )
    ]
    if decision.passed and not awaiting:
        previous = current_alias(client, name, CHAMPION)
        client.set_registered_model_alias(name, CHAMPION, version)
        client.delete_registered_model_alias(name, CHALLENGER)
        why = "gate passed; no review required for this registry"
        moves.append(
            alias_move(name, CHAMPION, previous and previous.version, version, "auto", trainer, why)
        )
        moves.append(alias_move(name, CHALLENGER, version, None, "auto", trainer, why))
    try:
        record_moves(sessions, moves)
    finally:
        sessions.kw["bind"].dispose()
    return outcome
