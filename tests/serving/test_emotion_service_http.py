"""The emotion service over real HTTP: `senim deploy emotion` then `senim serve emotion`.

One server for the module, serving the Bento deployed from the shared tiny FER store,
with its own SENIM_HOME (auth database, BentoML stores).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from tests.integration_workspace import TINY_FER, make_workspace
from tests.serving.credit_server import Callers, free_port, running_server, senim_command

pytestmark = pytest.mark.integration

EMOTIONS = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]


@pytest.fixture(scope="module")
def service(_fer_store_session, tmp_path_factory):
    from auth.runtime import AuthRuntime
    from senim.cli.app import main
    from senim.config import load_params
    from senim.environment import resolve_stores

    root = tmp_path_factory.mktemp("emotion-service")
    with pytest.MonkeyPatch.context() as mp:
        make_workspace(root, mp, fer=TINY_FER, auth={"argon2_time_cost": 1,
                                                     "argon2_memory_kib": 19456})  # fmt: skip
        mp.setenv("MLFLOW_TRACKING_URI", _fer_store_session["tracking_uri"])
        with pytest.raises(SystemExit) as deployed:
            main(["deploy", "emotion"])
        assert deployed.value.code in (0, None)
        stores = resolve_stores()
        runtime = AuthRuntime.build(load_params(stores.params_path).auth, stores.database_url,
                                    stores.home)  # fmt: skip
        callers = Callers(runtime)
        port = free_port()
        with running_server(
            senim_command("serve", "emotion", "--port", str(port)),
            os.environ,
            root / "server.log",
            port,
        ) as server:
            yield {"url": server.url, "server": server, "callers": callers, "stores": stores}
        runtime.close()


@pytest.fixture(scope="module")
def key(service) -> str:
    return service["callers"].key(name="camera-app")[0]


def _faces(count: int, seed: int = 3) -> np.ndarray:
    from pipelines.fer.synthetic import generate_fer
    from senim.config import FerSyntheticParams

    return generate_fer(FerSyntheticParams(seed=seed, train_per_class=2, test_per_class=1)).x[
        :count
    ]


def _photo_with_faces() -> tuple[bytes, int]:
    """A 640x480 PNG with drawn faces the Haar cascade finds (checked here, not assumed)."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    canvas = np.full((480, 640), 90, np.uint8)
    placed = 0
    for face in _faces(21, seed=1):
        big = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
        trial = np.full((480, 640), 90, np.uint8)
        trial[100:260, 240:400] = big
        if len(cascade.detectMultiScale(cv2.equalizeHist(trial), 1.1, 5, minSize=(32, 32))):
            x = 40 + placed * 320
            canvas[150:310, x : x + 160] = big
            placed += 1
            if placed == 2:
                break
    ok, png = cv2.imencode(".png", canvas)
    assert ok and placed == 2
    return png.tobytes(), placed


