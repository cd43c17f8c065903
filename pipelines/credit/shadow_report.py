"""How a shadowed challenger would have answered live credit traffic.

In shadow mode (``senim deploy credit --shadow challenger``) the service writes the
challenger's answer to every scored request into the prediction log next to the live one
(``role = shadow``, same request id). This report pairs them row by row and says what a
reviewer needs before approving: how often the band and the decision agree, where bands
move (a live x shadow matrix), how far scores move, and what the shadow costs in time.
It is printed by ``senim deploy shadow-report credit`` and logged on the challenger's run
as evidence (``evidence/shadow-report.json`` and ``.md``), which the review desk freezes
into the decision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from pipelines.credit.rating_bands import BANDS
from senim.errors import DataError

REPORT_JSON = "shadow-report.json"
REPORT_MD = "shadow-report.md"
EVIDENCE_DIR = "evidence"
TAG_SHADOW_SHA = "evidence.shadow.sha256"
TAG_SHADOW_PATH = "evidence.shadow.path"
TAG_SHADOW_AGREEMENT = "evidence.shadow.band_agreement"


@dataclass(frozen=True)
class ShadowReport:
    model_name: str
    shadow_version: str
    live_versions: list[str]
    requests: int  # shadowed requests found
    shadow_errors: int  # requests the shadow failed on
    unpaired: int  # shadow answers whose live answer is not in the log
    rows: int  # compared rows (applications)
    band_agreement: float
    decision_agreement: float
    within_one_band: float
    band_shift: dict[str, dict[str, int]]  # live band -> shadow band -> rows
    score_difference: dict[str, float]  # shadow - live: mean, quantiles, max |diff|
    latency_ms: dict[str, dict[str, float]]  # live / shadow: p50, p99
    first: str | None
    last: str | None
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def markdown(self) -> str:
        lines = [
            f"# Shadow report: {self.model_name} version {self.shadow_version}",
            "",
            f"Live traffic scored by version(s) {', '.join(self.live_versions) or '-'} from "
            f"{self.first} to {self.last}: {self.requests} requests, {self.rows} applications "
            f"compared ({self.shadow_errors} shadow errors, {self.unpaired} unpaired).",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| band agreement | {self.band_agreement:.4f} |",
            f"| within one band | {self.within_one_band:.4f} |",
            f"| decision agreement | {self.decision_agreement:.4f} |",
        ]
        for key, value in self.score_difference.items():
            lines.append(f"| score difference (shadow - live) {key} | {value:+.3f} |")
        for role, values in self.latency_ms.items():
            for key, value in values.items():
                lines.append(f"| {role} latency {key} (ms) | {value:.2f} |")
        bands = list(reversed(BANDS))
        lines += [
            "",
            "Band shift (rows: live band, columns: shadow band):",
            "",
            "| live \\ shadow | " + " | ".join(bands) + " |",
            "| --- |" + " --- |" * len(bands),
        ]
        for live in bands:
            counts = self.band_shift.get(live, {})
            lines.append(f"| {live} | " + " | ".join(str(counts.get(s, 0)) for s in bands) + " |")
        if self.errors:
            lines += ["", "Shadow errors (first few):", ""]
            lines += [f"- {error}" for error in self.errors]
        return "\n".join(lines) + "\n"


def build_shadow_report(
    engine: sa.Engine, model_name: str, shadow_version: str, since: datetime | None = None
) -> ShadowReport:
    """The report over every shadow answer of ``shadow_version`` in the prediction log
    (from ``since`` on). DataError when there is none to compare."""
    from senim.platform_db.tables import PredictionLogRecord

    table = PredictionLogRecord.__table__
    query = sa.select(table).where(
        table.c.role == "shadow",
        table.c.model_name == model_name,
        table.c.model_version == str(shadow_version),
    )
    if since is not None:
        query = query.where(table.c.at >= since)
    with engine.connect() as connection:
        shadows = [dict(row._mapping) for row in connection.execute(query.order_by(table.c.id))]
        ids = [row["request_id"] for row in shadows if row["request_id"]]
        live_rows: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found = connection.execute(
                sa.select(table).where(table.c.role == "live", table.c.request_id.in_(chunk))
            )
            live_rows.update({row.request_id: dict(row._mapping) for row in found})
    if not shadows:
        raise DataError(
            f"the prediction log holds no shadow answers of {model_name} version "
            f"{shadow_version}: deploy it with `senim deploy credit --shadow ALIAS` and send "
            "traffic first"
        )
    return _compare(model_name, str(shadow_version), shadows, live_rows)


def _compare(
    model_name: str,
    shadow_version: str,
    shadows: list[dict[str, Any]],
    live_rows: dict[str, dict[str, Any]],
) -> ShadowReport:
    shift: dict[str, dict[str, int]] = {}
    same_band = same_decision = within_one = rows = 0
    differences: list[float] = []
    errors: list[str] = []
    shadow_latency = [float(row["latency_ms"]) for row in shadows if row["status"] == "ok"]
    live_latency: list[float] = []
    live_versions: set[str] = set()
    failed = unpaired = 0
    order = {band: index for index, band in enumerate(BANDS)}
    for shadow in shadows:
        if shadow["status"] != "ok":
            failed += 1
            if len(errors) < 5:
                errors.append(str(shadow["error"]))
            continue
        live = live_rows.get(shadow["request_id"] or "")
        if live is None or live["status"] != "ok":
            unpaired += 1
            continue
        live_versions.add(str(live["model_version"]))
        live_latency.append(float(live["latency_ms"]))
        for mine, theirs in zip(
            json.loads(live["outputs"]), json.loads(shadow["outputs"]), strict=False
        ):
            rows += 1
            live_band, shadow_band = mine["rating_band"], theirs["rating_band"]
            row = shift.setdefault(live_band, {})
            row[shadow_band] = row.get(shadow_band, 0) + 1
            same_band += live_band == shadow_band
            within_one += abs(order.get(live_band, 0) - order.get(shadow_band, 0)) <= 1
            same_decision += mine["decision"] == theirs["decision"]
            differences.append(float(theirs["score"]) - float(mine["score"]))
    if rows == 0:
        raise DataError(
            f"none of the {len(shadows)} shadow answers of {model_name} version "
            f"{shadow_version} has a live answer to compare with"
        )
    diff = np.asarray(differences)
    stamps = [row["at"] for row in shadows]
    return ShadowReport(
        model_name=model_name,
        shadow_version=shadow_version,
        live_versions=sorted(live_versions),
        requests=len(shadows),
        shadow_errors=failed,
        unpaired=unpaired,
        rows=rows,
        band_agreement=same_band / rows,
        decision_agreement=same_decision / rows,
        within_one_band=within_one / rows,
        band_shift=shift,
        score_difference={
            "mean": float(diff.mean()),
            "p05": float(np.quantile(diff, 0.05)),
            "p50": float(np.quantile(diff, 0.5)),
            "p95": float(np.quantile(diff, 0.95)),
            "max_abs": float(np.abs(diff).max()),
        },
        latency_ms={
            "live": _latency(live_latency),
            "shadow": _latency(shadow_latency),
        },
        first=str(min(stamps)) if stamps else None,
        last=str(max(stamps)) if stamps else None,
        errors=errors,
    )


def _latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values)
    return {"p50": float(np.quantile(array, 0.5)), "p99": float(np.quantile(array, 0.99))}


def attach_to_challenger(client: Any, report: ShadowReport, out_dir: Path) -> dict[str, str]:
    """Write the report under ``out_dir``, log it on the shadow version's run and tag the
    version with its hash, so the review desk includes it. Returns the tags set."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = report.as_json()
    (out_dir / REPORT_JSON).write_text(text)
    (out_dir / REPORT_MD).write_text(report.markdown())
    version = client.get_model_version(report.model_name, report.shadow_version)
    if version.run_id:
        for name in (REPORT_JSON, REPORT_MD):
            client.log_artifact(version.run_id, str(out_dir / name), artifact_path=EVIDENCE_DIR)
    tags = {
        TAG_SHADOW_SHA: hashlib.sha256(text.encode()).hexdigest(),
        TAG_SHADOW_PATH: f"{EVIDENCE_DIR}/{REPORT_JSON}",
        TAG_SHADOW_AGREEMENT: f"{report.band_agreement:.4f}",
    }
    for key, value in tags.items():
        client.set_model_version_tag(report.model_name, report.shadow_version, key, value)
    return tags
