"""The review workflow's core: the gate under review, approve, reject, rollback, refusals.

Versions are registered directly in a throwaway SQLite MLflow store (no training), and
users get a confirmed TOTP secret written straight into the auth database, so each test
builds its own small world in about a second.
"""

from __future__ import annotations

import json
import os

import pytest

from pipelines.release import review as mr
from pipelines.release.gate import GateDecision
from tests.auth.totp_person import TotpPerson as Person

MODEL = "credit-rating"
PASSWORD = "correct horse battery staple"
FAST_AUTH = {"argon2_time_cost": 1, "argon2_memory_kib": 19456}


def review_workspace(root, monkeypatch, **review) -> None:
    """A workspace whose ``credit-rating`` needs approval (unless ``review`` overrides)."""
    from tests.integration_workspace import make_workspace

    settings = {"approval_required_for": [MODEL], **review}
    make_workspace(root, monkeypatch, auth=FAST_AUTH, review=settings)
    # The trainer is the OS account training runs as (never a variable): stand one in.
    monkeypatch.setattr("pipelines.release.review.os_account", lambda: "trainer")
    monkeypatch.delenv("SENIM_API_KEY", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # ephemeral API unless the test sets one


def make_person(username: str, roles: list[str], *, totp: bool = True) -> Person:
    """An account with ``roles`` and (by default) a confirmed TOTP secret."""
    from auth import accounts
    from auth.models import TotpSecret
    from auth.runtime import CLI_REQUEST, AuthRuntime
    from auth.totp import new_totp_secret

    runtime = AuthRuntime.from_environment()
    try:
        bootstrap = not accounts.admin_exists(runtime)
        if bootstrap and "admin" not in roles:
            accounts.create_user(runtime, "root-admin", PASSWORD, ["admin"], CLI_REQUEST,
                                 actor_id=None)  # fmt: skip
        user = accounts.create_user(
            runtime,
            username,
            PASSWORD,
            roles,
            CLI_REQUEST,
            actor_id=None if bootstrap and "admin" in roles else "cli:test",
            actor_roles=("admin",),
        )
        secret = new_totp_secret()
        if totp:
            with runtime.sessions.begin() as session:
                session.add(
                    TotpSecret(
                        user_id=user.id,
                        secret_encrypted=runtime.secret_box.encrypt(secret, context=user.id),
                        created_at=runtime.now(),
                        confirmed_at=runtime.now(),
                    )
                )
    finally:
        runtime.close()
    return Person(username, user.id, secret)


def register_version(*, passed: bool = True, model: str = MODEL, trained_by: str | None = None):
    """A new version of ``model`` gated like the flows do; returns its version string."""
    from pipelines.common.mlflow_store import mlflow_client
    from pipelines.release.promotion import apply_gate
    from pipelines.release.registry import RegisteredVersion, model_exists
    from senim.config import load_params
    from senim.environment import resolve_stores

    stores = resolve_stores()
    client = mlflow_client(stores)
    if not model_exists(client, model):
        client.create_registered_model(model)
    tags = {"gate.decision": "pending", "evidence.card.sha256": "ab" * 32}
    if trained_by:
        tags["trained_by"] = trained_by
    version = client.create_model_version(model, source="file:///tmp/senim-model", tags=tags)
    client.set_registered_model_alias(model, "challenger", version.version)
    registered = RegisteredVersion(model, str(version.version), "")
    reasons = ["macro_f1 ok"] if passed else ["macro_f1 0.1000 >= 0.2: FAILED"]
    decision = apply_gate(
        client,
        registered,
        GateDecision(passed=passed, reasons=reasons),
        load_params(stores.params_path).review,
        stores.database_url,
    )
    return str(version.version), decision


def registry_state(model: str = MODEL) -> dict:
    """Aliases and every version's tags: what a refused decision must leave unchanged."""
    from pipelines.common.mlflow_store import mlflow_client
    from senim.environment import resolve_stores

    client = mlflow_client(resolve_stores())
    found = client.get_registered_model(model)
    versions = client.search_model_versions(f"name = '{model}'")
    return {
        "aliases": {alias: str(v) for alias, v in found.aliases.items()},
        "tags": {str(v.version): dict(v.tags) for v in versions},
    }


def version_tags(version: str, model: str = MODEL) -> dict:
    from pipelines.common.mlflow_store import mlflow_client
    from senim.environment import resolve_stores

    return dict(mlflow_client(resolve_stores()).get_model_version(model, version).tags)


def alias_moves(model: str = MODEL) -> list[tuple]:
    from pipelines.release.alias_history import history, open_history
    from senim.environment import resolve_stores

    moves = history(open_history(resolve_stores().database_url), model)
    return [(m.alias, m.from_version, m.to_version, m.action, m.actor) for m in moves]


def audit_rows(action_prefix: str = "model:") -> list:
    from auth.audit import query
    from auth.runtime import AuthRuntime

    runtime = AuthRuntime.from_environment()
    try:
        with runtime.sessions() as session:
            rows = query(session, limit=1000)
            return [r for r in reversed(rows) if r.action.startswith(action_prefix)]
    finally:
        runtime.close()


class Desk:
    """The CLI's wiring (runtime + desk) for calling the core directly in one test."""

    def __enter__(self):
        from auth.runtime import AuthRuntime
        from pipelines.common.mlflow_store import mlflow_client
        from senim.config import load_params
        from senim.environment import resolve_stores

        stores = resolve_stores()
        self.runtime = AuthRuntime.from_environment()
        review = load_params(stores.params_path).review
        self.desk = mr.ReviewDesk(
            mlflow_client(stores), self.runtime.sessions, review, self.runtime.audit
        )
        return self

    def __exit__(self, *exc) -> None:
        self.runtime.close()

    def sign_in(self, person: Person) -> mr.Reviewer:
        return mr.authenticate_reviewer(
            self.runtime, person.username, PASSWORD, person.code(), self.desk.review
        )


@pytest.fixture()
def world(tmp_path, monkeypatch):
    review_workspace(tmp_path, monkeypatch)
    return tmp_path


def test_given_approval_required_when_the_gate_passes_then_challenger_awaits_review(world):
    version, decision = register_version()

    assert decision.label == "awaiting review" and decision.passed
    assert "awaiting review" in decision.summary()
    state = registry_state()
    assert state["aliases"] == {"challenger": version}
    tags = state["tags"][version]
    assert tags["review.status"] == "awaiting_review" and tags["review.gate"] == "passed"
    assert tags["trained_by"] == "trainer" and tags["gate.decision"] == "awaiting review"
    assert alias_moves() == [("challenger", None, version, "gate", "trainer")]


def test_given_no_approval_required_when_the_gate_passes_then_champion_moves_at_once(
    tmp_path, monkeypatch
):
    review_workspace(tmp_path, monkeypatch, approval_required_for=[])

    version, decision = register_version()

    assert decision.label == "promoted"
    assert registry_state()["aliases"] == {"champion": version}
    assert version_tags(version)["review.status"] == "auto_promoted"
    assert alias_moves() == [
        ("challenger", None, version, "gate", "trainer"),
        ("champion", None, version, "auto", "trainer"),
        ("challenger", version, None, "auto", "trainer"),
    ]


def test_given_a_failing_gate_when_applied_then_failed_is_recorded_and_champion_stays(world):
    version, decision = register_version(passed=False)

    assert decision.label == "rejected"
    tags = version_tags(version)
    assert tags["review.gate"] == "failed" and "FAILED" in tags["gate.reasons"]
    assert "champion" not in registry_state()["aliases"]


def test_given_an_awaiting_version_when_a_reviewer_approves_then_champion_moves_and_is_recorded(
    world,
):
    alice = make_person("alice", ["reviewer"])
    version, _ = register_version()

    with Desk() as d:
        result = mr.decide(d.desk, d.sign_in(alice), "approve", MODEL, version, "looks fair")

    assert result.status == "approved" and result.champion == version
    assert registry_state()["aliases"] == {"champion": version}
    tags = version_tags(version)
    assert tags["review.status"] == "approved" and tags["review.reviewer"] == "alice"
    assert tags["review.comment"] == "looks fair" and tags["review.at"].endswith("+00:00")
    assert json.loads(tags["review.evidence"]) == {"evidence.card.sha256": "ab" * 32}
    assert alias_moves()[1:] == [
        ("champion", None, version, "approve", "alice"),
        ("challenger", version, None, "approve", "alice"),
    ]
    approvals = audit_rows("model:approve")
    assert [(r.actor, r.outcome) for r in approvals] == [(alice.user_id, "success")]
    assert approvals[0].details["comment"] == "looks fair"
    assert approvals[0].details["reviewer"] == "alice"


def test_given_an_awaiting_version_when_rejected_then_challenger_goes_and_champion_stays(world):
    alice = make_person("alice", ["reviewer"])
    version, _ = register_version()

    with Desk() as d:
        mr.decide(d.desk, d.sign_in(alice), "reject", MODEL, version, "biased on sector X")

    assert registry_state()["aliases"] == {}
    tags = version_tags(version)
    assert tags["review.status"] == "rejected" and tags["review.comment"] == "biased on sector X"
    assert alias_moves()[-1] == ("challenger", version, None, "reject", "alice")
    assert [r.outcome for r in audit_rows("model:reject")] == ["success"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("failed_gate", "failed the automatic gate"),
        ("already_approved", "already approved"),
        ("unknown_version", "has no version 99"),
        ("unknown_model", "no registered model named 'nope'"),
    ],
)
def test_given_a_version_that_cannot_be_reviewed_when_approved_then_refused_and_nothing_moves(
    world, setup, message
):
    alice = make_person("alice", ["reviewer"])
    model, version = MODEL, None
    if setup == "failed_gate":
        version, _ = register_version(passed=False)
    else:
        version, _ = register_version()
    with Desk() as d:
        reviewer = d.sign_in(alice)
        if setup == "already_approved":
            mr.decide(d.desk, reviewer, "approve", MODEL, version, "fine")
        elif setup == "unknown_version":
            version = "99"
        elif setup == "unknown_model":
            model = "nope"
        before, moves_before = registry_state(), alias_moves()

        with pytest.raises((mr.ReviewRefused, mr.RegistryError), match=message):
            mr.decide(d.desk, reviewer, "approve", model, version, "again")

    assert registry_state() == before and alias_moves() == moves_before


