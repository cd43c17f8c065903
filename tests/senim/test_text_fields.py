import pytest
from pydantic import TypeAdapter, ValidationError

from senim.text_fields import plain_text, storable_text


def test_given_control_character_when_validated_then_rejected():
    adapter = TypeAdapter(plain_text(10, min_length=1))
    assert adapter.validate_python("ok text") == "ok text"
    with pytest.raises(ValidationError, match="control characters"):
        adapter.validate_python("bad\x00")
    with pytest.raises(ValidationError):
        adapter.validate_python("x" * 11)


def test_given_nul_when_stored_then_replaced_and_none_kept():
    assert storable_text("a\x00b") == "a\ufffdb"
    assert storable_text(None) is None
