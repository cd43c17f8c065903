"""The ``senim`` command line: one typed command per job.

Every job error is a ``SenimError`` whose message names the problem; ``main`` prints it
as one line on stderr and exits non-zero (``--verbose`` adds the traceback).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from senim.errors import ConfigError, DataError, SenimError

app = typer.Typer(
    help="Senim: data to production for credit-rating and emotion-recognition models: "
    "version and validate the data, train and compare, register, review, deploy and serve, "
    "and hand the emotion model to camera hosts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Markdown joins a docstring's wrapped lines into paragraphs that fit the terminal.
    rich_markup_mode="markdown",
)
credit_app = typer.Typer(
    help="Credit-rating models: train, predict, synthetic data.", no_args_is_help=True
)
stage_app = typer.Typer(
    help="Single pipeline stages, as dvc.yaml calls them.", no_args_is_help=True
)
deploy_app = typer.Typer(
    help="Deploy registered models: import into BentoML and build a pinned Bento.",
    no_args_is_help=True,
)
serve_app = typer.Typer(help="Serve the deployed Bentos over HTTP.", no_args_is_help=True)
fer_app = typer.Typer(
    help="FER2013 emotion models: train (any of the three data forms), predict.",
    no_args_is_help=True,
)
app.add_typer(credit_app, name="credit")
app.add_typer(stage_app, name="stage")
app.add_typer(deploy_app, name="deploy")
app.add_typer(serve_app, name="serve")
app.add_typer(fer_app, name="fer")
edge_app = typer.Typer(help="Camera hosts as the server sees them.", no_args_is_help=True)
app.add_typer(edge_app, name="edge")


def _register_auth_commands() -> None:
    from senim.cli.auth_commands import audit_app, keys_app, users_app

    app.add_typer(users_app, name="users")
    app.add_typer(keys_app, name="keys")
    app.add_typer(audit_app, name="audit")


_register_auth_commands()


def _register_mlflow_commands() -> None:
    from senim.cli.mlflow_commands import mlflow_app

    app.add_typer(mlflow_app, name="mlflow")


_register_mlflow_commands()


def _register_review_commands() -> None:
    from senim.cli.review_commands import models_app, review_app

    app.add_typer(review_app, name="review")
    app.add_typer(models_app, name="models")


_register_review_commands()


def _register_monitor_commands() -> None:
    from senim.cli.monitor_commands import monitor_app

    app.add_typer(monitor_app, name="monitor")


_register_monitor_commands()


def _register_prefect_commands() -> None:
    from senim.cli.prefect_commands import prefect_app

    app.add_typer(prefect_app, name="prefect")


_register_prefect_commands()

# Piped output (CI logs, `| tee`) gets a wide console so the comparison table never truncates.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, soft_wrap=True)
_state = {"verbose": False}

ParamsOption = Annotated[
    Path | None,
    typer.Option("--params", help="params.yaml to use (default: the workspace's params.yaml)."),
]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"senim {version('senim')}")
        raise typer.Exit()


@app.callback()
def _global(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks and Prefect logs.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    _state["verbose"] = verbose


def _prepare():
    """Resolve stores and keep Prefect/matplotlib state under SENIM_HOME, before imports."""
    from senim.environment import prepare_home, resolve_stores

    if not _state["verbose"]:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        if sys.stderr.isatty():  # a person is reading: native libraries' chatter off
            from senim.native_noise import filter_native_stderr

            filter_native_stderr()
    stores = resolve_stores()
    prepare_home(stores)
    return stores


@contextmanager
def _progress_bars() -> Iterator[None]:
    """Bars and stage lines on stderr for whatever the job reports (senim.progress)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from senim.progress import RichReporter, set_reporter

    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        set_reporter(RichReporter(progress))
        try:
            yield
        finally:
            set_reporter(None)


