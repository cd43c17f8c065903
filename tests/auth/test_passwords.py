"""Password hashing and policy (ASVS 5.0 V6.2)."""

from __future__ import annotations

import pytest

from auth.errors import WeakPassword
from auth.passwords import PasswordService, is_breached
from senim.config import AuthParams

CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 19456}
GOOD = "correct horse battery staple"


@pytest.fixture(scope="module")
def service() -> PasswordService:
    return PasswordService(AuthParams(**CHEAP))


def test_given_11_code_points_with_emoji_when_checked_then_too_short(service):
    password = "abcdefghij🦊"  # 11 code points, far more than 11 bytes in UTF-8
    with pytest.raises(WeakPassword, match="at least 12"):
        service.check_policy(password)


def test_given_12_code_points_with_emoji_when_checked_then_accepted(service):
    service.check_policy("mxqzbvwpta🦊🦊")  # (abcdefghij🦊🦊 is now refused: an alphabet run)


def test_given_64_and_128_characters_when_checked_then_accepted(service):
    service.check_policy("x7!" * 21 + "q")
    service.check_policy(("Qz9 fox jumps " * 10)[:128].replace("fox", "elk", 3))


def test_given_more_than_max_length_when_checked_then_rejected(service):
    with pytest.raises(WeakPassword, match="at most 128"):
        service.check_policy("a" * 129)


def test_given_spaces_and_unicode_without_composition_when_checked_then_accepted(service):
    service.check_policy("мой пароль очень длинный")
    service.check_policy("all lowercase words here")


@pytest.mark.parametrize("password", ["qwerty123456", "QWERTY123456", "QwErTy123456"])
def test_given_common_password_in_any_case_when_checked_then_rejected(service, password):
    with pytest.raises(WeakPassword, match="too common"):
        service.check_policy(password)


@pytest.mark.parametrize(
    "password",
    # The black-box test's examples: policy-length, yet among the first guesses.
    ["password1234", "123456789012", "qwertyuiop12", "passwordpassword", "aaaaaaaaaaaa"],
)
def test_given_a_reported_weak_password_when_checked_then_rejected(service, password):
    with pytest.raises(WeakPassword):
        service.check_policy(password)


def test_given_the_breached_list_then_it_is_large_and_offline():
    """Thousands of policy-length breached passwords are known (ASVS 6.2.4: the top 3,000
    that meet the policy must be refused); a random phrase is not on the list."""
    assert all(is_breached(p) for p in ("iloveyou1234", "football1234", "1q2w3e4r5t6y"))
    assert not is_breached("mxqzbvwpta plover 81")


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("kdpkdpkdpkdpkdp", "one piece repeated"),
        ("zzzz yyyy zzzz yyyyy", "different characters"),
        ("mnbvcxz-lkjh-7", "keyboard or alphabet sequence"),
        ("98765432-plov", "keyboard or alphabet sequence"),
    ],
)
def test_given_a_predictable_password_off_every_list_when_checked_then_the_rule_is_named(
    service, password, rule
):
    assert not is_breached(password)
    with pytest.raises(WeakPassword, match=rule):
        service.check_policy(password)


def test_given_a_short_keyboard_run_inside_a_long_password_when_checked_then_accepted(service):
    service.check_policy("MyDog!qwerty-2026-blue")


def test_given_fullwidth_lookalike_of_common_password_when_checked_then_rejected(service):
    with pytest.raises(WeakPassword, match="too common"):
        service.check_policy("ｑｗｅｒｔｙ１２３４５６")  # NFKC folds to qwerty123456


@pytest.mark.parametrize(
    ("password", "identity"),
    [
        ("aigerim.nurlanova", "Aigerim.Nurlanova"),
        ("my name is aigerim 2024", "aigerim@example.kz"),
        ("xxAIGERIMxxyyzz", "aigerim"),
    ],
)
def test_given_password_containing_identity_when_checked_then_rejected(service, password, identity):
    with pytest.raises(WeakPassword, match="username"):
        service.check_policy(password, identity=identity)


def test_given_identity_shorter_than_4_when_checked_then_not_matched(service):
    service.check_policy("bobs tractor is green", identity="bob")


def test_given_service_name_in_password_when_checked_then_rejected(service):
    with pytest.raises(WeakPassword, match="name of this service"):
        service.check_policy("my senim password!")


def test_given_hash_when_verified_with_same_password_then_true(service):
    stored = service.hash(GOOD)
    assert stored.startswith("$argon2id$")
    assert service.verify(stored, GOOD) is True


def test_given_hash_when_verified_with_wrong_password_then_false_not_raised(service):
    stored = service.hash(GOOD)
    assert service.verify(stored, "correct horse battery stapler") is False
    assert service.verify(stored, "") is False


def test_given_password_when_hashed_then_exactly_as_received(service):
    """ASVS 6.2.8: no case or Unicode transformation before hashing."""
    stored = service.hash("Ｐassword with fullwidth P")
    assert service.verify(stored, "Password with fullwidth P") is False


def test_given_unknown_user_when_verified_then_runs_a_real_verify_and_returns_false(
    service, monkeypatch
):
    calls: list[tuple[str, str]] = []
    real_verify = service._hasher.verify

    class SpyHasher:
        def verify(self, stored: str, password: str) -> bool:
            calls.append((stored, password))
            return real_verify(stored, password)

    monkeypatch.setattr(service, "_hasher", SpyHasher())
    assert service.verify_unknown_user(GOOD) is False
    assert len(calls) == 1
    assert calls[0][0].startswith("$argon2id$") and calls[0][1] == GOOD


def test_given_params_changed_when_checking_old_hash_then_needs_rehash(service):
    stored = service.hash(GOOD)
    assert service.needs_rehash(stored) is False
    stronger = PasswordService(AuthParams(argon2_time_cost=2, argon2_memory_kib=19456))
    assert stronger.needs_rehash(stored) is True
    assert stronger.verify(stored, GOOD) is True
