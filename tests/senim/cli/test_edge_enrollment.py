"""`senim keys create --role edge_device --key-file F --server URL`: a complete host
enrolment the edge runner loads as is, holding the server's manifest signing key."""

from __future__ import annotations

import json

import pytest

from edge.protocol import EdgeKeyFile
from senim.environment import resolve_stores
from serving.edge_signing import signing_key_for
from tests.senim.cli.cli_runner import run_senim as _senim


def _create(name: str, role: str, *extra: str) -> list[str]:
    return ["keys", "create", "--name", name, "--role", role, *extra]


def test_given_an_edge_device_key_file_when_created_then_edge_key_file_loads_it(
    senim_home, tmp_path, capsys, monkeypatch
):
    key_file = tmp_path / "hosts" / "cam-lobby-01.key"

    code, out, err = _senim(
        _create("cam-lobby-01", "edge_device", "--key-file", str(key_file),
                "--server", "https://senim.example.com/"),
        capsys, monkeypatch,
    )  # fmt: skip

    assert code == 0, err
    assert "snm_" not in out
    loaded = EdgeKeyFile.load(key_file)
    assert loaded.host_id == "cam-lobby-01" and loaded.role == "edge_device"
    assert loaded.server == "https://senim.example.com"
    assert loaded.api_key.startswith(f"snm_{loaded.prefix}_")
    assert loaded.manifest_public_key == signing_key_for(resolve_stores()).public_key_text
    assert (key_file.stat().st_mode & 0o777) == 0o600


def test_given_an_edge_device_key_file_without_server_when_created_then_refused_no_key_made(
    senim_home, tmp_path, capsys, monkeypatch
):
    key_file = tmp_path / "cam.key"

    code, _, err = _senim(
        _create("cam-1", "edge_device", "--key-file", str(key_file)), capsys, monkeypatch
    )

    assert code == 1 and "--server is required" in err and len(err.strip().splitlines()) == 1
    assert not key_file.exists()
    assert "cam-1" not in _senim(["keys", "list"], capsys, monkeypatch)[1]


@pytest.mark.parametrize(
    "server",
    ["ftp://senim.example.com", "senim.example.com", "https://", "https://u:p@host",
     "https://host:99999", "https://host/?a=1"],
)  # fmt: skip
def test_given_a_bad_server_url_when_created_then_one_line_error_naming_the_option(
    senim_home, tmp_path, capsys, monkeypatch, server
):
    key_file = tmp_path / "cam.key"

    code, _, err = _senim(
        _create("cam-1", "edge_device", "--key-file", str(key_file), "--server", server),
        capsys,
        monkeypatch,
    )

    assert code == 1 and err.startswith("error: --server must be an http")
    assert not key_file.exists()


def test_given_a_service_key_file_when_created_then_the_payload_is_as_before(
    senim_home, tmp_path, capsys, monkeypatch
):
    key_file = tmp_path / "svc.key"

    code, _, _ = _senim(
        _create("loan-origination", "service", "--key-file", str(key_file)), capsys, monkeypatch
    )

    assert code == 0
    assert set(json.loads(key_file.read_text())) == {"api_key", "prefix", "role"}


@pytest.mark.parametrize(
    ("server", "warned"),
    [("http://senim.example.com", True), ("http://127.0.0.1:3001", False),
     ("http://localhost:3001", False), ("https://senim.example.com", False)],
)  # fmt: skip
def test_given_a_plain_http_server_off_this_machine_when_enrolled_then_a_warning(
    senim_home, tmp_path, capsys, monkeypatch, server, warned
):
    key_file = tmp_path / "cam.key"

    code, _, err = _senim(
        _create("cam-http", "edge_device", "--key-file", str(key_file), "--server", server),
        capsys, monkeypatch,
    )  # fmt: skip

    assert code == 0, err
    assert ("plain http" in err) is warned


def test_given_an_enrolled_host_when_enrolled_again_then_refused_unless_re_enrolled(
    senim_home, tmp_path, capsys, monkeypatch
):
    args = ("--server", "https://senim.example.com")
    first = _senim(_create("cam-2", "edge_device", "--key-file", str(tmp_path / "a.key"), *args),
                   capsys, monkeypatch)  # fmt: skip
    again = _senim(_create("cam-2", "edge_device", "--key-file", str(tmp_path / "b.key"), *args),
                   capsys, monkeypatch)  # fmt: skip
    replaced = _senim(
        _create("cam-2", "edge_device", "--key-file", str(tmp_path / "c.key"), *args,
                "--re-enrol"),
        capsys, monkeypatch,
    )  # fmt: skip

    assert first[0] == 0 and again[0] != 0 and "re-enrol" in again[2]
    assert replaced[0] == 0
    listing = _senim(["keys", "list"], capsys, monkeypatch)[1]
    assert listing.count("cam-2") == 2  # the old key is listed, revoked


def test_given_a_host_that_beat_when_listing_hosts_on_the_cli_then_it_is_online(
    senim_home, capsys, monkeypatch
):
    from datetime import UTC, datetime

    from auth.runtime import AuthRuntime
    from edge.protocol import Heartbeat
    from serving.edge_store import record_heartbeat

    empty = _senim(["edge", "hosts"], capsys, monkeypatch)
    runtime = AuthRuntime.from_environment()
    try:
        beat = Heartbeat(host_id="cam-lobby", model_version="3", fps=24.5, outbox_depth=2,
                         uptime_seconds=60.0, sent_at=datetime.now(UTC).isoformat())  # fmt: skip
        record_heartbeat(runtime, beat, "key:abc")
    finally:
        runtime.close()
    code, out, err = _senim(["edge", "hosts"], capsys, monkeypatch)

    assert empty[0] == 0 and "no camera host" in empty[1]
    assert code == 0, err
    line = next(line for line in out.splitlines() if "cam-lobby" in line)
    assert "online" in line and "24.5" in line