def test_given_the_trainer_when_they_approve_their_own_version_then_refused_and_audited(world):
    bob = make_person("bob", ["reviewer"])
    version, _ = register_version(trained_by="Bob")
    before = registry_state()

    with Desk() as d, pytest.raises(mr.ReviewRefused, match="bob trained .* may not approve"):
        mr.decide(d.desk, d.sign_in(bob), "approve", MODEL, version, "mine, all good")

    assert registry_state() == before
    assert [(r.outcome, r.details["reason"]) for r in audit_rows("model:approve")] == [
        ("denied", "self_approval")
    ]


def test_given_self_approval_allowed_when_the_trainer_approves_then_champion_moves(
    tmp_path, monkeypatch
):
    review_workspace(tmp_path, monkeypatch, forbid_self_approval=False)
    bob = make_person("bob", ["reviewer"])
    version, _ = register_version(trained_by="bob")

    with Desk() as d:
        mr.decide(d.desk, d.sign_in(bob), "approve", MODEL, version, "small team")

    assert registry_state()["aliases"] == {"champion": version}


def test_given_an_ml_engineer_when_signing_in_to_review_then_refused_for_promote_model(world):
    carol = make_person("carol", ["ml_engineer"])
    register_version()

    with Desk() as d, pytest.raises(mr.ReviewRefused, match="lacks permission promote_model"):
        d.sign_in(carol)

    assert [r.outcome for r in audit_rows("review")] == ["denied"]