def _run_retraining(**flow_kwargs) -> None:
    _prepare()
    from flows.retrain_credit import retrain_credit

    with _progress_bars():
        summary = retrain_credit(**flow_kwargs)
    out.print()
    out.print(_comparison_table(summary.comparison_csv))
    verdict = {True: "yes", False: "NO", None: "n/a (baseline disabled)"}[summary.beats_baseline]
    out.print(f"best model: {summary.best}   beats thesis baseline: {verdict}")
    out.print(f"data version (DVC md5): {summary.data_version}")
    if summary.decision == "unchanged":
        out.print("[bold]no new version[/]: this data, params and code are registered already")
    else:
        out.print(
            f"registered credit-rating version {summary.registered_version}; "
            f"gate decision: [bold]{summary.decision}[/]"
        )
    for reason in summary.decision_reasons:
        out.print(f"  - {reason}", markup=False)
    _print_review_hint(summary.decision, "credit-rating", summary.registered_version)
    out.print(f"reports: {summary.reports_dir}")
    out.print(f"open the MLflow UI: {summary.mlflow_ui}", markup=False, highlight=False)


def _comparison_table(csv_path: str):
    """The columns a reviewer reads first; the full table is in the reports folder."""
    import pandas as pd
    from rich.table import Table

    frame = pd.read_csv(csv_path)
    columns = [
        ("model", "model"),
        ("macro_f1", "macro-F1"),
        ("balanced_accuracy", "bal. acc"),
        ("accuracy", "accuracy"),
        ("roc_auc_ovr", "ROC-AUC"),
        ("mean_abs_band_error", "band MAE"),
        ("within_one_band_accuracy", "within 1 band"),
        ("seconds", "seconds"),
    ]
    table = Table(title="Candidates under company-grouped cross-validation", title_justify="left")
    for key, label in columns:
        table.add_column(label, justify="left" if key == "model" else "right")
    for _, row in frame.iterrows():
        table.add_row(
            *(
                str(row[k]) if k == "model" else f"{row[k]:.{1 if k == 'seconds' else 3}f}"
                for k, _ in columns
            )
        )
    return table


@app.command("run")
def run(params: ParamsOption = None) -> None:
    """The main job: retrain both model families on params.yaml's sources (synthetic by
    default), so a fresh machine ends with credit-rating and fer-emotion registered.

    Credit: ingests and versions the data (DVC), validates it (Great Expectations), tunes
    four model families plus the thesis baseline under company-grouped CV, registers the
    best as credit-rating and applies the promotion gate. Emotion: the retrain-fer flow on
    the configured profile (quick by default). Prints the comparison table, the gate
    decisions and the command that opens the MLflow UI.
    """
    _run_retraining(params_path=str(params) if params else None)
    _run_fer_training(params_path=str(params) if params else None)


