"""Record the gate's decision on a registered version and move its aliases.

A passing version of a registry in ``review.approval_required_for`` stays ``challenger``
and waits for a reviewer (``pipelines.release.review``); any other passing version
becomes ``champion`` at once. Every alias move is appended to the alias history.
"""

from __future__ import annotations

from pipelines.release import review as mr
from pipelines.release.alias_history import alias_move, history, open_history, record_moves
from pipelines.release.gate import GateDecision
from pipelines.release.registry import CHALLENGER, CHAMPION, RegisteredVersion, current_alias
from senim.config import ReviewParams


def apply_gate(
    client,
    registered: RegisteredVersion,
    decision: GateDecision,
    review: ReviewParams,
    database_url: str,
) -> mr.ReviewedDecision:
    """Record the decision on the version and move aliases; returns what the CLI prints.

    A passing version of a registry in ``review.approval_required_for`` stays
    ``challenger`` and waits for a reviewer (``review.status=awaiting_review``); any
    other passing version becomes ``champion`` at once (``auto_promoted``). Every alias
    move is appended to the alias history in the platform database (``database_url``).
    """
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
    elif decision.passed:
        reasons.append(f"champion moves to version {version} (no review required for {name})")
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
