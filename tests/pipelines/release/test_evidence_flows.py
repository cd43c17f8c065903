"""The retraining flows log a model card (and, for credit, a fairness report) on every
registered version: tags, artifacts, checksums over the logged bytes, real numbers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipelines.common.model_card import fmt
from tests.integration_workspace import TINY_FER, make_workspace

pytestmark = pytest.mark.integration


def _client():
    from pipelines.common.mlflow_store import mlflow_client
    from senim.environment import resolve_stores

    return mlflow_client(resolve_stores())


def _artifact(client, run_id: str, path: str, tmp_path: Path) -> bytes:
    return Path(client.download_artifacts(run_id, path, str(tmp_path))).read_bytes()


@pytest.fixture()
def fer_store(_fer_store_session, monkeypatch) -> dict:
    make_workspace(_fer_store_session["root"], monkeypatch, fer=TINY_FER)
    return _fer_store_session


def test_given_credit_retraining_then_version_has_evidence_tags_matching_logged_bytes(
    trained_store, tmp_path
):
    client = _client()
    version = client.get_model_version("credit-rating", "1")
    tags = version.tags
    assert tags["evidence.model_card.path"] == "evidence/model_card.md"
    assert tags["evidence.fairness.path"] == "evidence/fairness.json"
    listed = {a.path for a in client.list_artifacts(version.run_id, "evidence")}
    assert listed == {
        "evidence/model_card.md",
        "evidence/model_card.html",
        "evidence/fairness.md",
        "evidence/fairness.json",
    }
    card = _artifact(client, version.run_id, tags["evidence.model_card.path"], tmp_path)
    fairness = _artifact(client, version.run_id, tags["evidence.fairness.path"], tmp_path)
    assert hashlib.sha256(card).hexdigest() == tags["evidence.model_card.sha256"]
    assert hashlib.sha256(fairness).hexdigest() == tags["evidence.fairness.sha256"]
    report = json.loads(fairness)
    assert int(tags["evidence.fairness.flagged"]) == report["flagged"]
    assert {s["column"] for s in report["slices"]} == {"Sector", "Rating Agency Name"}
    # Flagged slices reach the gate's reasons (where a reviewer reads first) and the run's
    # printed reasons, one line each.
    flagged = [s for s in report["slices"] if s["flagged"]]
    noted = [r for r in tags["gate.reasons"].splitlines() if r.startswith("fairness:")]
    assert len(noted) == len(flagged)
    assert noted == [
        r for r in trained_store["summary"].decision_reasons if r.startswith("fairness:")
    ]


def test_given_credit_card_then_it_holds_the_runs_real_numbers(trained_store, tmp_path):
    client = _client()
    version = client.get_model_version("credit-rating", "1")
    run = client.get_run(version.run_id)
    card = _artifact(client, version.run_id, "evidence/model_card.md", tmp_path).decode()
    html = _artifact(client, version.run_id, "evidence/model_card.html", tmp_path).decode()
    metrics = run.data.metrics

    for name in ("macro_f1", "balanced_accuracy", "accuracy", "within_one_band_accuracy"):
        assert f"| {name} | {fmt(metrics[name])} |" in card
    fold_ci = f"[{fmt(metrics['cv_macro_f1_ci_low'])}, {fmt(metrics['cv_macro_f1_ci_high'])}]"
    assert f"| {fmt(metrics['cv_macro_f1_mean'])} | {fold_ci} |" in card
    assert version.tags["data_version"] in card and version.run_id in card
    assert "version 1" in card and "No champion yet." in card
    assert "synthetic data" in card  # FAST_PARAMS train on the synthetic source
    assert fmt(metrics["macro_f1"]) in html and "No champion yet." in html


def test_given_fer_retraining_then_version_has_card_tags_and_real_numbers(fer_store, tmp_path):
    client = _client()
    version = client.get_model_version("fer-emotion", fer_store["summary"].registered_version)
    tags = version.tags
    assert tags["evidence.model_card.path"] == "evidence/model_card.md"
    assert "evidence.fairness.sha256" not in tags  # no slice columns in FER2013
    card_bytes = _artifact(client, version.run_id, "evidence/model_card.md", tmp_path)
    assert hashlib.sha256(card_bytes).hexdigest() == tags["evidence.model_card.sha256"]
    listed = {a.path for a in client.list_artifacts(version.run_id, "evidence")}
    assert listed == {"evidence/model_card.md", "evidence/model_card.html"}
    card = card_bytes.decode()
    metrics = client.get_run(version.run_id).data.metrics

    assert f"| accuracy | {fmt(metrics['accuracy'])} | [" in card
    assert f"| macro_f1 | {fmt(metrics['macro_f1'])} | [" in card
    assert "bootstrap, 1000 resamples, seed 7" in card
    assert f"| Happy | {fmt(metrics['precision_Happy'])} | {fmt(metrics['recall_Happy'])} |" in card
    assert f"| int8 | {fmt(float(tags['export.int8.accuracy']))} |" in card
    assert tags["data_version"] in card and version.run_id in card
    assert "synthetic faces" in card and "No champion yet." in card