@credit_app.command("train")
def credit_train(
    data: Annotated[
        Path | None, typer.Option("--data", help="CSV in the corporate_rating schema to train on.")
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option("--snapshot", help="Already versioned snapshot (skips ingest and dvc add)."),
    ] = None,
    reports: Annotated[
        Path | None, typer.Option("--reports", help="Folder for comparison tables, plots, metrics.")
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Run the retrain-credit flow on a CSV file (or the configured source)."""
    if data is not None and snapshot is not None:
        raise SenimError("give either --data or --snapshot, not both")
    for option, path in (("--data", data), ("--snapshot", snapshot)):
        if path is not None and not path.is_file():
            raise DataError(f"{option}: credit data file not found: {path}")
    _run_retraining(
        params_path=str(params) if params else None,
        data_csv=str(data) if data else None,
        snapshot=str(snapshot) if snapshot else None,
        reports_dir=str(reports) if reports else None,
    )


@credit_app.command("predict")
def credit_predict(
    input: Annotated[Path, typer.Option("--input", help="CSV with the 25 ratios and Sector.")],
    output: Annotated[Path, typer.Option("--output", help="Where to write the predictions CSV.")],
    model_uri: Annotated[
        str, typer.Option("--model-uri", help="MLflow model URI (alias or version).")
    ] = "models:/credit-rating@champion",
) -> None:
    """Score a CSV: one output row per input row, in the same order.

    Input needs the 25 financial ratios and Sector; Name and Symbol are carried over,
    Rating and any other columns are ignored, and empty ratio cells are imputed.
    Optional: Rating Agency Name (the scale to rate on; default
    scoring.default_rating_agency) and Date (M/D/YYYY, the rating's date; default
    today); an empty cell takes the default. Output
    columns: Name, Symbol (when given), rating_band (A+, A, BBB, BB, B, Junk), band_code
    (5..0), p_A+ .. p_Junk, score (0-100 = 100 x expected band code / 5: 0 is certainly
    Junk, 100 certainly A+), decision (approve / review / reject, as the service decides)
    and model_version (the registry version the alias resolved to).
    """
    stores = _prepare()
    from pipelines.common.mlflow_store import check_reachable, mlflow_client
    from pipelines.credit.predict import (
        load_model,
        officer_rows,
        predict_frame,
        write_predictions,
    )
    from pipelines.credit.scoring_inputs import ScoringDefaults
    from pipelines.credit.sources import read_scoring_csv, read_scoring_identifiers
    from senim.config import load_params

    scoring = load_params(stores.params_path).scoring
    features = read_scoring_csv(input, ScoringDefaults.today(scoring.default_rating_agency))
    identifiers = read_scoring_identifiers(input)
    check_reachable(stores)
    loaded = load_model(mlflow_client(stores), model_uri)
    write_predictions(officer_rows(predict_frame(loaded, features), identifiers, scoring), output)
    out.print(f"wrote {len(features)} predictions from {loaded.uri} to {output}")


@credit_app.command("generate")
def credit_generate(
    output: Annotated[Path, typer.Option("--output", help="CSV file to write.")],
    companies: Annotated[
        int | None, typer.Option("--companies", help="Number of companies.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    drift: Annotated[
        float | None,
        typer.Option(
            "--drift",
            help="A downturn for monitoring demos: ratios look 3 x DRIFT notches worse than "
            "each rating (0 to 2; 0 is the ordinary data; README, Monitoring).",
        ),
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Write seeded synthetic data in the corporate_rating schema."""
    stores = _prepare()
    from pipelines.credit.synthetic import write_synthetic_credit_csv
    from senim.config import load_params

    synthetic = load_params(params or stores.params_path).synthetic
    given = {"n_companies": companies, "seed": seed, "drift": drift}
    overrides = {k: v for k, v in given.items() if v is not None}
    from pydantic import ValidationError

    try:
        synthetic = type(synthetic).model_validate({**synthetic.model_dump(), **overrides})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'.'.join(map(str, e['loc'])).replace('n_companies', 'companies')}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"synthetic data options: {problems}") from None
    path = write_synthetic_credit_csv(output, synthetic)
    out.print(f"wrote synthetic credit data to {path}")


@credit_app.command("outcomes")
def credit_outcomes(
    input_path: Annotated[
        Path,
        typer.Option(
            "--input",
            help="CSV of realised ratings: request_id (and row), or Name and Date; "
            "then Rating (agency rating) or band.",
        ),
    ],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Overwrite an outcome already attached to a prediction."),
    ] = False,
) -> None:
    """Attach realised ratings to logged predictions, for monitoring's quality check.
    All or nothing: an unknown request id, a bad label or a duplicate is named and
    nothing is attached."""
    from senim.cli.monitor_commands import attach_credit_outcomes

    attach_credit_outcomes(input_path, replace)


@credit_app.command("load-postgres")
def credit_load_postgres(
    csv: Annotated[Path, typer.Option("--csv", help="CSV in the corporate_rating schema.")],
    table: Annotated[str, typer.Option("--table", help="Target table.")] = "credit_ratings",
) -> None:
    """Copy a CSV into the PostgreSQL table named by SENIM_SOURCE_DSN (replacing it)."""
    stores = _prepare()
    from pipelines.credit.sources import read_credit_csv, write_credit_postgres

    if not stores.source_dsn:
        raise SenimError("SENIM_SOURCE_DSN is not set (e.g. postgresql://user:pw@host:5432/db)")
    frame = read_credit_csv(csv)
    write_credit_postgres(frame, stores.source_dsn, table)
    out.print(f"loaded {len(frame)} rows into {table}")


@stage_app.command("ingest")
def stage_ingest(
    output: Annotated[Path, typer.Option("--out", help="Snapshot CSV to write.")],
    params: ParamsOption = None,
) -> None:
    """Read the configured source and write the snapshot (DVC tracks it as a stage output)."""
    stores = _prepare()
    from pipelines.credit.ingest import ingest
    from senim.config import load_params

    p = load_params(params or stores.params_path)
    path = ingest(p.data, p.synthetic, output, source_dsn=stores.source_dsn)
    out.print(f"snapshot written to {path}")


