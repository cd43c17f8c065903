"""TOTP verification with a frozen clock, and recovery codes."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from auth.errors import TotpInvalid
from auth.totp import (
    hash_recovery_code,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_png,
    recovery_code_matches,
    verify_totp,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_750_000_015.0  # mid-step
STEP = int(NOW // 30)


def code_at(step: int) -> str:
    return pyotp.TOTP(SECRET).generate_otp(step)


def test_given_current_code_when_verified_then_accepted_and_step_returned():
    assert verify_totp(SECRET, code_at(STEP), last_used_step=None, now=NOW) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_given_code_one_step_off_when_verified_then_accepted_for_drift(offset):
    assert (
        verify_totp(SECRET, code_at(STEP + offset), last_used_step=None, now=NOW) == STEP + offset
    )


@pytest.mark.parametrize("offset", [-2, 2])
def test_given_code_two_steps_off_when_verified_then_rejected(offset):
    with pytest.raises(TotpInvalid):
        verify_totp(SECRET, code_at(STEP + offset), last_used_step=None, now=NOW)


def test_given_code_already_used_when_replayed_then_rejected():
    used = verify_totp(SECRET, code_at(STEP), last_used_step=None, now=NOW)
    with pytest.raises(TotpInvalid):
        verify_totp(SECRET, code_at(STEP), last_used_step=used, now=NOW + 5)


def test_given_later_step_used_when_earlier_step_code_presented_then_rejected():
    used = verify_totp(SECRET, code_at(STEP + 1), last_used_step=None, now=NOW)
    with pytest.raises(TotpInvalid):
        verify_totp(SECRET, code_at(STEP), last_used_step=used, now=NOW)
    with pytest.raises(TotpInvalid):
        verify_totp(SECRET, code_at(STEP - 1), last_used_step=used, now=NOW)


def test_given_previous_step_used_when_next_code_presented_then_accepted():
    assert verify_totp(SECRET, code_at(STEP), last_used_step=STEP - 1, now=NOW) == STEP


def test_given_wrong_code_when_verified_then_rejected():
    wrong = f"{(int(code_at(STEP)) + 1) % 1_000_000:06d}"
    if wrong in {code_at(STEP - 1), code_at(STEP + 1)}:
        pytest.skip("astronomically unlikely neighbour collision")
    with pytest.raises(TotpInvalid):
        verify_totp(SECRET, wrong, last_used_step=None, now=NOW)


@pytest.mark.parametrize("code", ["12345", "abcdef", "1234567", "", "١٢٣٤٥٦", "12345\n"])
def test_given_malformed_code_when_verified_then_rejected(code):
    with pytest.raises(TotpInvalid):
        verify_totp(SECRET, code, last_used_step=None, now=NOW)


def test_given_code_with_inner_space_when_verified_then_accepted():
    code = code_at(STEP)
    assert verify_totp(SECRET, f"{code[:3]} {code[3:]}", last_used_step=None, now=NOW) == STEP


def test_given_new_secret_when_made_then_160_bit_base32_and_unique():
    first, second = new_totp_secret(), new_totp_secret()
    assert len(first) == 32 and first != second
    assert len(base64.b32decode(first)) == 20  # 160 bits


def test_given_secret_when_uri_built_then_it_names_issuer_and_secret():
    uri = provisioning_uri(SECRET, "aigerim@example.kz")
    parsed = urlparse(uri)
    query = parse_qs(parsed.query)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert query["secret"] == [SECRET] and query["issuer"] == ["Senim"]
    assert "aigerim%40example.kz" in parsed.path or "aigerim@example.kz" in parsed.path


def test_given_uri_when_rendered_then_png_bytes():
    assert qr_png(provisioning_uri(SECRET, "a@b.kz")).startswith(b"\x89PNG\r\n\x1a\n")


def test_given_recovery_codes_when_made_then_ten_unique_and_well_formed():
    codes = new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        groups = code.split("-")
        assert [len(group) for group in groups] == [4] * 6
        assert not set(code) & set("01ilo")


def test_given_recovery_code_when_hashed_then_matches_only_itself():
    first, second = new_recovery_codes(2)
    stored = hash_recovery_code(first)
    assert recovery_code_matches(first, stored)
    assert not recovery_code_matches(second, stored)
    assert not recovery_code_matches("", stored)


def test_given_recovery_code_retyped_in_caps_without_dashes_when_checked_then_matches():
    code = new_recovery_codes(1)[0]
    stored = hash_recovery_code(code)
    assert recovery_code_matches(code.upper().replace("-", ""), stored)
    assert recovery_code_matches(f"  {code.upper().replace('-', ' ')} ", stored)