def test_given_2fa_required_when_no_code_is_given_then_refused_before_signing_in(world):
    alice = make_person("alice", ["reviewer"])

    with Desk() as d, pytest.raises(mr.ReviewRefused, match="--totp"):
        mr.authenticate_reviewer(d.runtime, alice.username, PASSWORD, None, d.desk.review)

    assert audit_rows("login") == []


def test_given_2fa_required_when_the_reviewer_has_no_totp_then_refused(world):
    make_person("dave", ["reviewer"], totp=False)

    with Desk() as d, pytest.raises(mr.ReviewRefused, match="no two-factor"):
        mr.authenticate_reviewer(d.runtime, "dave", PASSWORD, "123456", d.desk.review)


def test_given_a_wrong_totp_code_when_signing_in_then_the_login_fails_and_is_audited(world):
    from auth.errors import TotpInvalid

    alice = make_person("alice", ["reviewer"])

    with Desk() as d, pytest.raises(TotpInvalid):
        mr.authenticate_reviewer(d.runtime, alice.username, PASSWORD, "000000", d.desk.review)

    assert [r.outcome for r in audit_rows("login")] == ["failure"]


def test_given_two_approved_champions_when_rolled_back_then_champion_returns_and_history_lists_it(
    world,
):
    alice = make_person("alice", ["reviewer"])
    first, _ = register_version()
    second, _ = register_version()

    with Desk() as d:
        reviewer = d.sign_in(alice)
        mr.decide(d.desk, reviewer, "approve", MODEL, first, "first")
        mr.decide(d.desk, reviewer, "approve", MODEL, second, "second")
        result = mr.rollback(d.desk, reviewer, MODEL, "second misrates banks")
        before = registry_state()
        with pytest.raises(mr.ReviewRefused, match="no earlier approved champion"):
            mr.rollback(d.desk, reviewer, MODEL, "again")

    assert result.champion == first and result.previous_champion == second
    assert before == registry_state()
    assert registry_state()["aliases"] == {"champion": first}
    assert version_tags(second)["review.status"] == "rolled_back"
    assert [m for m in alias_moves() if m[0] == "champion"] == [
        ("champion", None, first, "approve", "alice"),
        ("champion", first, second, "approve", "alice"),
        ("champion", second, first, "rollback", "alice"),
    ]
    assert [r.outcome for r in audit_rows("model:rollback")] == ["success"]