@stage_app.command("validate")
def stage_validate(
    snapshot: Annotated[Path, typer.Option("--snapshot", help="Snapshot CSV to validate.")],
    docs: Annotated[Path, typer.Option("--docs", help="Folder for the Data Docs HTML site.")],
    report: Annotated[Path, typer.Option("--report", help="JSON summary (a DVC metric).")],
    params: ParamsOption = None,
) -> None:
    """Run the Great Expectations suite; exit non-zero with a readable report when it fails."""
    import json

    stores = _prepare()
    from pipelines.credit.sources import read_credit_csv
    from pipelines.credit.validate import ensure_valid, validate_credit_data
    from senim.config import load_params

    p = load_params(params or stores.params_path)
    result = validate_credit_data(read_credit_csv(snapshot), p.validation, docs_dir=docs)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps(
            {
                "success": result.success,
                "evaluated": result.evaluated,
                "failed": len(result.failures),
            },
            indent=2,
        )
    )
    if not result.success:
        err.print(result.report(), markup=False, highlight=False)
    ensure_valid(result)
    out.print(f"validation passed: {result.evaluated} expectations")


@stage_app.command("fer-ingest")
def stage_fer_ingest(
    output: Annotated[Path, typer.Option("--out", help="Snapshot .npz to write.")],
    params: ParamsOption = None,
) -> None:
    """Read the configured emotion source (fer.data) and write the .npz snapshot."""
    stores = _prepare()
    from pipelines.fer.ingest import ingest_fer
    from senim.config import load_params

    fer = load_params(params or stores.params_path).fer
    path = ingest_fer(fer.data, fer.synthetic, output)
    out.print(f"FER snapshot written to {path}")


@stage_app.command("fer-validate")
def stage_fer_validate(
    snapshot: Annotated[Path, typer.Option("--snapshot", help="Snapshot .npz to validate.")],
    report: Annotated[Path, typer.Option("--report", help="JSON summary (a DVC metric).")],
    params: ParamsOption = None,
) -> None:
    """Run the FER Great Expectations suite; exit non-zero with a readable report when it fails."""
    import json
    import math

    stores = _prepare()
    from pipelines.fer.sources import read_fer_npz
    from pipelines.fer.validate import ensure_fer_valid, validate_fer_data
    from senim.config import load_params

    fer = load_params(params or stores.params_path).fer
    result = validate_fer_data(read_fer_npz(snapshot), fer.validation)
    report.parent.mkdir(parents=True, exist_ok=True)
    numbers = {k: v if math.isfinite(v) else None for k, v in result.summary.items()}
    report.write_text(json.dumps({**numbers, "success": result.success}, indent=2))
    report.with_suffix(".txt").write_text(result.report())
    if not result.success:
        err.print(result.report(), markup=False, highlight=False)
    ensure_fer_valid(result)
    out.print(result.headline())


@edge_app.command("hosts")
def edge_hosts() -> None:
    """Every camera host: online or not, last heartbeat, model version, FPS, outbox,
    events in the last day and the latest one (host access is admin)."""
    stores = _prepare()
    from auth.runtime import AuthRuntime
    from senim.config import load_params
    from serving.edge_store import host_overview

    online_seconds = load_params(stores.params_path).emotion_service.edge_online_seconds
    runtime = AuthRuntime.from_environment()
    try:
        hosts = host_overview(runtime, online_seconds=online_seconds)
    finally:
        runtime.close()
    if not hosts:
        out.print("no camera host has reported yet (senim keys create --role edge_device ...)")
        return
    from rich.table import Table

    table = Table("host", "state", "last heartbeat (UTC)", "model", "fps", "outbox",
                  "events 24 h", "latest event", box=None)  # fmt: skip
    for host in hosts:
        latest = host["recent_events"][0] if host["recent_events"] else None
        table.add_row(
            host["host_id"],
            "online" if host["online"] else "offline",
            (host["last_heartbeat_at"] or "-")[:19].replace("T", " "),
            host["model_version"] or "-",
            "-" if host["fps"] is None else f"{host['fps']:.1f}",
            "-" if host["outbox_depth"] is None else str(host["outbox_depth"]),
            str(host["events_last_day"]),
            f"{latest['rule']} ({latest['emotion']})" if latest else "-",
        )
    out.print(table)


