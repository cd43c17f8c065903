"""``senim monitor`` (run a family's monitor now, show its latest report) and
``senim credit outcomes`` (attach realised ratings to logged predictions)."""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

monitor_app = typer.Typer(
    help="Watch production: drift and quality reports on the prediction log, and the "
    "retraining they trigger.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)


class Family(StrEnum):
    credit = "credit"
    emotion = "emotion"


FamilyArg = Annotated[Family, typer.Argument(help="credit or emotion.")]
ParamsOption = Annotated[
    Path | None,
    typer.Option("--params", help="params.yaml to use (default: the workspace's params.yaml)."),
]


def _stores():
    from senim.environment import prepare_home, resolve_stores

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    stores = resolve_stores()
    prepare_home(stores)
    return stores


@monitor_app.command("run")
def monitor_run(
    family: FamilyArg,
    window_hours: Annotated[
        float | None,
        typer.Option(
            "--window-hours", help="The current window (default monitoring.window_hours)."
        ),
    ] = None,
    no_retrain: Annotated[
        bool, typer.Option("--no-retrain", help="Report only, even when a threshold is passed.")
    ] = False,
    params: ParamsOption = None,
) -> None:
    """Run the family's monitor now (the flow the daily deployment runs): report on the
    last window of traffic, and retrain when a threshold of `monitoring` is passed."""
    stores = _stores()
    params_path = str(params or stores.params_path)
    if family is Family.credit:
        from flows.monitor_credit import monitor_credit as monitor
    else:
        from flows.monitor_emotion import monitor_emotion as monitor
    result = monitor(params_path=params_path, window_hours=window_hours, retrain=not no_retrain)
    retraining = result["retraining"]
    if retraining.get("started"):
        out.print(
            f"retraining started: version {retraining['registered_version']} registered, "
            f"gate: {retraining['decision']}",
            markup=False,
        )
    else:
        out.print(f"no retraining: {retraining.get('why', 'not needed')}", markup=False)
    html = Path(result["report"]) / "report.html"
    shown = html if html.is_file() else Path(result["report"]) / "summary.json"
    out.print(f"report: {shown}", markup=False, highlight=False)


@monitor_app.command("report")
def monitor_report(
    family: FamilyArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Copy the latest HTML report here (open it in a browser)."),
    ] = None,
) -> None:
    """Print the latest monitoring report's findings; `--output` copies its HTML."""
    from pipelines.release.drift_report import REPORT_HTML, latest_report
    from senim.errors import DataError

    stores = _stores()
    latest = latest_report(stores.home, family.value)
    if latest is None:
        raise DataError(
            f"no {family.value} monitoring report yet: `senim monitor run {family.value}` "
            "makes one (the daily deployment too)"
        )
    directory, summary = latest
    out.print(summary.describe(), markup=False, highlight=False)
    html = directory / REPORT_HTML
    if output is not None:
        if not html.is_file():
            raise DataError(f"the latest report has no HTML (too few rows to test): {directory}")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(html, output)
        out.print(f"wrote {output}", markup=False, highlight=False)
    elif html.is_file():
        out.print(f"HTML: {html}", markup=False, highlight=False)


def attach_credit_outcomes(input_path: Path, replace: bool) -> None:
    """``senim credit outcomes``: read, check and attach, or name every problem."""
    from pipelines.credit.outcomes import FAMILY, read_outcomes_csv_checked
    from pipelines.release.monitoring_audit import audit_outcomes
    from pipelines.release.monitoring_store import (
        attach_outcomes,
        close_monitoring,
        open_monitoring,
    )

    stores = _stores()
    outcomes, problems = read_outcomes_csv_checked(input_path)
    actor = f"cli:{_login_name()}"
    sessions = open_monitoring(stores.database_url)
    try:
        result = attach_outcomes(
            sessions, FAMILY, outcomes, by=actor, origin=str(input_path), replace=replace,
            problems=problems,
        )  # fmt: skip
        audit_outcomes(sessions, actor, FAMILY, str(input_path), result)
    finally:
        close_monitoring(sessions)
    out.print(
        f"{result.outcomes} outcomes from {input_path}: {result.attached} predictions "
        f"received their realised band, {result.unchanged} already had it",
        markup=False,
        highlight=False,
    )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}" if sys.platform != "win32" else "unknown"