def test_given_no_champion_when_rolled_back_then_refused(world):
    alice = make_person("alice", ["reviewer"])
    register_version()

    with Desk() as d, pytest.raises(mr.ReviewRefused, match="no champion"):
        mr.rollback(d.desk, d.sign_in(alice), MODEL, "undo")


def test_given_an_alias_event_when_raw_sql_updates_it_then_the_database_refuses(world):
    import sqlalchemy as sa

    from senim.environment import resolve_stores
    from senim.platform_db.engine import make_engine

    register_version()
    engine = make_engine(resolve_stores().database_url)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE model_alias_events SET actor = 'mallory'")
    engine.dispose()


def test_given_senim_user_set_when_the_trainer_is_recorded_then_the_os_account_is(monkeypatch):
    """The reported claim: ``SENIM_USER=someone-else`` no longer names the trainer."""
    import pwd

    from pipelines.release.review import trained_by

    monkeypatch.delenv("SENIM_API_KEY", raising=False)
    monkeypatch.setenv("SENIM_USER", "someone-else")
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")

    assert trained_by() == pwd.getpwuid(os.getuid()).pw_name != "someone-else"


def test_given_a_flow_key_when_the_trainer_is_recorded_then_the_keys_minter_is(
    tmp_path, monkeypatch
):
    from auth import accounts, machine_keys
    from auth.runtime import CLI_REQUEST, AuthRuntime
    from pipelines.release.review import trained_by
    from senim.errors import SenimError

    review_workspace(tmp_path, monkeypatch)
    runtime = AuthRuntime.from_environment()
    try:
        accounts.create_user(runtime, "root-admin", PASSWORD, ["admin"], CLI_REQUEST,
                             actor_id=None)  # fmt: skip
        carol = accounts.create_user(runtime, "carol", PASSWORD, ["ml_engineer"], CLI_REQUEST,
                                     actor_id="cli:test", actor_roles=("admin",))  # fmt: skip
        key = machine_keys.create_key(runtime, "nightly-retrain", "service", CLI_REQUEST,
                                      actor_id=carol.id, actor_roles=("ml_engineer",))  # fmt: skip
    finally:
        runtime.close()

    monkeypatch.setenv("SENIM_API_KEY", key.key)
    assert trained_by() == "carol"
    monkeypatch.setenv("SENIM_API_KEY", key.key[:-2] + "xx")
    with pytest.raises(SenimError, match="SENIM_API_KEY"):
        trained_by()