AliasOption = Annotated[str, typer.Option("--alias", help="Registry alias to deploy.")]
RollbackOption = Annotated[
    bool, typer.Option("--rollback", help="Return to the previously deployed version.")
]
ExportOption = Annotated[
    Path | None,
    typer.Option("--export", help="Also write the deployed Bento as an archive here (for Docker)."),
]


ShadowOption = Annotated[
    str | None,
    typer.Option(
        "--shadow",
        help="Also score live traffic with models:/credit-rating@ALIAS, off the request "
        "path, never answering with it (e.g. challenger); the live model is unchanged.",
    ),
]
EndShadowOption = Annotated[
    bool, typer.Option("--end-shadow", help="Stop shadowing; the live model is unchanged.")
]


@deploy_app.command("credit")
def deploy_credit(
    alias: AliasOption = "champion",
    rollback: RollbackOption = False,
    export: ExportOption = None,
    params: ParamsOption = None,
    shadow: ShadowOption = None,
    end_shadow: EndShadowOption = False,
) -> None:
    """Pin models:/credit-rating@ALIAS to its version, import it with lineage labels and
    build its Bento (each once); --rollback returns to the previous deployment; --shadow
    runs a challenger beside the live model. Running services follow within seconds."""
    from pipelines.credit.deploy import CREDIT

    if shadow is not None or end_shadow:
        if shadow is not None and end_shadow:
            raise ConfigError("--shadow and --end-shadow exclude each other")
        if rollback or export is not None:
            raise ConfigError("--shadow/--end-shadow take no --rollback or --export")
        _shadow(CREDIT, shadow, params)
        return
    _deploy(CREDIT, alias, rollback, export, params)


def _shadow(family, alias: str | None, params: Path | None) -> None:
    stores = _prepare()
    from pipelines.common.mlflow_store import check_reachable, mlflow_client
    from pipelines.release.deploy import deploy_shadow, end_shadow
    from senim.config import load_params

    if alias is None:
        ended = end_shadow(family, stores)
        if ended is None:
            out.print(f"no {family.key} shadow was running")
        else:
            out.print(f"shadow ended: {ended.tag} (version {ended.mlflow_version})")
        return
    name = family.registered_name(load_params(params or stores.params_path))
    check_reachable(stores)
    done = deploy_shadow(family, mlflow_client(stores), stores, model_name=name, alias=alias)
    out.print(
        f"shadow: {done.tag} ({name}@{alias} = version {done.mlflow_version}) scores live "
        f"{family.key} traffic beside the current model; compare with "
        f"`senim deploy shadow-report {family.key}`",
        markup=False,
        highlight=False,
    )


@deploy_app.command("follow")
def deploy_follow(
    every: Annotated[
        float,
        typer.Option(
            "--every",
            min=0,
            help="Seconds between passes; 0 runs one pass and exits (non-zero on a failure).",
        ),
    ] = 0.0,
) -> None:
    """Deploy what champion names for every alias move not yet deployed (approvals,
    rollbacks, gates, on any machine sharing this platform database and registry).
    Running services swap to it without a restart."""
    import time

    from flows.deploy_service import FOLLOWED
    from pipelines.release.follow import follow_pass, raise_if_failed
    from senim.config import load_params

    stores = _prepare()
    while True:
        try:
            outcomes = follow_pass(FOLLOWED, stores, load_params(stores.params_path))
        except SenimError as exc:
            if not every:
                raise
            err.print(f"follow pass failed: {exc}", markup=False, highlight=False)
            outcomes = []
        for outcome in outcomes:
            (err if outcome.failed else out).print(
                outcome.describe(), markup=False, highlight=False
            )
        if not every:
            raise_if_failed(outcomes)
            if not outcomes:
                out.print("nothing to follow: no alias move since the last pass")
            return
        time.sleep(every)


