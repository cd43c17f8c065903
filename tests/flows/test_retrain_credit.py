"""The retrain-credit flow end to end on small synthetic data, against SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from models.credit_candidates import FAMILIES
from pipelines.credit.predict import OUTPUT_COLUMNS, PROBABILITY_COLUMNS
from pipelines.credit.schema import RATING
from senim.cli.app import main
from senim.environment import resolve_stores
from tests.integration_workspace import make_workspace, write_params

pytestmark = pytest.mark.integration

MODEL = "credit-rating"


def _client():
    from pipelines.common.mlflow_store import mlflow_client

    return mlflow_client(resolve_stores())


def _retrain(**kwargs):
    from flows.retrain_credit import retrain_credit

    return retrain_credit(**kwargs)


def test_given_synthetic_source_when_retrained_then_first_model_is_champion(trained_store):
    summary = trained_store["summary"]
    assert summary.registered_version == "1"
    assert summary.decision == "promoted"
    client = _client()
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == "1"
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(MODEL, "challenger")  # the challenger won


def test_given_registered_version_then_lineage_tags_match_dvc_snapshot(trained_store):
    workspace = trained_store["workspace"]
    dvc_file = yaml.safe_load((workspace / "data/credit/snapshot.csv.dvc").read_text())
    md5 = dvc_file["outs"][0]["md5"]
    tags = _client().get_model_version(MODEL, "1").tags
    assert tags["data_version"] == md5 == trained_store["summary"].data_version
    assert tags["gx_result"].startswith("passed (")
    assert len(tags["params_hash"]) == 16
    assert tags["git_commit"] == "unknown"  # the test workspace is not a git checkout
    assert tags["gate.decision"] == "promoted"
    assert "no champion yet" in tags["gate.reasons"]
    assert 0 < float(tags["cv.macro_f1"]) <= 1
    assert tags["family"] in FAMILIES
    assert tags["beats_thesis_baseline"] in {"true", "false"}


def test_given_snapshot_when_versioned_then_pushed_to_local_remote(trained_store):
    md5 = trained_store["summary"].data_version
    remote = trained_store["root"] / "home" / "dvc-remote" / "files" / "md5"
    assert (remote / md5[:2] / md5[2:]).is_file()


def test_given_retraining_then_parent_run_has_nested_candidates_and_reports(trained_store):
    client = _client()
    summary = trained_store["summary"]
    parent = client.get_run(summary.parent_run_id)
    assert parent.data.tags["data_version"] == summary.data_version
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{summary.parent_run_id}'"
    )
    names = {run.info.run_name for run in children}
    assert names == {*FAMILIES, "thesis_baseline"}
    for run in children:
        assert "macro_f1" in run.data.metrics and "within_one_band_accuracy" in run.data.metrics
    top = {a.path for a in client.list_artifacts(summary.parent_run_id)}
    assert {"comparison", "data_docs"} <= top
    comparison = {a.path for a in client.list_artifacts(summary.parent_run_id, "comparison")}
    assert {
        "comparison/comparison.md",
        "comparison/comparison.html",
        "comparison/comparison.csv",
        "comparison/comparison.png",
    } <= comparison
    reports = Path(summary.reports_dir)
    assert (reports / "metrics.json").is_file() and (reports / "model" / "MLmodel").is_file()


def test_given_champion_when_predict_cli_then_one_row_per_input_in_order(trained_store, tmp_path):
    snapshot = pd.read_csv(trained_store["workspace"] / "data/credit/snapshot.csv")
    applications = snapshot.drop(columns=[RATING]).sample(frac=1.0, random_state=0).head(40)
    applications["loan_officer_note"] = "extra columns are ignored"
    source = tmp_path / "applications.csv"
    applications.to_csv(source, index=False)
    output = tmp_path / "scored.csv"

    with pytest.raises(SystemExit) as exit_info:
        main(["credit", "predict", "--input", str(source), "--output", str(output)])
    assert exit_info.value.code in (0, None)

    scored = pd.read_csv(output)
    # the rows' identifiers, then the predictions with the decision beside the score
    expected = ["Name", "Symbol", *OUTPUT_COLUMNS]
    expected.insert(expected.index("score") + 1, "decision")
    assert list(scored.columns) == expected
    assert len(scored) == len(applications)
    assert list(scored["Name"]) == list(applications["Name"])
    assert set(scored["decision"]) <= {"approve", "review", "reject"}
    assert set(scored["rating_band"]) <= {"A+", "A", "BBB", "BB", "B", "Junk"}
    assert scored[list(PROBABILITY_COLUMNS)].sum(axis=1).round(4).eq(1).all()
    assert scored["score"].between(0, 100).all()
    assert (scored["model_version"] == 1).all()
    # same order: re-scoring a single row gives the same answer as its row in the batch
    one = tmp_path / "one.csv"
    applications.iloc[[7]].to_csv(one, index=False)
    with pytest.raises(SystemExit):
        main(["credit", "predict", "--input", str(one), "--output", str(tmp_path / "one_out.csv")])
    single = pd.read_csv(tmp_path / "one_out.csv")
    assert single.loc[0, "score"] == pytest.approx(scored.loc[7, "score"])


def test_given_strict_gate_when_retrained_then_rejected_and_champion_stays(trained_store):
    workspace = trained_store["workspace"]
    write_params(workspace, gate={"min_macro_f1": 0.99})
    try:
        summary = _retrain()
    finally:
        write_params(workspace)
    assert summary.decision == "rejected"
    client = _client()
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert (
        str(client.get_model_version_by_alias(MODEL, "challenger").version)
        == summary.registered_version
    )
    tags = client.get_model_version(MODEL, summary.registered_version).tags
    assert tags["gate.decision"] == "rejected"
    assert "FAILED" in tags["gate.reasons"]
    # the same data and folds: the champion's evidence is its recorded CV score
    assert "on the same folds" in tags["gate.reasons"]


@pytest.mark.postgres
def test_given_postgres_everywhere_when_retrained_then_registry_and_optuna_in_postgres(
    postgres_dsn, tmp_path, monkeypatch
):
    from pipelines.credit.sources import write_credit_postgres
    from pipelines.credit.synthetic import generate_credit_ratings
    from senim.config import SyntheticParams
    from tests.integration_workspace import FAST_PARAMS
    from tests.postgres_server import create_database

    make_workspace(tmp_path, monkeypatch, data={"source": "postgres", "postgres_table": "ratings"})
    source_dsn = create_database(postgres_dsn, "credit_source")
    write_credit_postgres(
        generate_credit_ratings(SyntheticParams(**FAST_PARAMS["synthetic"])), source_dsn, "ratings"
    )
    tracking = create_database(postgres_dsn, "mlflow_store").replace(
        "postgresql://", "postgresql+psycopg2://"
    )
    optuna_dsn = create_database(postgres_dsn, "optuna_store")
    monkeypatch.setenv("SENIM_SOURCE_DSN", source_dsn)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("SENIM_OPTUNA_STORAGE", optuna_dsn)

    summary = _retrain()

    assert summary.decision == "promoted"
    client = _client()
    version = client.get_model_version_by_alias(MODEL, "champion")
    assert version.tags["data_version"] == summary.data_version
    import optuna

    studies = {s.study_name for s in optuna.get_all_study_summaries(storage=optuna_dsn)}
    assert {name.rsplit("-", 1)[-1] for name in studies} == set(FAMILIES)
    # artifacts of a database-backed store stay under SENIM_HOME, never ./mlruns
    assert not Path("mlruns").exists() or Path.cwd() == Path(os.environ["SENIM_HOME"])
    assert (tmp_path / "home" / "mlartifacts").is_dir()


def test_given_a_retraining_run_then_prefect_shows_its_comparison_decision_and_named_tasks(
    trained_store,
):
    """A run says more than "Completed()": the table and the decision as artifacts, and
    tasks named for what they do (tune-xgboost, not tune-bb6)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["credit-comparison", "credit-gate-decision"])
                )
            )
            task_runs = await client.read_task_runs()
        return artifacts, [run.name for run in task_runs]

    artifacts, task_names = asyncio.run(read())

    keys = {artifact.key for artifact in artifacts}
    assert {"credit-comparison", "credit-gate-decision"} <= keys
    assert any("xgboost" in str(a.data) for a in artifacts if a.key == "credit-comparison")
    decisions = [a.data for a in artifacts if a.key == "credit-gate-decision"]
    assert any("credit-rating version 1: promoted" in text for text in decisions)
    assert {"tune-xgboost", "tune-random_forest", "evaluate-xgboost", "register-and-gate"} <= set(
        task_names
    )


