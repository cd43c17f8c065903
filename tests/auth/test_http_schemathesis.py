"""Property-based fuzzing of the auth API from its own OpenAPI schema (Schemathesis).

Every operation gets generated valid and invalid requests, sent as an enrolled admin
(a fresh access token per case, so /auth/logout cannot end the run), on SQLite. The only
check is that no response is a 5xx. Bounded and derandomized, so CI sees the same cases.

Hypothesis is driven directly (``operation.as_strategy``) rather than through
``schemathesis.pytest.from_fixture``, which fails under pytest 9 (``Function._nodeid``);
``OPERATIONS`` is checked against the schema so a new endpoint cannot go unfuzzed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.auth.http_harness import Account, AuthHarness

OPERATIONS = [
    ("POST", "/auth/login"),
    ("POST", "/auth/register"),
    ("POST", "/auth/totp/enroll"),
    ("POST", "/auth/totp/confirm"),
    ("POST", "/auth/token/refresh"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/me"),
    ("POST", "/auth/keys"),
    ("GET", "/auth/keys"),
    ("DELETE", "/auth/keys/{prefix}"),
    ("GET", "/auth/audit"),
]
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture()
def fuzzed(tmp_path) -> Iterator[tuple[AuthHarness, Account, schemathesis.BaseSchema]]:
    harness = AuthHarness(f"sqlite:///{tmp_path / 'auth.db'}", tmp_path / "home")
    admin = harness.enrolled_admin()
    schema = schemathesis.openapi.from_asgi("/auth/openapi.json", harness.app)
    yield harness, admin, schema
    harness.close()


def test_given_the_auth_schema_when_listing_operations_then_every_one_is_fuzzed(fuzzed):
    _, _, schema = fuzzed

    listed = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}

    assert listed == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_given_generated_requests_as_an_enrolled_admin_when_sent_then_no_server_errors(
    fuzzed, method, path
):
    harness, admin, schema = fuzzed
    operation = schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @FUZZ
    @given(case=cases)
    def no_server_error(case) -> None:
        token = harness.mint_access_token(admin, roles=["admin"])
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
        )

    no_server_error()