@deploy_app.command("shadow-report")
def deploy_shadow_report(
    family: Annotated[str, typer.Argument(help="The family whose shadow to report: credit.")],
    version: Annotated[
        str | None,
        typer.Option("--version", help="The shadow version (default: the current shadow)."),
    ] = None,
    attach: Annotated[
        bool,
        typer.Option(
            "--attach/--no-attach",
            help="Log the report on the shadow version's run as review evidence.",
        ),
    ] = True,
) -> None:
    """Compare the shadow's answers with the live ones on the shadowed traffic: band and
    decision agreement, band shift matrix, score differences, latency."""
    if family != "credit":
        raise ConfigError(f"shadow mode exists for credit only, not {family!r}")
    stores = _prepare()
    from pipelines.common.mlflow_store import check_reachable, mlflow_client
    from pipelines.credit.deploy import CREDIT
    from pipelines.credit.shadow_report import attach_to_challenger, build_shadow_report
    from pipelines.release.deploy import shadow_deployment
    from senim.config import load_params
    from senim.platform_db.engine import make_engine

    name = CREDIT.registered_name(load_params(stores.params_path))
    if version is None:
        shadow = shadow_deployment(CREDIT, stores)
        if shadow is None:
            raise ConfigError("no credit shadow is running: pass --version N")
        version = shadow.mlflow_version
    engine = make_engine(stores.database_url)
    try:
        report = build_shadow_report(engine, name, version)
    finally:
        engine.dispose()
    out.print(report.markdown(), markup=False, highlight=False)
    out_dir = stores.home / "reports" / "shadow" / f"{name}-v{version}"
    if attach:
        check_reachable(stores)
        attach_to_challenger(mlflow_client(stores), report, out_dir)
        out.print(f"attached to {name} version {version} as evidence ({out_dir})")


@deploy_app.command("emotion")
def deploy_emotion(
    alias: AliasOption = "champion",
    rollback: RollbackOption = False,
    export: ExportOption = None,
    params: ParamsOption = None,
) -> None:
    """Pin models:/fer-emotion@ALIAS to its version, import its accepted TFLite exports
    with lineage labels and build its Bento (each once); --rollback returns to the
    previous deployment."""
    from pipelines.fer.deploy import EMOTION

    _deploy(EMOTION, alias, rollback, export, params)


def _deploy(family, alias: str, rollback: bool, export: Path | None, params: Path | None) -> None:
    stores = _prepare()
    from pipelines.common.mlflow_store import check_reachable, mlflow_client
    from pipelines.release.deploy import deploy_model, rollback_model
    from senim.config import load_params

    if rollback:
        done = rollback_model(family, stores)
        out.print(
            f"rolled back: current {family.key} deployment is {done.tag} "
            f"(version {done.mlflow_version}, data {done.data_version}, Bento {done.bento_tag})"
        )
        _export(stores, done.bento_tag, export)
        return
    params_path = params or stores.params_path
    name = family.registered_name(load_params(params_path))
    check_reachable(stores)
    done = deploy_model(
        family, mlflow_client(stores), stores, model_name=name, alias=alias,
        params_path=params_path,
    )  # fmt: skip
    what = "imported" if done.created else "already imported; made current"
    built = "built" if done.bento_built else "already built"
    out.print(
        f"{done.tag} ({name} version {done.mlflow_version}, data {done.data_version}, "
        f"commit {done.git_commit[:12]}): {what}"
    )
    if done.labels and "inference" in done.labels:
        out.print(f"inference: {done.labels['inference']}")
    out.print(f"Bento {done.bento_tag}: {built}; serve it with `senim serve {family.key}`")
    _export(stores, done.bento_tag, export)


def _export(stores, bento_tag: str | None, path: Path | None) -> None:
    if path is None:
        return
    if not bento_tag:
        raise SenimError("this deployment has no Bento to export; redeploy it")
    from pipelines.release.bento_build import export_bento

    written = export_bento(stores, bento_tag, path)
    out.print(f"exported {bento_tag} to {written}")


PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")]
HostOption = Annotated[
    str, typer.Option("--host", help="Address to bind; 0.0.0.0 for every interface.")
]
CertOption = Annotated[
    Path | None,
    typer.Option(
        "--ssl-certfile", help="Serve HTTPS with this certificate (PEM; with --ssl-keyfile)."
    ),
]
KeyOption = Annotated[
    Path | None, typer.Option("--ssl-keyfile", help="The certificate's private key (PEM).")
]
WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Serving processes; with more than one, rate limits are shared through the "
        "platform database (auth.rate_limit_store).",
    ),
]


@serve_app.command("credit")
def serve_credit(
    port: PortOption = 3000,
    host: HostOption = "127.0.0.1",
    ssl_certfile: CertOption = None,
    ssl_keyfile: KeyOption = None,
    workers: WorkersOption = 1,
) -> None:
    """Serve the current credit deployment's Bento (see `senim deploy credit`)."""
    from pipelines.credit.deploy import CREDIT

    _serve(CREDIT, host, port, ssl_certfile, ssl_keyfile, workers)


