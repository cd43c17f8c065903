"""One monitoring report for either family: Evidently compares the current window of
production traffic with the deployed model's reference data, and the thresholds of
``params.yaml`` (``monitoring``) turn the result into a decision with its reasons.

Evidently is imported here, inside the functions (seconds to import), so nothing that
only reads a stored report pays for it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from senim.atomic_files import write_text_atomically

# Fewer rows than this cannot be tested for drift at all (the summary says so).
MIN_TESTABLE_ROWS = 5
REPORT_HTML = "report.html"
SUMMARY_JSON = "summary.json"


@dataclass(frozen=True)
class ReportColumns:
    """Which columns are features (their drift share can trigger) and which are the
    model's answers (prediction drift, reported beside them)."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    prediction_numerical: tuple[str, ...] = ()
    prediction_categorical: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        return self.numerical + self.categorical

    @property
    def predictions(self) -> tuple[str, ...]:
        return self.prediction_numerical + self.prediction_categorical


@dataclass(frozen=True)
class Quality:
    """Realised quality on the rows that have outcomes, beside the model's CV estimate."""

    outcomes: int
    realised: dict[str, float]
    estimated: dict[str, float]
    drop: float | None  # estimated minus realised macro-F1; None without an estimate


@dataclass(frozen=True)
class MonitoringSummary:
    """What one monitoring run found and decided; stored as ``summary.json`` beside the
    HTML report and as tags/metrics of the deployed version's run."""

    family: str
    model: str
    version: str
    data_version: str
    window_start: str
    window_end: str
    rows: int
    reference_rows: int
    drifted_features: list[str]
    feature_drift: dict[str, dict[str, Any]]  # column -> method, score, threshold, drifted
    drift_share: float
    prediction_drift: dict[str, dict[str, Any]]
    quality: Quality | None
    thresholds: dict[str, Any]
    drift_detected: bool
    reasons: list[str] = field(default_factory=list)  # why it triggers; empty: it does not
    notes: list[str] = field(default_factory=list)  # what held it back or could not be judged

    @property
    def triggers(self) -> bool:
        return bool(self.reasons)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> MonitoringSummary:
        raw = json.loads(text)
        quality = raw.pop("quality", None)
        return cls(**raw, quality=Quality(**quality) if quality else None)

    def describe(self) -> str:
        drifted = ", ".join(self.drifted_features[:6]) or "none"
        more = (
            f" and {len(self.drifted_features) - 6} more" if len(self.drifted_features) > 6 else ""
        )
        lines = [
            f"{self.family}: {self.model} version {self.version}, window {self.window_start} to "
            f"{self.window_end}: {self.rows} rows against {self.reference_rows} reference rows",
            f"  feature drift: {len(self.drifted_features)} of {len(self.feature_drift)} "
            f"({self.drift_share:.0%}; threshold {self.thresholds['drift_share']:.0%}): "
            f"{drifted}{more}",
        ]
        for column, result in self.prediction_drift.items():
            state = "drifted" if result["drifted"] else "stable"
            lines.append(
                f"  prediction {column}: {state} ({result['method']} {result['score']:.3g})"
            )
        if self.quality is not None:
            realised = ", ".join(f"{k} {v:.3f}" for k, v in self.quality.realised.items())
            estimated = ", ".join(f"{k} {v:.3f}" for k, v in self.quality.estimated.items())
            lines.append(
                f"  realised on {self.quality.outcomes} outcomes: {realised}"
                + (f" (CV estimate: {estimated})" if estimated else "")
            )
        lines += [f"  retrain: {reason}" for reason in self.reasons]
        lines += [f"  note: {note}" for note in self.notes]
        if not self.reasons:
            lines.append("  decision: no retraining")
        return "\n".join(lines)


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: ReportColumns,
    *,
    drift_share: float,
    drift_threshold: float | None,
    title: str,
):
    """Evidently's drift report with tests (features and predictions); returns the
    snapshot and, per column, ``{"method", "score", "threshold", "drifted"}``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[*columns.numerical, *columns.prediction_numerical],
        categorical_columns=[*columns.categorical, *columns.prediction_categorical],
    )
    keep = list(columns.features + columns.predictions)
    metrics: list[Any] = [
        DataDriftPreset(
            columns=list(columns.features), drift_share=drift_share, threshold=drift_threshold
        )
    ]
    metrics += [
        ValueDrift(column=column, threshold=drift_threshold) for column in columns.predictions
    ]
    report = Report(metrics, include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(current[keep].reset_index(drop=True), data_definition=definition),
        Dataset.from_pandas(reference[keep].reset_index(drop=True), data_definition=definition),
        name=title,
    )
    return snapshot, _column_results(snapshot.dict())


def _column_results(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per column: the test's method, score, threshold and whether it failed (drift)."""
    metrics = {metric["id"]: metric for metric in raw.get("metrics", [])}
    results: dict[str, dict[str, Any]] = {}
    for test in raw.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if not params.get("type", "").endswith("ValueDrift"):
            continue
        metric = metrics.get(test["metric_config"]["metric_id"], {})
        column = params["column"]
        results[column] = {
            "method": params.get("method") or metric.get("config", {}).get("method", ""),
            "score": _finite(metric.get("value")),
            "threshold": params.get("threshold"),
            "drifted": test.get("status") == "FAIL",
        }
    return results


