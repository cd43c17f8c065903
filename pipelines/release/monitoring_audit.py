"""Monitoring's entries in the audit log: each report, and each retraining it started or
was refused (another in flight), with the numbers and thresholds that decided it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from pipelines.release.drift_report import MonitoringSummary


def audit_monitoring(
    sessions: sessionmaker[Session],
    actor: str,
    action: str,
    summary: MonitoringSummary,
    extra: dict[str, Any],
    outcome: str = "success",
) -> None:
    """Write one audit event now (``monitoring.report`` or ``monitoring.retrain``)."""
    from auth.audit import AuditEvent, AuditLog

    details = {
        "model": summary.model,
        "version": summary.version,
        "window": [summary.window_start, summary.window_end],
        "rows": summary.rows,
        "drift_share": summary.drift_share,
        "drifted_features": summary.drifted_features,
        "reasons": summary.reasons,
        "notes": summary.notes,
        **extra,
    }
    AuditLog(sessions).record_sync(
        AuditEvent(
            actor=actor,
            action=action,
            resource=f"{summary.model}/{summary.version}",
            outcome=outcome,
            details=details,
        )
    )


def audit_outcomes(
    sessions: sessionmaker[Session],
    actor: str,
    family: str,
    origin: str,
    result: Any,
    request_id: str | None = None,
) -> None:
    """Write the ``monitoring.outcomes`` audit event of one accepted batch of outcomes."""
    from auth.audit import AuditEvent, AuditLog

    AuditLog(sessions).record_sync(
        AuditEvent(
            actor=actor,
            action="monitoring.outcomes",
            resource=family,
            outcome="success",
            request_id=request_id,
            details={
                "origin": origin,
                "outcomes": result.outcomes,
                "attached": result.attached,
                "unchanged": result.unchanged,
            },
        )
    )


def last_triggered_retraining(sessions: sessionmaker[Session], model: str) -> datetime | None:
    """When a monitor last started a retraining of ``model`` that registered a version."""
    import sqlalchemy as sa

    from auth.models import AuditRecord

    with sessions() as session:
        return session.execute(
            sa.select(sa.func.max(AuditRecord.at)).where(
                AuditRecord.action == "monitoring.retrain",
                AuditRecord.outcome == "success",
                AuditRecord.resource.startswith(f"{model}/"),
            )
        ).scalar()
