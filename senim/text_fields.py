"""Text that is safe to accept from a client and to store.

Shared by every boundary that takes free text (auth requests, scoring requests) and
every writer that stores it (audit log, prediction log).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field


def reject_control_characters(value: str) -> str:
    """Pydantic validator: no C0/C1 control characters (PostgreSQL refuses NUL anyway)."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def plain_text(max_length: int, min_length: int = 0) -> Any:
    """A length-bounded ``str`` field type without control characters."""
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length),
        AfterValidator(reject_control_characters),
    ]


def storable_text(value: str | None) -> str | None:
    """Text a database accepts: NUL replaced (clients control user agents and ids)."""
    return None if value is None else str(value).replace("\x00", "\ufffd")
