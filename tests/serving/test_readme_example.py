"""The README's curl example is a valid application, so a reader's first call works."""

from __future__ import annotations

import json
import re
from pathlib import Path

from serving.credit_schemas import CreditApplication

README = Path(__file__).resolve().parents[2] / "README.md"


def test_given_the_readme_curl_example_when_validated_then_it_is_a_complete_application():
    payload = re.search(r"/v1/credit/score .*?-d '(\{.*?\})'", README.read_text(), re.S)
    assert payload, "the README lost its scoring curl example"
    application = CreditApplication.model_validate(json.loads(payload.group(1)))
    assert application.sector == "Consumer Durables" and application.name