def _post(service, path: str, key: str | None, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if key:
        headers["X-API-Key"] = key
    return httpx.post(service["url"] + path, headers=headers, timeout=30, **kwargs)


def test_given_faces_as_arrays_when_predicted_then_one_answer_each_in_order(service, key):
    faces = _faces(5)
    response = _post(service, "/v1/emotion/predict_faces", key, json={"faces": faces.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body) == 5
    for answer in body:
        assert list(answer["probabilities"]) == EMOTIONS
        assert abs(sum(answer["probabilities"].values()) - 1) < 0.02
        assert answer["emotion"] == EMOTIONS[answer["label"]]
        assert answer["confidence"] == max(answer["probabilities"].values())
        assert answer["model_version"] == "1" and answer["box"] is None


def test_given_same_faces_when_predicted_then_same_numbers_as_the_deployed_export(service, key):
    """The service runs the float16 export of the deployed version, unchanged."""
    from pipelines.fer.deploy import export_path
    from pipelines.fer.export import TFLiteClassifier
    from pipelines.release.deploy import model_store

    faces = _faces(4)
    body = _post(service, "/v1/emotion/predict_faces", key, json={"faces": faces.tolist()}).json()
    stored = model_store(service["stores"]).get("fer-emotion:mlflow-v1")
    expected = TFLiteClassifier(export_path(stored.path, "float16")).predict_proba(faces)
    got = np.array([[a["probabilities"][e] for e in EMOTIONS] for a in body])
    assert np.allclose(got, expected, atol=2e-6)


@pytest.mark.parametrize("form", ["raw", "multipart"])
def test_given_photo_with_faces_when_uploaded_then_each_face_has_box_and_emotion(
    service, key, form
):
    png, placed = _photo_with_faces()
    if form == "raw":
        response = _post(service, "/v1/emotion/predict", key, content=png,
                         headers={"Content-Type": "image/png"})  # fmt: skip
    else:
        response = _post(service, "/v1/emotion/predict", key,
                         files={"image": ("room.png", png, "image/png")})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image"] == {"width": 640, "height": 480}
    assert body["model"]["version"] == "1" and body["model"]["runtime"] == "tflite-float16"
    assert len(body["faces"]) == placed
    for face in body["faces"]:
        box = face["box"]
        assert 0 <= box["x"] < 640 and 100 <= box["y"] <= 330 and box["width"] >= 32
        assert face["emotion"] in EMOTIONS


def test_given_photo_without_faces_when_uploaded_then_empty_face_list(service, key):
    ok, jpeg = cv2.imencode(".jpg", np.tile(np.arange(256, dtype=np.uint8), (200, 1)))
    response = _post(service, "/v1/emotion/predict", key, content=jpeg.tobytes(),
                     headers={"Content-Type": "image/jpeg"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["faces"] == []


@pytest.mark.parametrize(
    ("content", "content_type", "status", "says"),
    [
        (b"just text", "image/png", 415, "not a JPEG or PNG"),
        (b"", "image/jpeg", 400, "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 4, "image/png", 400, "truncated"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "image/jpeg", 400, "frame header"),
        (b"{}", "application/json", 415, "predict_faces"),
        (b"a,b", "text/csv", 415, "not accepted"),
    ],
)
def test_given_bad_upload_when_predicted_then_4xx_saying_why(
    service, key, content, content_type, status, says
):
    response = _post(service, "/v1/emotion/predict", key, content=content,
                     headers={"Content-Type": content_type})  # fmt: skip
    assert response.status_code == status, response.text
    assert says in response.json()["message"]


def test_given_huge_declared_png_when_uploaded_then_413_before_decoding(service, key):
    ok, png = cv2.imencode(".png", np.zeros((10, 10), np.uint8))
    header = bytearray(png.tobytes())
    header[16:24] = (50_000).to_bytes(4, "big") + (50_000).to_bytes(4, "big")
    response = _post(service, "/v1/emotion/predict", key, content=bytes(header),
                     headers={"Content-Type": "image/png"})  # fmt: skip
    assert response.status_code == 413 and "pixels" in response.json()["message"]


def test_given_multipart_without_image_field_when_uploaded_then_400(service, key):
    response = _post(service, "/v1/emotion/predict", key,
                     files={"photo": ("x.png", b"\x89PNG", "image/png")})  # fmt: skip
    assert response.status_code == 400 and "'image'" in response.json()["message"]


@pytest.mark.parametrize(
    ("faces", "where"),
    [
        ([[[0] * 48] * 47], "faces.0"),
        ([[[0] * 48] * 47 + [[0] * 47 + [256]]], "faces.0.47.47"),
        ([], "faces"),
    ],
)
def test_given_bad_face_arrays_when_predicted_then_400_naming_the_element(
    service, key, faces, where
):
    response = _post(service, "/v1/emotion/predict_faces", key, json={"faces": faces})
    assert response.status_code == 400, response.text
    body = response.json()  # the one error shape of every route
    assert body["error"] == "invalid_request" and where in body["message"]
    assert [problem["field"] for problem in body["fields"]] == [where]


def test_given_no_key_or_edge_key_when_predicting_then_401_or_403(service):
    faces = {"faces": _faces(1).tolist()}
    assert _post(service, "/v1/emotion/predict_faces", None, json=faces).status_code == 401
    edge_key = service["callers"].key(role="edge_device", name="cam-1")[0]
    assert _post(service, "/v1/emotion/predict_faces", edge_key, json=faces).status_code == 403


def test_given_pickle_content_type_when_posted_then_refused(service, key):
    response = _post(service, "/v1/emotion/predict_faces", key, content=b"\x80\x04.",
                     headers={"Content-Type": "application/vnd.bentoml+pickle"})  # fmt: skip
    assert response.status_code == 415


def test_given_service_key_when_listing_models_then_the_deployed_version(service, key):
    response = httpx.get(service["url"] + "/v1/models", headers={"X-API-Key": key}, timeout=10)
    assert response.status_code == 200, response.text
    (model,) = response.json()["models"]
    assert model["name"] == "fer-emotion" and model["version"] == "1"
    assert model["runtime"] == "tflite-float16" and model["data_version"]


def test_given_enrolled_edge_host_when_pulling_then_manifest_verifies_and_artifact_matches(
    service, tmp_path, capsys
):
    """Enrolment to pull, as a camera host does it: the key file is all the host has."""
    import hashlib

    from edge.protocol import EdgeKeyFile, manifest_path, verify_signed_manifest
    from senim.cli.app import main

    key_file = tmp_path / "cam-7.key"
    with pytest.raises(SystemExit) as done:
        main(["keys", "create", "--name", "cam-7", "--role", "edge_device",
              "--server", service["url"], "--key-file", str(key_file)])  # fmt: skip
    assert done.value.code in (0, None), capsys.readouterr().err
    host = EdgeKeyFile.load(key_file)
    headers = {"X-API-Key": host.api_key}
    body = httpx.get(host.server + manifest_path("fer-emotion"), headers=headers, timeout=30)
    assert body.status_code == 200, body.text
    manifest = verify_signed_manifest(body.json(), host.public_key())
    assert manifest.version == "1" and manifest.format == "tflite-int8"
    artifact = httpx.get(host.server + manifest.artifact_url, headers=headers, timeout=30)
    assert artifact.status_code == 200
    assert len(artifact.content) == manifest.size
    assert hashlib.sha256(artifact.content).hexdigest() == manifest.sha256
    tail = httpx.get(host.server + manifest.artifact_url, timeout=30,
                     headers={**headers, "Range": "bytes=100-"})  # fmt: skip
    assert tail.status_code == 206 and tail.content == artifact.content[100:]


def test_given_service_key_when_pulling_edge_model_then_403(service, key):
    from edge.protocol import manifest_path

    response = httpx.get(service["url"] + manifest_path("fer-emotion"),
                         headers={"X-API-Key": key}, timeout=30)  # fmt: skip
    assert response.status_code == 403


def test_given_enrolled_host_when_senim_edge_runs_a_video_then_model_events_and_heartbeat_land(
    service, tmp_path, capsys
):
    """The README's camera-host path against the real service: enrol, run `senim-edge` on a
    video, and find the host's event (once) and heartbeat in the service's database."""
    import subprocess
    import sys
    from pathlib import Path

    import sqlalchemy as sa
    import yaml

    from senim.cli.app import main
    from senim.platform_db.tables import EdgeEventRecord, EdgeHostRecord
    from tests.edge.conftest import write_face_video

    key_file = tmp_path / "cam-9.key"
    with pytest.raises(SystemExit) as done:
        main(["keys", "create", "--name", "cam-9", "--role", "edge_device",
              "--server", service["url"], "--key-file", str(key_file)])  # fmt: skip
    assert done.value.code in (0, None), capsys.readouterr().err
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({
        "smoothing_seconds": 0.5, "poll_seconds": 3600, "heartbeat_seconds": 3600,
        "drain_seconds": 5, "request_timeout_seconds": 5,
        "rules": [{"name": "any-emotion", "emotions": EMOTIONS, "min_seconds": 1.0,
                   "min_confidence": 0.0, "pre_event_seconds": 0.5, "post_event_seconds": 0.5,
                   "cooldown_seconds": 100}],
    }))  # fmt: skip
    video = write_face_video(tmp_path / "room.avi", seconds=3.0, fps=10)
    state = tmp_path / "state"
    edge = str(Path(sys.executable).with_name("senim-edge"))
    run = subprocess.run(
        [edge, "run", "--key-file", str(key_file), "--source", str(video),
         "--config", str(rules), "--state-dir", str(state)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    status = subprocess.run([edge, "status", "--state-dir", str(state)], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert status.returncode == 0 and "1" in status.stdout, status.stdout + status.stderr

    runtime = service["callers"].runtime
    with runtime.engine.connect() as connection:
        events = (
            connection.execute(
                sa.select(EdgeEventRecord.event).where(EdgeEventRecord.host_id == "cam-9")
            )
            .scalars()
            .all()
        )
        host = connection.execute(
            sa.select(EdgeHostRecord.last_heartbeat).where(EdgeHostRecord.host_id == "cam-9")
        ).scalar_one()
    assert len(events) == 1
    assert events[0]["rule"] == "any-emotion" and events[0]["model_version"] == "1"
    assert host["model_version"] == "1"
    assert (state / "models").is_dir() and any((state / "clips").iterdir())


def _heartbeat(host: str) -> dict:
    return {"host_id": host, "model_version": "1", "fps": 12.5, "outbox_depth": 0,
            "uptime_seconds": 60.0, "sent_at": "2026-12-07T06:00:00+00:00"}  # fmt: skip


def test_given_an_enrolled_host_when_a_second_key_speaks_for_it_then_refused_until_re_enrolled(
    service,
):
    """Host impersonation: a key minted later under an enrolled host's name is refused at
    minting (409), never speaks for the host, and an admin's re-enrolment retires the old
    key instead of sharing the host."""
    from auth import machine_keys
    from auth.errors import Conflict
    from tests.serving.credit_server import TEST_META

    callers = service["callers"]
    host = "cam-lobby"
    owner = callers.key(role="edge_device", name=host)[0]
    assert _post(service, "/v1/edge/heartbeat", owner, json=_heartbeat(host)).status_code == 204
    with pytest.raises(Conflict, match="enrolled"):
        callers.key(role="edge_device", name=host)

    replacement = machine_keys.create_key(
        callers.runtime, host, "edge_device", TEST_META,
        actor_id=callers.admin.id, actor_roles=("admin",), re_enrol=True,
    )  # fmt: skip
    time.sleep(callers.runtime.params.api_key_cache_seconds + 0.2)

    old = _post(service, "/v1/edge/heartbeat", owner, json=_heartbeat(host))
    new = _post(service, "/v1/edge/heartbeat", replacement.key, json=_heartbeat(host))
    assert old.status_code == 401 and new.status_code == 204


def test_given_multipart_without_a_boundary_when_posting_faces_then_a_fast_400(service, key):
    response = httpx.post(
        service["url"] + "/v1/emotion/predict_faces",
        content=b"--x\r\nContent-Disposition: form-data; name=faces\r\n\r\n[]\r\n--x--\r\n",
        headers={"X-API-Key": key, "Content-Type": "multipart/form-data"},
        timeout=10,
    )
    assert response.status_code == 400 and "boundary" in response.json()["message"]


def test_given_classified_faces_when_monitored_then_a_report_compares_them_with_training_faces(
    service, key, _fer_store_session, monkeypatch
):
    """The faces the service answered are kept as statistics (never pixels); monitor-emotion
    fetches the deployed version's training snapshot from the DVC remote (another machine's
    SENIM_HOME: only the remote is shared) and reports drift; the service serves it."""
    import sqlalchemy as sa

    from flows.monitor_emotion import monitor_emotion
    from senim.platform_db.engine import make_engine

    engine = make_engine(service["stores"].database_url)
    query = sa.text("SELECT count(*) FROM monitoring_rows WHERE family = 'emotion'")

    def kept() -> int:
        with engine.connect() as connection:
            return connection.execute(query).scalar()

    before = kept()  # the module's other tests classified faces too
    photo, placed = _photo_with_faces()
    faces = _faces(21)
    assert _post(
        service, "/v1/emotion/predict_faces", key, json={"faces": faces.tolist()}
    ).is_success
    assert _post(service, "/v1/emotion/predict", key, content=photo,
                 headers={"Content-Type": "image/png"}).is_success  # fmt: skip
    expected = before + len(faces) + placed
    deadline = time.monotonic() + 30
    while kept() < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kept() == expected
    engine.dispose()

    monkeypatch.setenv(
        "SENIM_DVC_REMOTE", str(Path(_fer_store_session["root"]) / "home" / "dvc-remote")
    )
    result = monitor_emotion(retrain=False)

    summary = result["summary"]
    assert summary["rows"] == expected
    assert set(summary["feature_drift"]) == {"brightness", "contrast"}
    assert set(summary["prediction_drift"]) == {"emotion", "confidence"}
    assert result["retraining"]["started"] is False  # retrain=False: a report only
    assert Path(result["report"], "report.html").is_file()
    page = httpx.get(service["url"] + "/v1/monitoring/emotion/report?format=json",
                     headers={"X-API-Key": key}, timeout=30)  # fmt: skip
    assert page.status_code == 200 and page.json()["rows"] == expected
