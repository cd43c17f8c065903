"""`senim users|keys|audit`: first-admin bootstrap, accounts, keys and the audit trail."""

from __future__ import annotations

import json
import re

import pyotp

from senim.environment import process_account
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
    assert f"host:{process_account()}" in out  # host access is admin, named by OS account


def test_given_unknown_user_when_disabled_then_not_found(senim_home, capsys, monkeypatch):
    code, _, err = _senim(["users", "disable", "--username", "ghost"], capsys, monkeypatch)
    assert code == 1 and "no user named 'ghost'" in err


def _keys_listed(capsys, monkeypatch) -> str:
    return _senim(["keys", "list"], capsys, monkeypatch)[1]


def test_given_an_existing_key_file_when_creating_a_key_then_one_line_and_no_key_made(
    senim_home, tmp_path, capsys, monkeypatch
):
    """The reported bug: the second README call failed with FileExistsError after the key
    was made (a live key whose secret nobody saw, audited as created)."""
    key_file = tmp_path / "svc.key"
    key_file.write_text("someone else's file")

    code, _, err = _senim(
        ["keys", "create", "--name", "loan-origination", "--role", "service",
         "--key-file", str(key_file)],
        capsys, monkeypatch,
    )  # fmt: skip

    assert code == 1 and err.count("\n") == 1 and "exists" in err and "no key was created" in err
    assert key_file.read_text() == "someone else's file"
    assert "loan-origination" not in _keys_listed(capsys, monkeypatch)
    audit = _senim(["audit", "tail", "--limit", "20"], capsys, monkeypatch)[1]
    assert "api_key:create" not in audit


def test_given_no_key_file_when_creating_a_key_then_it_lands_private_under_senim_home(
    senim_home, capsys, monkeypatch
):
    code, out, _ = _senim(
        ["keys", "create", "--name", "loan-origination", "--role", "service"], capsys, monkeypatch
    )

    written = senim_home / "keys" / "loan-origination.key"
    assert code == 0 and str(written) in out and "snm_" not in out
    assert (written.stat().st_mode & 0o777) == 0o600
    assert json.loads(written.read_text())["api_key"].startswith("snm_")
    printed = _senim(["keys", "create", "--name", "once", "--role", "service", "--print"],
                     capsys, monkeypatch)  # fmt: skip
    assert printed[0] == 0 and "snm_" in printed[1]
    assert not (senim_home / "keys" / "once.key").exists()


def test_given_a_reviewer_when_an_admin_invites_them_then_they_enrol_2fa_from_the_cli(
    senim_home, capsys, monkeypatch
):
    """The reported gap: only the first admin could enrol; a reviewer got 'no two-factor
    authentication enrolled' (exit 6) with no CLI way to start."""
    import re

    import pyotp

    password = "correct horse battery staple\n"
    for username, role in (("root-admin", "admin"), ("bob-reviewer", "reviewer")):
        code, _, err = _senim(
            ["users", "create", "--username", username, "--role", role, "--password-stdin"],
            capsys, monkeypatch, stdin=password,
        )  # fmt: skip
        assert code == 0, err

    without_invite = _senim(
        ["users", "enroll-totp", "--username", "bob-reviewer", "--invite", "made-up",
         "--password-stdin"], capsys, monkeypatch, stdin=password,
    )  # fmt: skip
    code, out, err = _senim(
        ["users", "totp-invite", "--username", "bob-reviewer"], capsys, monkeypatch
    )
    invite = out.splitlines()[1].strip()
    code, out, err = _senim(
        ["users", "enroll-totp", "--username", "bob-reviewer", "--invite", invite,
         "--password-stdin"], capsys, monkeypatch, stdin=password,
    )  # fmt: skip
    assert code == 0, err
    secret = pyotp.parse_uri(re.search(r"otpauth://\S+", out).group(0)).secret
    again = _senim(
        ["users", "enroll-totp", "--username", "bob-reviewer", "--invite", invite,
         "--password-stdin"], capsys, monkeypatch, stdin=password,
    )  # fmt: skip
    confirmed = _senim(
        ["users", "confirm-totp", "--username", "bob-reviewer", "--code", pyotp.TOTP(secret).now()],
        capsys, monkeypatch,
    )  # fmt: skip

    assert without_invite[0] != 0 and "invite" in without_invite[2]
    assert again[0] != 0  # an invite works once
    assert confirmed[0] == 0 and "Recovery codes" in confirmed[1]
    listing = _senim(["users", "list"], capsys, monkeypatch)[1]
    bob = next(line for line in listing.splitlines() if "bob-reviewer" in line)
    assert "yes" in bob.lower() or "✓" in bob


def test_given_key_files_where_the_readme_once_wrote_them_then_git_and_docker_ignore_them():
    """A `docker build` after following the README must not bake API keys into the image."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    for name in ("svc.key", "cam-lobby.key", "deploy/hosts/cam-2.key"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=root, check=False)
        assert ignored.returncode == 0, f"git would commit {name}"
    assert "*.key" in (root / ".dockerignore").read_text().split()
