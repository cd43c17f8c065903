"""Typed auth errors with a stable machine code, mapped by the HTTP layer to status and JSON.

Messages are generic on purpose: none of them may reveal whether an account exists, which
factor failed first, or why a token was rejected beyond "invalid" versus "expired".
"""

from __future__ import annotations

from typing import ClassVar


class AuthError(Exception):
    """Base class: ``code`` is the stable API contract, ``message`` the human sentence."""

    code: ClassVar[str] = "auth_error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be authenticated."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        """The JSON body the HTTP layer sends: ``{"error": code, "message": ...}``."""
        return {"error": self.code, "message": self.message}


class InvalidCredentials(AuthError):
    """The one error for unknown user and wrong password alike."""

    code = "invalid_credentials"
    status = 401
    default_message = "Invalid username or password."


class WeakPassword(AuthError):
    code = "weak_password"
    status = 400
    default_message = "The password does not meet the password policy."


class TokenInvalid(AuthError):
    code = "token_invalid"
    status = 401
    default_message = "The token is invalid."


class TokenExpired(AuthError):
    code = "token_expired"
    status = 401
    default_message = "The token has expired."


class TotpRequired(AuthError):
    code = "totp_required"
    status = 401
    default_message = "A two-factor authentication code is required."


class TotpInvalid(AuthError):
    code = "totp_invalid"
    status = 401
    default_message = "The two-factor authentication code is invalid or was already used."


class AccountLocked(AuthError):
    """Also raised for unknown identities (the service locks those too), so it leaks nothing."""

    code = "account_locked"
    status = 423
    default_message = "Too many failed attempts; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


class RateLimited(AuthError):
    """``retry_after`` (seconds) goes into the ``Retry-After`` header and the body."""

    code = "rate_limited"
    status = 429
    default_message = "Too many requests; slow down."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(int(retry_after), 1)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class PermissionDenied(AuthError):
    code = "forbidden"
    status = 403
    default_message = "You do not have permission to do this."


class NotAuthenticated(AuthError):
    code = "not_authenticated"
    status = 401
    default_message = "Authentication is required."


class BadRequest(AuthError):
    code = "bad_request"
    status = 400
    default_message = "The request is malformed."


class Conflict(AuthError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class NotFound(AuthError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class RiskDenied(AuthError):
    code = "login_denied"
    status = 403
    default_message = "This sign-in was blocked; contact an administrator if it was you."


class FreshSignInRequired(AuthError):
    """A sensitive action (minting an API key) needs a recent sign-in with the second
    factor, not a session kept alive by refreshing."""

    code = "fresh_sign_in_required"
    status = 403


class TwoFactorEnrollmentRequired(AuthError):
    code = "2fa_enrollment_required"
    status = 403
    default_message = "Set up two-factor authentication before using this account."


class AuthUnavailable(AuthError):
    """The auth layer is not up yet (a service still starting) or its database is down."""

    code = "auth_unavailable"
    status = 503
    default_message = "Authentication is not available yet; retry shortly."
