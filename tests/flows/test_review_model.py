"""The ``review-model`` flow pauses on Prefect's ephemeral API until `senim review approve`
resumes it; the flow run then applies the decision."""

from __future__ import annotations

import threading
import time

import pytest

from tests.pipelines.release.test_review import (
    MODEL,
    PASSWORD,
    audit_rows,
    make_person,
    register_version,
    registry_state,
    review_workspace,
    version_tags,
)


def _wait_for_paused_run(version: str, thread: threading.Thread, limit_s: float = 60.0):
    """The paused run's id, once the flow (in ``thread``) has paused; bounded, not timed."""
    from flows.review_model import find_paused_review

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and thread.is_alive():
        paused = find_paused_review(MODEL, version)
        if paused is not None:
            return paused.flow_run_id
        time.sleep(0.5)
    pytest.fail("the review-model flow never paused")


def test_given_a_paused_review_flow_when_a_reviewer_approves_then_the_flow_run_applies_it(
    tmp_path, monkeypatch, capsys
):
    from flows.review_model import review_model
    from senim.cli.app import main

    review_workspace(tmp_path, monkeypatch)
    monkeypatch.setenv("SENIM_REVIEW_PASSWORD", PASSWORD)
    alice = make_person("alice", ["reviewer"])
    version, _ = register_version()
    outcome: dict = {}

    def run_flow() -> None:
        try:
            outcome["result"] = review_model(MODEL, version, timeout_seconds=90, poll_seconds=1)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=run_flow, daemon=True)
    thread.start()
    run_id = _wait_for_paused_run(version, thread)
    assert registry_state()["aliases"] == {"challenger": version}  # paused: nothing moved yet

    with pytest.raises(SystemExit) as exit_info:
        main(["review", "approve", MODEL, version, "--comment", "via the flow",
              "--username", "alice", "--totp", alice.code()])  # fmt: skip
    thread.join(timeout=60)

    out = capsys.readouterr().out
    assert (exit_info.value.code or 0) == 0
    assert f"resumed review flow run {run_id}" in out
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"]["status"] == "approved"
    assert registry_state()["aliases"] == {"champion": version}
    assert version_tags(version)["review.reviewer"] == "alice"
    (approval,) = audit_rows("model:approve")
    assert approval.outcome == "success" and approval.details["via"] == f"flow-run:{run_id}"


def test_given_a_resume_without_the_reviewers_sign_in_when_applied_then_refused_and_nothing_moves(
    tmp_path, monkeypatch
):
    """Whoever can resume flow runs (the Prefect UI, its API) cannot stand in for a
    reviewer: the decision must carry the reviewer's own signed, 2FA access token."""
    from prefect.flow_runs import resume_flow_run

    from flows.review_model import ReviewInput, review_model

    review_workspace(tmp_path, monkeypatch)
    alice = make_person("alice", ["reviewer"])
    version, _ = register_version()
    outcome: dict = {}

    def run_flow() -> None:
        try:
            outcome["result"] = review_model(MODEL, version, timeout_seconds=90, poll_seconds=1)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcome["error"] = exc

    thread = threading.Thread(target=run_flow, daemon=True)
    thread.start()
    run_id = _wait_for_paused_run(version, thread)
    forged = ReviewInput(decision="approve", reviewer_id=alice.user_id, reviewer="alice",
                         comment="looks fine", access_token="not-a-token")  # fmt: skip
    resume_flow_run(run_id, run_input=forged.model_dump())
    thread.join(timeout=60)

    assert "sign-in proof is not valid" in str(outcome.get("error"))
    assert registry_state()["aliases"] == {"challenger": version}
    assert "review.reviewer" not in version_tags(version)


def test_given_a_version_not_awaiting_review_when_the_flow_starts_then_it_refuses_to_pause(
    tmp_path, monkeypatch
):
    from flows.review_model import review_model
    from pipelines.release.review import ReviewRefused

    review_workspace(tmp_path, monkeypatch)
    version, _ = register_version(passed=False)

    with pytest.raises(ReviewRefused, match="failed the automatic gate"):
        review_model(MODEL, version, timeout_seconds=5, poll_seconds=1)


def test_given_no_review_flow_waiting_when_deciding_then_no_prefect_api_is_started(
    tmp_path, monkeypatch, capsys
):
    """A decision takes seconds: with no run waiting (no marker), Prefect is not asked."""
    import flows.review_model as review_flow
    from senim.cli.app import main

    review_workspace(tmp_path, monkeypatch)
    monkeypatch.setenv("SENIM_REVIEW_PASSWORD", PASSWORD)
    alice = make_person("alice", ["reviewer"])
    version, _ = register_version()

    def no_prefect(*_args, **_kwargs):
        raise AssertionError("the Prefect API was consulted with no review waiting")

    monkeypatch.setattr(review_flow, "_paused_run", no_prefect)
    with pytest.raises(SystemExit) as exit_info:
        main(["review", "approve", MODEL, version, "--comment", "direct",
              "--username", "alice", "--totp", alice.code()])  # fmt: skip

    assert (exit_info.value.code or 0) == 0, capsys.readouterr().err
    assert registry_state()["aliases"] == {"champion": version}
