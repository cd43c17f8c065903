"""The credit scoring service over real HTTP: `senim deploy credit` then `senim serve credit`.

One server for the module, serving the Bento deployed from the shared trained store, with
its own SENIM_HOME (auth database, prediction log, BentoML stores) and small limits:
8 applications per batch and a per-key burst of 12 requests.
"""

from __future__ import annotations

import json
import math
import time

import httpx
import pandas as pd
import pytest

from pipelines.credit.schema import AGENCY, DATE, FEATURE_COLUMNS, RATIO_COLUMNS, SECTOR
from tests.serving.credit_server import deployed_credit_service

pytestmark = pytest.mark.integration

MAX_BATCH = 8
KEY_BURST = 12


@pytest.fixture(scope="module")
def service(_trained_store_session, tmp_path_factory):
    with deployed_credit_service(
        _trained_store_session["root"],
        tmp_path_factory.mktemp("credit-service"),
        scoring={"max_batch": MAX_BATCH},
        auth={
            "api_key_rate": {"burst": KEY_BURST, "per_minute": 60},
            "argon2_time_cost": 1,
            "argon2_memory_kib": 19456,
        },
    ) as running:
        yield running


@pytest.fixture()
def key(service) -> str:
    return service["callers"].key()[0]


@pytest.fixture(scope="module")
def applications(_trained_store_session) -> list[dict]:
    """Real rows of the training snapshot, as a client would send them."""
    snapshot = pd.read_csv(_trained_store_session["workspace"] / "data/credit/snapshot.csv")
    rows = snapshot.drop(columns=["Rating"]).head(MAX_BATCH).to_dict("records")
    return [
        {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
        for row in rows
    ]


def _post(service, path: str, body, key: str | None = None, **headers) -> httpx.Response:
    if key:
        headers["X-API-Key"] = key
    return httpx.post(service["url"] + path, json=body, headers=headers, timeout=30)


# --- contract --------------------------------------------------------------------------


def test_given_service_key_when_scoring_one_application_then_full_answer_with_lineage(
    service, key, applications
):
    response = _post(
        service, "/v1/credit/score", applications[0], key, **{"X-Request-ID": "loan-42"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rating_band"] in ("A+", "A", "BBB", "BB", "B", "Junk")
    assert list(body["probabilities"]) == ["A+", "A", "BBB", "BB", "B", "Junk"]
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-4
    assert 0 <= body["score"] <= 100 and body["decision"] in ("approve", "review", "reject")
    assert body["confidence"] == body["probabilities"][body["rating_band"]]
    assert 1 <= len(body["reasons"]) <= 5
    known = (*FEATURE_COLUMNS, AGENCY, DATE)
    assert all(r["feature"] in known and r["label"] for r in body["reasons"])
    lineage = body["lineage"]
    assert lineage["model_name"] == "credit-rating" and lineage["model_version"].isdigit()
    assert lineage["data_version"] and lineage["run_id"]
    assert lineage["request_id"] == "loan-42" == response.headers["x-request-id"]


def test_given_known_application_when_scored_then_same_numbers_as_senim_credit_predict(
    service, key, applications, tmp_path, monkeypatch, capsys
):
    from senim.cli.app import main

    scored = [_post(service, "/v1/credit/score", app, key).json() for app in applications[:3]]
    source = tmp_path / "applications.csv"
    pd.DataFrame(applications[:3]).to_csv(source, index=False)
    output = tmp_path / "predicted.csv"
    monkeypatch.setenv("SENIM_HOME", str(service["stores"].home))
    monkeypatch.setenv("SENIM_WORKSPACE", str(service["workspace"]))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", service["tracking_uri"])
    version = scored[0]["lineage"]["model_version"]
    with pytest.raises(SystemExit) as done:
        main(["credit", "predict", "--input", str(source), "--output", str(output),
              "--model-uri", f"models:/credit-rating/{version}"])  # fmt: skip
    assert done.value.code in (0, None), capsys.readouterr().err
    predicted = pd.read_csv(output, dtype={"model_version": str})
    for answer, (_, row) in zip(scored, predicted.iterrows(), strict=True):
        assert answer["rating_band"] == row["rating_band"]
        assert answer["band_code"] == row["band_code"]
        assert answer["score"] == row["score"]
        assert answer["lineage"]["model_version"] == row["model_version"]
        for band, probability in answer["probabilities"].items():
            assert probability == row[f"p_{band}"]


def test_given_batch_when_scored_then_answers_in_order_equal_to_single_scores(
    service, key, applications
):
    response = _post(service, "/v1/credit/score_batch", {"applications": applications[:4]}, key)
    assert response.status_code == 200, response.text
    batch = response.json()
    assert len(batch) == 4
    request_id = response.headers["x-request-id"]
    assert {answer["lineage"]["request_id"] for answer in batch} == {request_id}
    singles = [_post(service, "/v1/credit/score", app, key).json() for app in applications[:4]]
    for one, alone in zip(batch, singles, strict=True):
        assert {k: v for k, v in one.items() if k != "lineage"} == {
            k: v for k, v in alone.items() if k != "lineage"
        }


def test_given_concurrent_batches_when_merged_by_adaptive_batching_then_each_gets_its_own(
    service, applications
):
    from concurrent.futures import ThreadPoolExecutor

    keys = [service["callers"].key()[0] for _ in range(6)]
    bodies = [{"applications": applications[i : i + 2]} for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        responses = list(
            pool.map(
                lambda kb: _post(service, "/v1/credit/score_batch", kb[1], kb[0]),
                zip(keys, bodies, strict=True),
            )  # fmt: skip
        )
    for response, body, own_key in zip(responses, bodies, keys, strict=True):
        assert response.status_code == 200, response.text
        answers = response.json()
        assert len(answers) == 2
        alone = [
            _post(service, "/v1/credit/score", app, own_key).json() for app in body["applications"]
        ]
        assert [a["score"] for a in answers] == [a["score"] for a in alone]
        assert {a["lineage"]["request_id"] for a in answers} == {response.headers["x-request-id"]}


def test_given_service_key_when_listing_models_then_deployed_version_and_metrics(service, key):
    response = httpx.get(service["url"] + "/v1/models", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    (model,) = response.json()["models"]
    assert model["name"] == "credit-rating" and model["alias"] == "champion"
    assert model["bento_model"] == f"credit-rating:mlflow-v{model['version']}"
    assert model["data_version"] and 0 <= model["metrics"]["macro_f1"] <= 1


def test_given_running_service_when_probed_then_live_ready_and_openapi_lists_routes(service):
    assert httpx.get(service["url"] + "/livez").status_code == 200
    assert httpx.get(service["url"] + "/readyz").status_code == 200
    spec = httpx.get(service["url"] + "/docs.json").json()
    assert {"/v1/credit/score", "/v1/credit/score_batch"} <= set(spec["paths"])
    auth_spec = httpx.get(service["url"] + "/auth/openapi.json").json()
    assert "/auth/login" in auth_spec["paths"]


# --- auth ------------------------------------------------------------------------------


def test_given_no_credentials_when_scoring_then_401(service, applications):
    response = _post(service, "/v1/credit/score", applications[0])
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_given_edge_device_key_when_scoring_then_403(service, applications):
    edge_key, _ = service["callers"].key(role="edge_device")
    response = _post(service, "/v1/credit/score", applications[0], edge_key)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_given_revoked_key_when_scoring_then_401(service, applications):
    callers = service["callers"]
    revoked, prefix = callers.key()
    assert _post(service, "/v1/credit/score", applications[0], revoked).status_code == 200
    callers.revoke(prefix)  # from another process: within auth.api_key_cache_seconds (1 s)
    deadline = time.monotonic() + 3
    while (
        status := _post(service, "/v1/credit/score", applications[0], revoked).status_code
    ) != 401:
        assert status == 200 and time.monotonic() < deadline, status
        time.sleep(0.2)


def test_given_key_over_its_burst_when_scoring_then_429_with_retry_after(service, applications):
    busy, _ = service["callers"].key()
    statuses = [
        _post(service, "/v1/credit/score", applications[0], busy) for _ in range(KEY_BURST + 1)
    ]
    assert [r.status_code for r in statuses[:KEY_BURST]] == [200] * KEY_BURST
    assert statuses[-1].status_code == 429
    assert int(statuses[-1].headers["retry-after"]) >= 1


def test_given_users_when_scoring_then_engineer_with_2fa_allowed_reviewer_refused(
    service, applications
):
    callers = service["callers"]
    engineer = callers.user_token("engineer-one", ["ml_engineer"])
    reviewer = callers.user_token("reviewer-one", ["reviewer"])
    no_2fa = callers.user_token("engineer-two", ["ml_engineer"], mfa=False)
    url = service["url"] + "/v1/credit/score"

    def score(token: str) -> int:
        return httpx.post(
            url, json=applications[0], headers={"Authorization": f"Bearer {token}"}
        ).status_code

    assert score(engineer) == 200
    assert score(reviewer) == 403
    assert score(no_2fa) == 403  # an ml_engineer token without 2FA done
    assert (
        httpx.get(
            service["url"] + "/v1/models", headers={"Authorization": f"Bearer {reviewer}"}
        ).status_code
        == 200
    )


def test_given_pickle_or_non_json_body_when_scoring_then_415(service, key, applications):
    raw = json.dumps(applications[0])
    for content_type in (
        "application/vnd.bentoml+pickle",
        "text/plain",
        "application/x-www-form-urlencoded",
    ):
        response = httpx.post(
            service["url"] + "/v1/credit/score",
            content=raw,
            headers={"X-API-Key": key, "Content-Type": content_type},
        )
        assert response.status_code == 415, (content_type, response.text)


# --- bad input -------------------------------------------------------------------------


def _field_named(response: httpx.Response, field: str) -> bool:
    return field in response.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda app: app.pop("currentRatio"), "currentRatio"),
        (lambda app: app.update(quickRatio="1.5"), "quickRatio"),
        (lambda app: app.update(cashRatio=[1]), "cashRatio"),
        (lambda app: app.update(debtRatio=-0.5), "debtRatio"),
        (lambda app: app.update(Sector="Astrology"), "Sector"),
        (lambda app: app.update(surprise=1), "surprise"),
        (lambda app: app.update(assetTurnover=True), "assetTurnover"),
        (lambda app: app.update({AGENCY: "Acme Ratings"}), AGENCY),
        (lambda app: app.update({DATE: "1/1/2999"}), DATE),
        (lambda app: app.update({DATE: "2015-11-27"}), DATE),
    ],
    ids=[
        "missing", "string", "list", "negative", "unknown-sector", "extra-field", "boolean",
        "unknown-agency", "future-date", "iso-date",
    ],
)  # fmt: skip
def test_given_bad_application_when_scoring_then_400_naming_the_field(
    service, applications, change, field
):
    key, _ = service["callers"].key()
    body = dict(applications[0])
    change(body)
    response = _post(service, "/v1/credit/score", body, key)
    assert response.status_code == 400, response.text
    assert _field_named(response, field), response.text


def test_given_an_old_request_without_agency_or_date_then_it_is_scored_on_the_defaults(
    service, key, applications
):
    """Requests written before agency and date were read still work: they are rated on
    scoring.default_rating_agency's scale as of today."""
    import datetime as dt

    old = {k: v for k, v in applications[0].items() if k not in (AGENCY, DATE)}
    today = dt.date.today()
    explicit = {
        **old,
        AGENCY: "Standard & Poor's Ratings Services",
        DATE: f"{today.month}/{today.day}/{today.year}",
    }
    first = _post(service, "/v1/credit/score", old, key)
    second = _post(service, "/v1/credit/score", explicit, key)
    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["score"] == second.json()["score"]
    assert first.json()["rating_band"] == second.json()["rating_band"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_given_non_finite_number_when_scoring_then_400_naming_the_field(
    service, key, applications, literal
):
    raw = json.dumps({**applications[0], "currentRatio": 0.0}).replace(
        '"currentRatio": 0.0', f'"currentRatio": {literal}'
    )
    response = httpx.post(
        service["url"] + "/v1/credit/score",
        content=raw,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "currentRatio" in response.text or "json" in response.text.lower()


def test_given_batch_errors_when_scoring_then_400s_naming_applications(service, applications):
    key, _ = service["callers"].key()
    empty = _post(service, "/v1/credit/score_batch", {"applications": []}, key)
    too_many = _post(
        service, "/v1/credit/score_batch", {"applications": applications[:1] * (MAX_BATCH + 1)}, key
    )
    bad_row = _post(
        service, "/v1/credit/score_batch",
        {"applications": [applications[0], {**applications[1], "cashRatio": "x"}]}, key,
    )  # fmt: skip
    not_json = httpx.post(
        service["url"] + "/v1/credit/score_batch",
        content=b"{not json",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    for response in (empty, too_many, bad_row):
        assert response.status_code == 400, response.text
        assert "applications" in response.text
    assert str(MAX_BATCH) in too_many.text
    assert "cashRatio" in bad_row.text
    assert not_json.status_code == 400


def test_given_body_over_the_limit_when_posting_then_413(service, key, applications):
    from serving.credit_service import MAX_BODY_BYTES

    body = {"applications": [applications[0]] * (MAX_BODY_BYTES // 800)}
    response = _post(service, "/v1/credit/score_batch", body, key)
    assert response.status_code == 413


# --- prediction log --------------------------------------------------------------------


def _rows(service, request_id: str, expected: int = 1) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = service["callers"].prediction_rows(request_id)
        if len(rows) >= expected:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"no prediction log row for {request_id}")


def test_given_scored_and_refused_requests_then_each_has_one_prediction_log_row(
    service, applications
):
    key, prefix = service["callers"].key()
    ok = _post(service, "/v1/credit/score_batch", {"applications": applications[:3]}, key,
               **{"X-Request-ID": "log-ok-1"})  # fmt: skip
    bad = _post(service, "/v1/credit/score", {**applications[0], "Sector": "?"}, key,
                **{"X-Request-ID": "log-bad-1"})  # fmt: skip
    assert ok.status_code == 200 and bad.status_code == 400
    (row,) = _rows(service, "log-ok-1")
    assert row["caller"] == f"key:{prefix}" and row["status"] == "ok"
    assert row["endpoint"] == "/v1/credit/score_batch" and row["rows"] == 3
    assert row["model_version"] == ok.json()[0]["lineage"]["model_version"]
    assert row["inputs"] is None and len(row["inputs_sha256"]) == 64  # hashed, not stored
    outputs = json.loads(row["outputs"])
    assert [o["score"] for o in outputs] == [a["score"] for a in ok.json()]
    assert row["latency_ms"] > 0
    (refused,) = _rows(service, "log-bad-1")
    assert refused["status"] == "error" and "HTTP 400" in refused["error"]
    assert "Sector" in refused["error"]


def test_given_inputs_when_logged_then_ratios_never_leak_into_the_row(service, applications):
    key, _ = service["callers"].key()
    _post(service, "/v1/credit/score", applications[1], key, **{"X-Request-ID": "log-hash-1"})
    (row,) = _rows(service, "log-hash-1")
    assert str(applications[1][RATIO_COLUMNS[0]]) not in json.dumps(row, default=str)
    assert applications[1][SECTOR] not in (row["outputs"] or "")
