"""TOTP codes: accepted once, within one step of drift; recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from huddle.identity import totp

NOW = datetime(2026, 11, 28, 12, 0, 15, tzinfo=UTC)


def test_the_current_code_matches_and_its_step_is_returned() -> None:
    secret = totp.new_secret()
    step = totp.matching_step(secret, totp.code_at(secret, NOW), NOW, None)
    assert step == int(NOW.timestamp()) // 30


def test_a_code_is_never_accepted_twice() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, NOW)
    step = totp.matching_step(secret, code, NOW, None)
    assert totp.matching_step(secret, code, NOW, step) is None


def test_one_step_of_drift_is_allowed_two_are_not() -> None:
    secret = totp.new_secret()
    assert totp.matching_step(secret, totp.code_at(secret, NOW - timedelta(seconds=30)), NOW, None)
    assert totp.matching_step(secret, totp.code_at(secret, NOW + timedelta(seconds=30)), NOW, None)
    late = totp.code_at(secret, NOW - timedelta(seconds=75))
    assert totp.matching_step(secret, late, NOW, None) is None


def test_malformed_codes_never_match() -> None:
    secret = totp.new_secret()
    for code in ("", "12345", "1234567", "abcdef", "12 456"):
        assert totp.matching_step(secret, code, NOW, None) is None


def test_provisioning_uri_names_the_account_and_issuer() -> None:
    uri = totp.provisioning_uri(totp.new_secret(), "dana@clinic.test")
    assert uri.startswith("otpauth://totp/Huddle:dana%40clinic.test?")
    assert "issuer=Huddle" in uri


def test_recovery_codes_are_unique_and_hash_the_same_however_typed() -> None:
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == totp.RECOVERY_CODE_COUNT
    code = codes[0]
    assert totp.looks_like_recovery_code(code)
    typed = code.upper().replace("-", " ")
    assert totp.recovery_code_hash(typed) == totp.recovery_code_hash(code)