def _finite(value: Any) -> float | None:
    """A drift score as a number JSON can carry; None when Evidently gave none."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def run_quality_report(
    frame: pd.DataFrame, target: str, prediction: str, title: str, f1_floor: float | None
):
    """Evidently's classification report on the rows with outcomes (label vs answer),
    with its default tests and, given ``f1_floor`` (the CV estimate less
    ``max_quality_drop``), a test that realised macro-F1 stays at or above it."""
    from evidently import DataDefinition, Dataset, MulticlassClassification, Report
    from evidently.presets import ClassificationPreset
    from evidently.tests import gte

    definition = DataDefinition(
        classification=[MulticlassClassification(target=target, prediction_labels=prediction)],
        categorical_columns=[target, prediction],
    )
    f1_tests = [gte(f1_floor)] if f1_floor is not None else None
    report = Report([ClassificationPreset(f1score_tests=f1_tests)], include_tests=True)
    return report.run(
        Dataset.from_pandas(
            frame[[target, prediction]].reset_index(drop=True), data_definition=definition
        ),
        None,
        name=title,
    )


def decide(
    *,
    rows: int,
    drift_share: float,
    drifted: list[str],
    quality: Quality | None,
    thresholds: dict[str, Any],
) -> tuple[list[str], list[str]]:
    """Why to retrain (empty: do not) and notes, from the thresholds of ``params.yaml``."""
    reasons: list[str] = []
    notes: list[str] = []
    if rows < thresholds["min_rows"]:
        notes.append(
            f"only {rows} rows in the window (monitoring.min_rows {thresholds['min_rows']}): "
            "reported, never a trigger"
        )
        return reasons, notes
    if drift_share >= thresholds["drift_share"]:
        reasons.append(
            f"{len(drifted)} features drifted ({drift_share:.0%} >= monitoring.drift_share "
            f"{thresholds['drift_share']:.0%}): {', '.join(drifted[:8])}"
        )
    if quality is None:
        notes.append(
            f"fewer than {thresholds['min_outcomes']} outcomes: realised quality not judged"
        )
    elif quality.drop is not None and quality.drop > thresholds["max_quality_drop"]:
        reasons.append(
            f"realised macro-F1 {quality.realised['macro_f1']:.3f} is {quality.drop:.3f} below "
            f"the CV estimate {quality.estimated['macro_f1']:.3f} (monitoring.max_quality_drop "
            f"{thresholds['max_quality_drop']})"
        )
    return reasons, notes


def save_report(snapshots: list[Any], summary: MonitoringSummary, directory: Path) -> list[Path]:
    """``report.html`` (and ``quality.html`` when outcomes were judged) and
    ``summary.json`` in ``directory``, each written atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for snapshot, name in zip(snapshots, (REPORT_HTML, "quality.html"), strict=False):
        path = directory / name
        write_text_atomically(path, snapshot.get_html_str(as_iframe=False))
        written.append(path)
    summary_path = directory / SUMMARY_JSON
    write_text_atomically(summary_path, summary.to_json())
    return [*written, summary_path]


def latest_pointer(home: Path, family: str) -> Path:
    """``SENIM_HOME/monitoring/<family>/latest.json``: which report is the newest."""
    return home / "monitoring" / family / "latest.json"


def report_directory(home: Path, family: str, stamp: str) -> Path:
    return home / "monitoring" / family / stamp


def point_latest(home: Path, family: str, stamp: str, artifact_uri: str | None) -> None:
    """Make ``stamp``'s report the one ``senim monitor report`` and the services show."""
    payload = {"stamp": stamp, "artifact_uri": artifact_uri}
    write_text_atomically(latest_pointer(home, family), json.dumps(payload, indent=2))


