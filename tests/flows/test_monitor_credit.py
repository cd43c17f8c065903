"""The monitoring loop end to end on the embedded defaults, over real HTTP: serve the
champion, send ordinary traffic (the report finds no drift, nothing starts), send a
downturn (`senim credit generate --drift`'s shift: the report flags it and one retraining
starts, its reason recorded on the new run and in the audit log, the challenger waiting
for review), and trigger again while a retraining holds the lease (none starts)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.integration_workspace import make_workspace, write_params
from tests.serving.credit_server import Callers, free_port, running_server, senim_command

pytestmark = pytest.mark.integration

MODEL = "credit-rating"
MONITORING = {"window_hours": 1.0, "min_rows": 60, "min_outcomes": 20, "cooldown_hours": 0.0}


def applications(seed: int, companies: int, drift: float) -> list[dict]:
    """Synthetic companies as scoring requests (the rows a request may carry, valid ones);
    each keeps its realised ``Rating``, which a request may carry and is never scored."""
    from pipelines.credit.synthetic import generate_credit_ratings
    from senim.config import SyntheticParams
    from serving.credit_schemas import CreditApplication

    frame = generate_credit_ratings(SyntheticParams(seed=seed, n_companies=companies, drift=drift))
    frame = frame.drop(columns=["Symbol"])
    kept = []
    for row in frame.to_dict("records"):
        try:
            CreditApplication.model_validate(row)
        except ValueError:
            continue  # an outlier past the service's bounds: a client would be refused
        kept.append(row)
    return kept


def send(url: str, key: str, rows: list[dict]) -> list[str]:
    """Score ``rows`` in batches of 100; the request ids, in order."""
    ids = []
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(rows), 100):
            answer = client.post(
                url + "/v1/credit/score_batch",
                json={"applications": rows[start : start + 100]},
                headers={"X-API-Key": key},
            )
            assert answer.status_code == 200, answer.text
            ids.append(answer.headers["x-request-id"])
    return ids


def monitoring_count(database_url: str) -> int:
    from senim.platform_db.engine import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT count(*) FROM monitoring_rows")).scalar()
    finally:
        engine.dispose()


def attached_outcomes(database_url: str) -> int:
    from senim.platform_db.engine import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM monitoring_rows WHERE outcome IS NOT NULL"
            return connection.execute(sa.text(query)).scalar()
    finally:
        engine.dispose()


def wait_for_rows(database_url: str, expected: int, timeout_s: float = 30) -> None:
    """The prediction log writes behind the answers: wait until every row is kept."""
    deadline = time.monotonic() + timeout_s
    while monitoring_count(database_url) < expected:
        assert time.monotonic() < deadline, monitoring_count(database_url)
        time.sleep(0.2)


def versions(client) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name='{MODEL}'"))


def audit(action: str) -> list:
    from tests.pipelines.release.test_review import audit_rows

    return audit_rows(action)


def test_given_served_traffic_when_monitored_then_only_drift_starts_one_retraining(
    tmp_path, monkeypatch
):
    from auth.runtime import AuthRuntime
    from flows.monitor_credit import monitor_credit
    from flows.retrain_credit import retrain_credit
    from pipelines.common.mlflow_store import mlflow_client
    from pipelines.release.monitoring_store import (
        close_monitoring,
        open_monitoring,
        retraining_lease,
    )
    from senim.cli.app import main
    from senim.config import load_params
    from senim.environment import resolve_stores

    workspace = make_workspace(tmp_path, monkeypatch, monitoring=MONITORING)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    first = retrain_credit()
    assert first.decision == "promoted"
    # From now on a new version waits for a reviewer, as in production.
    write_params(workspace, monitoring=MONITORING, review={"approval_required_for": [MODEL]})
    with pytest.raises(SystemExit) as deployed:
        main(["deploy", "credit"])
    assert deployed.value.code in (0, None)
    stores = resolve_stores()
    client = mlflow_client(stores)
    runtime = AuthRuntime.build(
        load_params(stores.params_path).auth, stores.database_url, stores.home
    )
    callers = Callers(runtime)
    key, _ = callers.key("service")
    camera, _ = callers.key("edge_device", name="camera")
    port = free_port()
    try:
        with running_server(
            senim_command("serve", "credit", "--port", str(port)),
            os.environ,
            tmp_path / "server.log",
            port,
        ) as server:
            # Ordinary traffic: companies drawn as the training data was.
            ordinary = applications(seed=1001, companies=60, drift=0.0)
            send(server.url, key, ordinary)
            wait_for_rows(stores.database_url, len(ordinary))

            quiet = monitor_credit()
            summary = quiet["summary"]
            assert summary["rows"] == len(ordinary)
            assert not summary["drift_detected"], summary["drifted_features"]
            assert summary["reasons"] == []
            assert quiet["retraining"]["started"] is False
            assert versions(client) == [first.registered_version]
            assert Path(quiet["report"], "report.html").is_file()

            # A downturn: every company three notches worse; the ratios follow.
            downturn = applications(seed=1002, companies=150, drift=1.0)
            downturn_ids = send(server.url, key, downturn)
            wait_for_rows(stores.database_url, len(ordinary) + len(downturn))

            fired = monitor_credit()
            summary, retraining = fired["summary"], fired["retraining"]
            assert summary["drift_detected"], summary["feature_drift"]
            assert summary["drift_share"] >= 0.5
            assert summary["prediction_drift"]["band"]["drifted"]
            assert retraining["started"] is True, retraining
            new_version = retraining["registered_version"]
            assert versions(client) == sorted([first.registered_version, new_version])
            assert retraining["decision"] == "awaiting review", retraining
            run = client.get_run(retraining["run_id"])
            assert run.data.tags["senim.trigger"] == "monitor-credit"
            assert "features drifted" in run.data.tags["senim.trigger.reasons"]
            assert run.data.tags["senim.trigger.report"] == fired["report"]
            version_tags = client.get_model_version(MODEL, new_version).tags
            assert version_tags["senim.trigger"] == "monitor-credit"
            started = audit("monitoring.retrain")
            assert [row.outcome for row in started] == ["success"]
            assert started[0].details["reasons"] == summary["reasons"]
            # The champion still serves until a reviewer approves the challenger.
            champion = client.get_model_version_by_alias(MODEL, "champion")
            assert str(champion.version) == first.registered_version
            answer = httpx.post(
                server.url + "/v1/credit/score",
                json=ordinary[0],
                headers={"X-API-Key": key},
                timeout=30,
            )
            assert answer.json()["lineage"]["model_version"] == first.registered_version

            # The report on the version's run, and over HTTP to read_models callers only.
            deployed_run = client.get_model_version(MODEL, first.registered_version).run_id
            logged = client.list_artifacts(deployed_run, "monitoring")
            assert len(logged) == 2  # one folder per report
            page = httpx.get(
                server.url + "/v1/monitoring/credit/report",
                headers={"X-API-Key": key},
                timeout=30,
            )
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert (
                "<script" in page.text and "cdn" not in page.text.lower().split("<script")[1][:200]
            )
            refused = httpx.get(
                server.url + "/v1/monitoring/credit/report",
                headers={"X-API-Key": camera},
                timeout=30,
            )
            assert refused.status_code == 403

            # Outcomes over HTTP: all or nothing, each problem named.
            outcomes_url = server.url + "/v1/credit/outcomes"
            bad = {
                "outcomes": [
                    {"request_id": downturn_ids[0], "Rating": "AA"},
                    {"request_id": "no-such-request", "Rating": "A"},
                    {"request_id": downturn_ids[0], "Rating": "AA"},
                    {"request_id": downturn_ids[0], "row": 1, "band": "Great"},
                ]
            }
            refused = httpx.post(outcomes_url, json=bad, headers={"X-API-Key": key}, timeout=30)
            assert refused.status_code == 422, refused.text
            assert {f["field"] for f in refused.json()["fields"]} == {
                "outcomes[1].request_id",
                "outcomes[2].request_id",
                "outcomes[3].band",
            }
            assert attached_outcomes(stores.database_url) == 0
            forbidden = httpx.post(
                outcomes_url, json=bad, headers={"X-API-Key": camera}, timeout=30
            )
            assert forbidden.status_code == 403
            realised = [
                {"request_id": request_id, "row": i, "Rating": row["Rating"]}
                for request_id, start in zip(
                    downturn_ids, range(0, len(downturn), 100), strict=True
                )
                for i, row in enumerate(downturn[start : start + 100])
            ][:40]
            accepted = httpx.post(
                outcomes_url, json={"outcomes": realised}, headers={"X-API-Key": key}, timeout=30
            )
            assert accepted.status_code == 200, accepted.text
            assert accepted.json() == {"outcomes": 40, "attached": 40, "unchanged": 0}
            # ... and from a file, by company and rating date.
            one = downturn[50]
            csv_path = tmp_path / "realised.csv"
            csv_path.write_text(
                f'Name,Date,Rating\n"{one["Name"]}",{one["Date"]},{one["Rating"]}\n'
            )
            with pytest.raises(SystemExit) as cli:
                main(["credit", "outcomes", "--input", str(csv_path)])
            assert cli.value.code in (0, None)
            assert attached_outcomes(stores.database_url) == 41

            # A second trigger while a retraining is in flight starts nothing.
            sessions = open_monitoring(stores.database_url)
            try:
                with retraining_lease(sessions, "credit", "retrain-credit 42", "drift", 60):
                    again = monitor_credit()
            finally:
                close_monitoring(sessions)
            assert again["summary"]["drift_detected"]
            quality = again["summary"]["quality"]
            assert quality["outcomes"] == 41
            assert set(quality["realised"]) == {"macro_f1", "within_one_band_accuracy"}
            assert "macro_f1" in quality["estimated"]
            assert Path(again["report"], "quality.html").is_file()
            assert again["retraining"]["started"] is False
            assert "already in flight (retrain-credit 42" in again["retraining"]["why"]
            assert versions(client) == sorted([first.registered_version, new_version])
            assert [row.outcome for row in audit("monitoring.retrain")] == ["success", "denied"]

            # With a cooldown, a monitor that retrained lately does not again.
            write_params(
                workspace,
                monitoring={**MONITORING, "cooldown_hours": 72.0},
                review={"approval_required_for": [MODEL]},
            )
            cooled = monitor_credit()
            assert cooled["retraining"]["started"] is False
            assert "within monitoring.cooldown_hours (72 h)" in cooled["retraining"]["why"]
            assert versions(client) == sorted([first.registered_version, new_version])

            # The CLI (as a user runs it) shows the latest report and copies its HTML.
            copy = tmp_path / "latest.html"
            shown = subprocess.run(
                senim_command("monitor", "report", "credit", "--output", str(copy)),
                check=False, env=os.environ, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert shown.returncode == 0, shown.stderr
            assert copy.read_bytes() == Path(cooled["report"], "report.html").read_bytes()
            assert "feature drift:" in shown.stdout and "retrain: " in shown.stdout
    finally:
        runtime.close()
