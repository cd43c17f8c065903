"""`senim users|keys|audit`: first-admin bootstrap, accounts, keys and the audit trail."""

from __future__ import annotations

import json
import re

import pyotp

from tests.senim.cli.cli_runner import run_senim as _senim


def test_given_empty_store_when_first_admin_created_then_one_time_enrollment_completes(
    senim_home, capsys, monkeypatch
):
    code, out, _ = _senim(
        ["users", "create", "--username", "root-admin", "--role", "admin", "--password-stdin"],
        capsys,
        monkeypatch,
        stdin="correct horse battery staple\n",
    )
    assert code == 0 and "shown once" in out
    uri = re.search(r"otpauth://\S+", out).group(0)
    totp_code = pyotp.parse_uri(uri).now()

    code, out, _ = _senim(
        ["users", "confirm-totp", "--username", "root-admin", "--code", totp_code],
        capsys,
        monkeypatch,
    )
    assert code == 0
    assert len(re.findall(r"^\s+[a-z0-9]{4}(-[a-z0-9]{4}){5}$", out, flags=re.M)) == 10

    code, out, _ = _senim(["users", "list"], capsys, monkeypatch)
    assert "root-admin" in out and "admin" in out


def test_given_no_admin_when_first_user_is_not_admin_then_refused(senim_home, capsys, monkeypatch):
    code, _, err = _senim(
        ["users", "create", "--username", "someone", "--role", "reviewer", "--password-stdin"],
        capsys,
        monkeypatch,
        stdin="correct horse battery staple\n",
    )
    assert code == 1 and "first account must have the admin role" in err


def test_given_weak_password_when_user_created_then_one_line_error(senim_home, capsys, monkeypatch):
    code, _, err = _senim(
        ["users", "create", "--username", "root-admin", "--role", "admin", "--password-stdin"],
        capsys,
        monkeypatch,
        stdin="short\n",
    )
    assert code == 1 and err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_given_admin_when_users_and_keys_managed_then_audited(senim_home, capsys, monkeypatch):
    password = "correct horse battery staple\n"
    _senim(
        ["users", "create", "--username", "root-admin", "--role", "admin", "--password-stdin"],
        capsys,
        monkeypatch,
        stdin=password,
    )
    code, _, _ = _senim(
        ["users", "create", "--username", "rev", "--role", "reviewer", "--password-stdin"],
        capsys,
        monkeypatch,
        stdin="another long passphrase 42\n",
    )
    assert code == 0
    assert (
        _senim(
            ["users", "grant", "--username", "rev", "--role", "ml_engineer"], capsys, monkeypatch
        )[0]
        == 0
    )
    key_file = senim_home.parent / "svc.key"
    code, out, _ = _senim(
        [
            "keys",
            "create",
            "--name",
            "loan-origination",
            "--role",
            "service",
            "--key-file",
            str(key_file),
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0 and "snm_" not in out  # the key goes to the file only
    stored = json.loads(key_file.read_text())
    assert stored["api_key"].startswith(f"snm_{stored['prefix']}_")
    assert (key_file.stat().st_mode & 0o777) == 0o600
    code, out, _ = _senim(["keys", "list"], capsys, monkeypatch)
    assert stored["prefix"] in out and stored["api_key"] not in out
    assert _senim(["keys", "revoke", "--prefix", stored["prefix"]], capsys, monkeypatch)[0] == 0
    assert _senim(["users", "disable", "--username", "rev"], capsys, monkeypatch)[0] == 0

    code, out, _ = _senim(["audit", "tail", "--limit", "50"], capsys, monkeypatch)
    for action in ("user:create", "user:grant", "api_key:create", "api_key:revoke", "user:disable"):
        assert action in out
    assert "cli:" in out


def test_given_unknown_user_when_disabled_then_not_found(senim_home, capsys, monkeypatch):
    code, _, err = _senim(["users", "disable", "--username", "ghost"], capsys, monkeypatch)
    assert code == 1 and "no user named 'ghost'" in err
