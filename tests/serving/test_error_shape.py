"""BentoML's 4xx bodies in the one shape every route answers with."""

from __future__ import annotations

import json

import pytest

from serving.error_shape import UniformErrors, uniform


def test_given_a_bentoml_validation_body_when_shaped_then_fields_are_named_without_urls():
    bentoml = {
        "error": "2 validation error for CreditApplicationIODescriptor",
        "detail": [
            {"type": "float_parsing", "loc": ["currentRatio"], "msg": "Input should be a number",
             "url": "https://errors.pydantic.dev/2/v/float_parsing"},
            {"type": "missing", "loc": ["body", "applications", 3, "Sector"],
             "msg": "Field required"},
        ],
    }  # fmt: skip

    shaped = uniform(bentoml, 400)

    assert shaped == {
        "error": "invalid_request",
        "message": "the request is invalid: currentRatio, applications.3.Sector",
        "fields": [
            {"field": "currentRatio", "problem": "Input should be a number"},
            {"field": "applications.3.Sector", "problem": "Field required"},
        ],
    }
    assert "pydantic.dev" not in json.dumps(shaped)


def test_given_the_shared_shape_already_when_shaped_then_left_alone():
    assert uniform({"error": "forbidden", "message": "missing permission score"}, 403) is None
    assert uniform([{"error": "the model is loading"}], 400) == {
        "error": "bad_request", "message": "the model is loading"
    }  # fmt: skip


@pytest.mark.parametrize("status", [200, 500])
def test_given_a_success_or_server_error_when_passing_through_then_untouched(status):
    import asyncio

    body = json.dumps({"detail": [{"loc": ["x"], "msg": "m"}]}).encode()
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def send(message):
        sent.append(message)

    asyncio.run(UniformErrors(app)({"type": "http", "path": "/v1/x"}, None, send))

    assert sent[-1]["body"] == body
