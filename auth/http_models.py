"""Request and response bodies of the auth HTTP API, and the field types they share.

Every body refuses unknown fields, and every stored text field refuses control
characters (PostgreSQL cannot store NUL, and none belongs in a name), so bad input is a
422 naming the field, never a database driver error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from senim.text_fields import plain_text


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


Username = plain_text(150, min_length=1)
NewUsername = plain_text(150, min_length=3)
RoleName = plain_text(32, min_length=1)
Code = plain_text(16, min_length=1)
RecoveryCode = plain_text(64, min_length=1)
OpaqueToken = plain_text(512, min_length=1)
Email = plain_text(254, min_length=3)
KeyName = plain_text(128, min_length=1)
Scope = plain_text(64, min_length=1)
Filter = plain_text(128)
# Any character may be part of a password (ASVS 6.2.9); it is hashed, never stored.
Password = Annotated[str, Field(min_length=1, max_length=1024)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
DB_INT_MAX = 2**63 - 1


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    username: Username
    password: Password
    totp_code: Code | None = None
    recovery_code: RecoveryCode | None = None


class RegisterBody(_Body):
    username: NewUsername
    password: Password
    roles: list[RoleName] = Field(min_length=1, max_length=5)
    email: Email | None = None


class CodeBody(_Body):
    code: Code


class RefreshBody(_Body):
    refresh_token: OpaqueToken


class LogoutBody(_Body):
    refresh_token: OpaqueToken | None = None


class KeyBody(_Body):
    name: KeyName
    role: RoleName
    scopes: list[Scope] = Field(default_factory=list, max_length=32)
    expires_in_days: int | None = Field(365, ge=1, le=730)
    re_enrol: bool = Field(
        False, description="edge_device only: replace the host's key (admin), revoking it"
    )


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    mfa_enrolled: bool


class EnrolledResponse(TokenResponse):
    recovery_codes: list[str]


class ErrorResponse(BaseModel):
    """Every 4xx: ``error`` is the stable code to branch on, ``message`` for people."""

    error: str
    message: str
