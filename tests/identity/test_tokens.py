"""Access tokens: pinned algorithm, checked claims, expiry on our clock, key rotation."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from huddle.clock import ManualClock
from huddle.errors import Unauthorized
from huddle.identity.tokens import (
    ACCESS_AUDIENCE,
    MFA_AUDIENCE,
    SigningKeyError,
    SigningKeys,
    TokenSigner,
)

ISSUER = "https://huddle.test"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def keys() -> SigningKeys:
    return SigningKeys.generate()


@pytest.fixture
def signer(keys: SigningKeys, clock: ManualClock) -> TokenSigner:
    return TokenSigner(keys, ISSUER, clock)


def issue(signer: TokenSigner, **claims: str) -> str:
    return signer.issue(
        audience=ACCESS_AUDIENCE, subject=uuid.uuid4(), ttl=timedelta(minutes=15), **claims
    )


def refused_code(signer: TokenSigner, token: str, audience: str = ACCESS_AUDIENCE) -> str:
    with pytest.raises(Unauthorized) as refused:
        signer.verify(token, audience=audience)
    return refused.value.code


def test_a_fresh_token_verifies_with_its_claims(signer: TokenSigner, keys: SigningKeys) -> None:
    token = issue(signer, sid="s-1")
    claims = signer.verify(token, audience=ACCESS_AUDIENCE)
    assert claims["sid"] == "s-1"
    assert claims["iss"] == ISSUER
    assert jwt.get_unverified_header(token)["kid"] == keys.active_kid
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_an_expired_token_is_refused(signer: TokenSigner, clock: ManualClock) -> None:
    token = issue(signer)
    clock.advance(timedelta(minutes=15, seconds=11))
    assert refused_code(signer, token) == "token_expired"


def test_a_token_accepted_before_is_refused_once_it_expires(
    signer: TokenSigner, clock: ManualClock
) -> None:
    token = issue(signer)
    assert signer.verify(token, audience=ACCESS_AUDIENCE)  # now remembered as verified
    clock.advance(timedelta(minutes=15, seconds=11))
    assert refused_code(signer, token) == "token_expired"
    assert refused_code(signer, token, audience=MFA_AUDIENCE) == "invalid_token"


def test_a_token_from_the_future_is_refused(signer: TokenSigner, clock: ManualClock) -> None:
    clock.advance(timedelta(hours=1))
    token = issue(signer)
    clock.advance(timedelta(hours=-1))
    assert refused_code(signer, token) == "invalid_token"


def test_wrong_audience_is_refused(signer: TokenSigner) -> None:
    assert refused_code(signer, issue(signer), audience=MFA_AUDIENCE) == "invalid_token"


def test_wrong_issuer_is_refused(keys: SigningKeys, clock: ManualClock) -> None:
    other = TokenSigner(keys, "https://elsewhere.test", clock)
    assert refused_code(TokenSigner(keys, ISSUER, clock), issue(other)) == "invalid_token"


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused(signer: TokenSigner, keys: SigningKeys) -> None:
    _, payload, _ = _segments(issue(signer))
    unsigned = f"{_b64({'alg': 'none', 'kid': keys.active_kid})}.{payload}."
    assert refused_code(signer, unsigned) == "invalid_token"


def test_hs256_signed_with_the_public_key_is_refused(
    signer: TokenSigner, keys: SigningKeys
) -> None:
    """The classic algorithm-confusion attack: the public key used as an HMAC secret."""
    claims = signer.verify(issue(signer), audience=ACCESS_AUDIENCE)
    public_pem = (
        keys.private_keys[keys.active_kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": keys.active_kid})
    payload = _b64(dict(claims))
    import hashlib
    import hmac

    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert refused_code(signer, forged) == "invalid_token"


def test_a_tampered_payload_is_refused(signer: TokenSigner) -> None:
    header, payload, signature = _segments(issue(signer, sid="mine"))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sid"] = "someone-elses"
    assert refused_code(signer, f"{header}.{_b64(claims)}.{signature}") == "invalid_token"


def test_a_token_signed_by_an_unknown_key_is_refused(clock: ManualClock) -> None:
    stranger = TokenSigner(SigningKeys.generate(), ISSUER, clock)
    mine = TokenSigner(SigningKeys.generate(), ISSUER, clock)
    assert refused_code(mine, issue(stranger)) == "invalid_token"


def test_garbage_is_refused(signer: TokenSigner) -> None:
    for junk in ("", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30."):
        assert refused_code(signer, junk) == "invalid_token"


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    keys: SigningKeys, clock: ManualClock, tmp_path: Path
) -> None:
    old_token = issue(TokenSigner(keys, ISSUER, clock))
    rotated = keys.rotated()
    rotated.save(tmp_path / "keys.json")
    reloaded = SigningKeys.load(tmp_path / "keys.json")
    signer = TokenSigner(reloaded, ISSUER, clock)
    assert signer.verify(old_token, audience=ACCESS_AUDIENCE)
    new_token = issue(signer)
    assert jwt.get_unverified_header(new_token)["kid"] == rotated.active_kid != keys.active_kid
    retired = TokenSigner(reloaded.without(keys.active_kid), ISSUER, clock)
    assert refused_code(retired, old_token) == "invalid_token"


def test_key_file_is_owner_only_and_the_active_key_cannot_be_retired(
    keys: SigningKeys, tmp_path: Path
) -> None:
    path = tmp_path / "keys.json"
    keys.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(SigningKeyError):
        keys.without(keys.active_kid)


def test_missing_or_corrupt_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="does not exist"):
        SigningKeys.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SigningKeyError, match="not a valid key file"):
        SigningKeys.load(tmp_path / "bad.json")


def test_a_caller_cannot_change_the_remembered_claims(signer: TokenSigner) -> None:
    """Every caller is handed the claims remembered for a token: one that could edit
    them would change what the next request is told (its session, its expiry)."""
    token = issue(signer, sid="s-1")
    claims = signer.verify(token, audience=ACCESS_AUDIENCE)
    with pytest.raises(TypeError):
        claims["sid"] = "someone-else's"  # type: ignore[index]
    assert signer.verify(token, audience=ACCESS_AUDIENCE)["sid"] == "s-1"
