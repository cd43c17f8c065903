"""`senim review approve|reject|rollback` and `senim models history`: exit codes, one-line
errors, and nothing moved on any refusal."""

from __future__ import annotations

import pytest

from tests.pipelines.release.test_review import (
    MODEL,
    PASSWORD,
    alias_moves,
    make_person,
    register_version,
    registry_state,
    review_workspace,
    version_tags,
)
from tests.senim.cli.cli_runner import run_senim as _senim


@pytest.fixture()
def world(tmp_path, monkeypatch):
    review_workspace(tmp_path, monkeypatch)
    monkeypatch.setenv("SENIM_REVIEW_PASSWORD", PASSWORD)
    return tmp_path


def _decide(action: str, person, version: str, *extra: str) -> list[str]:
    return ["review", action, MODEL, version, "--comment", "checked the card",
            "--username", person.username, *extra]  # fmt: skip


def test_given_a_reviewer_when_approving_on_the_cli_then_champion_moves_and_history_shows_it(
    world, capsys
):
    alice = make_person("alice", ["reviewer"])
    version, _ = register_version()

    code, out, err = _senim(_decide("approve", alice, version, "--totp", alice.code()), capsys)

    assert code == 0, err
    assert f"version {version} approved; champion is now version {version}" in out
    assert registry_state()["aliases"] == {"champion": version}

    code, out, _ = _senim(["models", "history", MODEL], capsys)
    assert code == 0
    lines = [line for line in out.splitlines() if "alice" in line or "trainer" in line]
    assert [("gate" in lines[0]), ("approve" in lines[1])] == [True, True]


def test_given_a_reviewer_when_rejecting_on_the_cli_then_challenger_is_removed(world, capsys):
    alice = make_person("alice", ["reviewer"])
    version, _ = register_version()

    code, out, err = _senim(_decide("reject", alice, version, "--totp", alice.code()), capsys)

    assert code == 0, err and "challenger removed" in out
    assert registry_state()["aliases"] == {}
    assert version_tags(version)["review.status"] == "rejected"


@pytest.mark.parametrize(
    ("case", "exit_code", "message"),
    [
        ("no_totp", 6, "pass --totp CODE"),
        ("ml_engineer", 6, "lacks permission promote_model"),
        ("self_approval", 6, "may not approve it"),
        ("wrong_password", 1, "Invalid username or password"),
        ("unknown_version", 5, "has no version 42"),
        ("failed_gate", 6, "failed the automatic gate"),
        ("empty_comment", 6, "--comment must say why"),
    ],
)
def test_given_a_refused_approval_when_run_then_one_line_error_exit_code_and_nothing_moves(
    world, capsys, monkeypatch, case, exit_code, message
):
    person = make_person("erin" if case != "self_approval" else "trainer",
                         ["ml_engineer"] if case == "ml_engineer" else ["reviewer"])  # fmt: skip
    version, _ = register_version(passed=case != "failed_gate")
    args = _decide("approve", person, version, "--totp", person.code())
    if case == "no_totp":
        args = args[:-2]
    elif case == "wrong_password":
        monkeypatch.setenv("SENIM_REVIEW_PASSWORD", "not the password at all")
    elif case == "unknown_version":
        args[3] = "42"
    elif case == "empty_comment":
        args[5] = "  "
    before, moves = registry_state(), alias_moves()

    code, _, err = _senim(args, capsys)

    assert code == exit_code
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert registry_state() == before and alias_moves() == moves


def test_given_an_unreachable_tracking_server_when_approving_then_exit_4_and_nothing_moves(
    world, capsys, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")

    code, _, err = _senim(
        ["review", "approve", MODEL, "1", "--comment", "x", "--username", "a", "--totp", "1"],
        capsys,
    )

    assert code == 4 and "unreachable" in err


def test_given_two_approvals_when_rolled_back_on_the_cli_then_champion_returns(world, capsys):
    alice, bob = make_person("alice", ["reviewer"]), make_person("bob", ["reviewer"])
    first, _ = register_version()
    second, _ = register_version()
    assert _senim(_decide("approve", alice, first, "--totp", alice.code()), capsys)[0] == 0
    assert _senim(_decide("approve", alice, second, "--totp", alice.code()), capsys)[0] == 0

    code, out, err = _senim(
        ["review", "rollback", MODEL, "--comment", "regression", "--username", "bob",
         "--totp", bob.code()],
        capsys,
    )  # fmt: skip

    assert code == 0, err
    assert f"from version {second} to version {first}" in out
    assert registry_state()["aliases"] == {"champion": first}
    code, out, _ = _senim(["models", "history", MODEL], capsys)
    assert "rollback" in out and "regression" in out


def test_given_no_history_when_listed_then_a_clear_error(world, capsys):
    code, _, err = _senim(["models", "history", "unknown-model"], capsys)

    assert code == 5 and "no alias history for 'unknown-model'" in err