def test_given_unchanged_data_params_and_code_when_retrained_then_no_copy_is_registered(
    tmp_path, monkeypatch
):
    """The reported waste: the same inputs registered another version needing review."""
    import subprocess
    import sys

    workspace = make_workspace(tmp_path, monkeypatch)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@senim.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    dvc = str(Path(sys.executable).with_name("dvc"))
    subprocess.run([dvc, "init", "-q"], cwd=workspace, check=True)  # as a clone has it
    subprocess.run([*git, "add", "-A"], cwd=workspace, check=True)
    subprocess.run([*git, "commit", "-qm", "workspace"], cwd=workspace, check=True)

    first = _retrain()
    again = _retrain()

    assert first.decision == "promoted" and first.registered_version == "1"
    assert again.decision == "unchanged" and again.registered_version == "1"
    assert "no new version registered" in again.decision_reasons[0]
    versions = _client().search_model_versions(f"name = '{MODEL}'")
    assert [str(v.version) for v in versions] == ["1"]


def test_given_a_retraining_then_the_mlflow_ui_opens_on_models_with_links_and_short_tags(
    trained_store,
):
    client = _client()
    experiment = client.get_experiment_by_name("credit-rating")
    version = client.get_model_version(MODEL, "1")
    parent = client.get_run(version.tags["parent_run_id"])

    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # not GenAI
    assert f"#/models/{MODEL}/versions/1" in parent.data.tags["mlflow.note.content"]
    assert "model card" in version.description and version.tags["parent_run_id"]
    assert sorted(k for k in version.tags if k.startswith("cv.")) == [
        "cv.accuracy", "cv.balanced_accuracy", "cv.expected_calibration_error", "cv.macro_f1",
        "cv.mean_abs_band_error", "cv.within_one_band_accuracy",
    ]  # fmt: skip