def latest_report(home: Path, family: str) -> tuple[Path, MonitoringSummary] | None:
    """The newest report's directory and summary; None when no monitor has run."""
    try:
        pointer = json.loads(latest_pointer(home, family).read_text())
        directory = report_directory(home, family, str(pointer["stamp"]))
        summary = MonitoringSummary.from_json((directory / SUMMARY_JSON).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return directory, summary


def publish_report(
    client, run_id: str, directory: Path, stamp: str, summary: MonitoringSummary
) -> str:
    """Log the report's files to the deployed version's MLflow run (``monitoring/<stamp>``)
    with the headline numbers as metrics; returns the artifact URI of the folder."""
    artifact_path = f"monitoring/{stamp}"
    for path in sorted(directory.iterdir()):
        if path.is_file():
            client.log_artifact(run_id, str(path), artifact_path)
    step = int(datetime.now(UTC).timestamp())
    client.log_metric(run_id, "monitoring_rows", summary.rows, step=step)
    client.log_metric(run_id, "monitoring_drift_share", summary.drift_share, step=step)
    if summary.quality is not None:
        for key, value in summary.quality.realised.items():
            client.log_metric(run_id, f"monitoring_realised_{key}", value, step=step)
    client.set_tag(run_id, "senim.monitoring.latest", artifact_path)
    return f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"


@dataclass(frozen=True)
class MonitoringRun:
    """One family's report: its summary, the folder of its files, the deployment judged."""

    summary: MonitoringSummary
    directory: Path  # report.html, quality.html (with outcomes), summary.json
    deployment: Any


@dataclass(frozen=True)
class Window:
    """The current window of one family's traffic, and what every summary of it shares."""

    rows: pd.DataFrame
    base: dict[str, Any]  # family, model, version, data version, window, rows, thresholds
    title: str


def open_window(
    family: str, deployment: Any, sessions: Any, monitoring: Any, now: datetime
) -> Window:
    """Prune the family's rows past ``retention_days``, then read the last
    ``window_hours`` of the deployed version's rows."""
    from datetime import timedelta

    from pipelines.release.monitoring_store import prune, window_rows

    prune(sessions, family, monitoring.retention_days, now)
    start = now - timedelta(hours=monitoring.window_hours)
    # The deployed version's own traffic: its answers are what its reference is scored by.
    rows = window_rows(sessions, family, start, now, model_version=deployment.mlflow_version)
    base = {
        "family": family,
        "model": deployment.mlflow_model,
        "version": deployment.mlflow_version,
        "data_version": deployment.data_version,
        "window_start": start.isoformat(timespec="seconds"),
        "window_end": now.isoformat(timespec="seconds"),
        "rows": len(rows),
        "thresholds": monitoring.model_dump(exclude={"retrain"}),
    }
    hours = monitoring.window_hours
    title = f"{deployment.mlflow_model} v{deployment.mlflow_version}: last {hours:g} h"
    return Window(rows=rows, base=base, title=title)


def untested_summary(window: Window, what: str) -> MonitoringSummary:
    """Too few rows to test anything: the summary says so and never triggers."""
    return MonitoringSummary(
        **window.base,
        reference_rows=0,
        drifted_features=[],
        feature_drift={},
        drift_share=0.0,
        prediction_drift={},
        quality=None,
        drift_detected=False,
        notes=[f"{window.base['rows']} {what} in the window: too few to test for drift"],
    )


def judged_summary(
    window: Window,
    results: dict[str, dict[str, Any]],
    columns: ReportColumns,
    *,
    reference_rows: int,
    quality: Quality | None,
    expects_outcomes: bool,
) -> MonitoringSummary:
    """The drift results and quality turned into a summary with its decision."""
    thresholds = window.base["thresholds"]
    feature_drift = {column: results[column] for column in columns.features if column in results}
    drifted = [column for column, result in feature_drift.items() if result["drifted"]]
    share = len(drifted) / max(len(feature_drift), 1)
    reasons, notes = decide(
        rows=window.base["rows"], drift_share=share, drifted=drifted, quality=quality,
        thresholds=thresholds,
    )  # fmt: skip
    if not expects_outcomes:
        notes = [note for note in notes if "outcomes" not in note]
    return MonitoringSummary(
        **window.base,
        reference_rows=reference_rows,
        drifted_features=drifted,
        feature_drift=feature_drift,
        drift_share=share,
        prediction_drift={c: results[c] for c in columns.predictions if c in results},
        quality=quality,
        drift_detected=share >= thresholds["drift_share"],
        reasons=reasons,
        notes=notes,
    )


def deployed_for_monitoring(family: Any, stores: Any) -> Any:
    """The family's current deployment; a RegistryError saying what to run without one."""
    from pipelines.release.deploy import current_deployment
    from senim.errors import RegistryError

    deployment = current_deployment(family, stores)
    if deployment is None:
        raise RegistryError(
            f"no {family.key} model is deployed, so there is nothing to monitor "
            f"(`senim deploy {family.key}` deploys the champion)"
        )
    return deployment


def untested_run(window: Window, deployment: Any, what: str, directory: Path) -> MonitoringRun:
    """Too few rows to test: the summary alone, saved, and never a trigger."""
    summary = untested_summary(window, what)
    save_report([], summary, directory)
    return MonitoringRun(summary, directory, deployment)