@serve_app.command("emotion")
def serve_emotion(
    port: PortOption = 3001,
    host: HostOption = "127.0.0.1",
    ssl_certfile: CertOption = None,
    ssl_keyfile: KeyOption = None,
    workers: WorkersOption = 1,
) -> None:
    """Serve the current emotion deployment's Bento (see `senim deploy emotion`)."""
    from pipelines.fer.deploy import EMOTION

    _serve(EMOTION, host, port, ssl_certfile, ssl_keyfile, workers)


def _serve(
    family, host: str, port: int, certfile: Path | None, keyfile: Path | None, workers: int = 1
) -> None:
    from pipelines.release.deploy import serve_command
    from senim.addresses import is_loopback_host

    stores = _prepare()
    command, env = serve_command(
        family, stores, host=host, port=port, ssl_certfile=certfile, ssl_keyfile=keyfile,
        workers=workers,
    )  # fmt: skip
    scheme = "https" if certfile else "http"
    plural = f" with {workers} workers (shared rate limits)" if workers > 1 else ""
    out.print(f"serving {command[4]} on {scheme}://{host}:{port}{plural} (docs at /docs)")
    if scheme == "http" and not is_loopback_host(host):
        err.print(
            f"warning: {host} is reachable from the network over plain http: API keys and "
            "tokens cross it unencrypted; pass --ssl-certfile/--ssl-keyfile or put a TLS "
            "reverse proxy in front (and list it in SENIM_TRUSTED_PROXIES)",
            markup=False,
            highlight=False,
        )
    sys.stdout.flush()
    os.execvpe(command[0], command, env)


FerFormOption = Annotated[
    str | None, typer.Option("--form", help="csv, folder or npz (default: from the path).")
]


@fer_app.command("train")
def fer_train(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="fer2013.csv, an image folder (train/, test/) or an .npz; "
            "default: fer.data in params.yaml.",
        ),
    ] = None,
    form: FerFormOption = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot", help="Already versioned .npz snapshot (skips ingest and dvc add)."
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            "--test",
            help="An extra test set in any form, evaluated and logged as test_* metrics "
            "(never used for selection or the gate).",
        ),
    ] = None,
    test_form: Annotated[
        str | None, typer.Option("--test-form", help="csv, folder or npz (default: from --test).")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="quick, cpu or full (default: params.yaml)."),
    ] = None,
    reports: Annotated[
        Path | None,
        typer.Option(
            "--reports", help="Folder for metrics, plots and exports (default: a run folder)."
        ),
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Validate, version, train, evaluate, export (TFLite) and register a FER model."""
    _prepare()
    if profile is not None and profile not in ("quick", "cpu", "full"):
        raise SenimError(f"--profile must be quick, cpu or full, got {profile!r}")
    for option, value in (("--form", form), ("--test-form", test_form)):
        if value is not None and value not in ("csv", "folder", "npz"):
            raise SenimError(f"{option} must be csv, folder or npz, got {value!r}")
    if data is not None and snapshot is not None:
        raise SenimError("give either --data or --snapshot, not both")
    for option, path in (("--data", data), ("--snapshot", snapshot), ("--test", test)):
        if path is not None and not path.exists():
            raise DataError(f"{option}: {path}: no such file or folder")
    _run_fer_training(
        params_path=str(params) if params else None,
        data_path=str(data.resolve()) if data else None,
        data_form=form,
        snapshot=str(snapshot.resolve()) if snapshot else None,
        test_path=str(test.resolve()) if test else None,
        test_form=test_form,
        profile=profile,
        reports_dir=str(reports.resolve()) if reports else None,
    )


def _run_fer_training(**options) -> None:
    from flows.retrain_fer import retrain_fer

    with _progress_bars():  # a bar per epoch, a line per epoch with PublicTest accuracy
        summary = retrain_fer(**options)
    baseline = (
        f"; paper CNN {summary.baseline_accuracy:.4f}"
        if summary.baseline_accuracy is not None
        else ""
    )
    out.print(
        f"fer-emotion version {summary.registered_version} ({summary.profile}, {summary.device}): "
        f"PublicTest accuracy {summary.accuracy:.4f}, macro-F1 {summary.macro_f1:.4f}{baseline}"
    )
    if summary.test_accuracy is not None:
        out.print(f"test set accuracy {summary.test_accuracy:.4f}")
    exports = ", ".join(
        f"{k} {'accepted' if v else 'REJECTED'}" for k, v in summary.exports.items()
    )
    out.print(f"exports: {exports}; gate: {summary.decision}")
    for reason in summary.decision_reasons:
        out.print(f"  - {reason}")
    _print_review_hint(summary.decision, "fer-emotion", summary.registered_version)
    out.print(f"reports: {summary.reports_dir}")


def _print_review_hint(decision: str, model: str, version: str) -> None:
    """A version awaiting review says so, and how a reviewer approves it."""
    if decision != "awaiting review":
        return
    out.print(
        f"{model} version {version} is awaiting review; champion is unchanged. A reviewer runs:",
        markup=False,
    )
    out.print(
        f"  senim review approve {model} {version} --comment '...' --username NAME --totp CODE",
        markup=False,
        highlight=False,
    )


@fer_app.command("predict")
def fer_predict(
    input: Annotated[Path, typer.Option("--input", help=".npz with x (N, 48, 48) uint8.")],
    output: Annotated[Path, typer.Option("--output", help="CSV to write.")],
    model_uri: Annotated[
        str, typer.Option("--model-uri", help="MLflow model URI (alias or version).")
    ] = "models:/fer-emotion@champion",
    tflite: Annotated[
        str | None, typer.Option("--tflite", help="Run an export instead: float16 or int8.")
    ] = None,
) -> None:
    """One row per image, in order: label (0..6), emotion, p_Angry .. p_Neutral, model_version."""
    stores = _prepare()
    from pipelines.common.mlflow_store import check_reachable, mlflow_client
    from pipelines.fer.predict import (
        load_fer_predictor,
        predict_fer_frame,
        read_images_npz,
        write_fer_predictions,
    )

    images = read_images_npz(input)
    check_reachable(stores)
    predictor = load_fer_predictor(mlflow_client(stores), model_uri, tflite)
    write_fer_predictions(predict_fer_frame(predictor, images), output)
    out.print(
        f"wrote {len(images)} predictions from {model_uri} (version {predictor.version}, "
        f"{predictor.runtime}) to {output}"
    )


@app.command("info")
def info() -> None:
    """Show where Senim reads and writes (stores resolved from the environment)."""
    from senim.environment import redact_url

    stores = _prepare()
    for field in (
        "home",
        "workspace",
        "tracking_uri",
        "artifact_root",
        "database_url",
        "optuna_storage",
        "dvc_remote",
        "source_dsn",
    ):
        value = getattr(stores, field)
        if field in {"database_url", "optuna_storage", "source_dsn", "tracking_uri"} and value:
            value = redact_url(str(value))
        out.print(f"{field:<15} {value}", markup=False, highlight=False)


def _command():
    """The click command tree, with flags shown as flags (no ``<bool>`` type column)."""
    command = typer.main.get_command(app)

    def quiet(node) -> None:
        for param in node.params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        made = node.get_help_option  # --help is made per call; quiet it there too

        def help_option(ctx, made=made):
            option = made(ctx)
            if option is not None:
                option.metavar = ""
            return option

        node.get_help_option = help_option
        for child in getattr(node, "commands", {}).values():
            quiet(child)

    quiet(command)
    return command


def main(argv: list[str] | None = None) -> None:
    try:
        _command()(args=argv, prog_name="senim")
    except SenimError as exc:
        if _state["verbose"]:
            err.print_exception()
        message = str(exc)
        err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        report = getattr(exc, "report", "")
        if report and _state["verbose"]:
            err.print(report, markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: one line, never a trace
        from auth.errors import AuthError
        from senim.environment import explain_prefect_startup_failure

        if _state["verbose"]:
            err.print_exception()
        explained = explain_prefect_startup_failure(exc)
        if explained is not None:
            err.print(f"error: {explained}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(explained.exit_code)
        if isinstance(exc, AuthError):
            message = exc.message
        else:  # a bug or an unexpected store failure: one line, the traceback with --verbose
            message = f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
