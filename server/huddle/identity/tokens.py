"""Access and MFA-challenge tokens: EdDSA-signed JWTs with rotating signing keys.

The signing-key file holds every key that may still verify a live token and names the
one that signs new tokens; rotating adds a key and makes it active, so nobody is
signed out. Expiry is checked against the injectable clock, not the wall clock.
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from huddle.clock import Clock
from huddle.errors import Unauthorized
from huddle.secret_files import ed25519_from_pem, ed25519_to_pem, write_owner_only

ALGORITHM = "EdDSA"
ACCESS_AUDIENCE = "huddle:access"
MFA_AUDIENCE = "huddle:mfa-challenge"
MFA_CHALLENGE_TTL = timedelta(minutes=5)
# Tolerance for clocks of several instances that disagree by a few seconds.
LEEWAY = timedelta(seconds=10)
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti")
# Verified tokens remembered per process; past this many the memory starts again.
VERIFIED_CACHE_SIZE = 20_000


class SigningKeyError(RuntimeError):
    """The signing-key file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class SigningKeys:
    active_kid: str
    private_keys: dict[str, Ed25519PrivateKey]

    @classmethod
    def load(cls, path: Path) -> SigningKeys:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            keys = {
                entry["kid"]: ed25519_from_pem(entry["private_key_pem"])
                for entry in document["keys"]
            }
            active = document["active_kid"]
        except FileNotFoundError:
            raise SigningKeyError(
                f"signing-key file {path} does not exist (create it with "
                "`huddle signing-keys init`)"
            ) from None
        except (ValueError, KeyError, TypeError):
            raise SigningKeyError(f"signing-key file {path} is not a valid key file") from None
        if active not in keys:
            raise SigningKeyError(f"signing-key file {path}: active_kid is not among its keys")
        return cls(active_kid=active, private_keys=keys)

    def save(self, path: Path) -> None:
        """Write with owner-only permissions; the file is a secret."""
        document = {
            "active_kid": self.active_kid,
            "keys": [
                {"kid": kid, "private_key_pem": ed25519_to_pem(key)}
                for kid, key in self.private_keys.items()
            ],
        }
        write_owner_only(path, json.dumps(document, indent=2))

    def rotated(self) -> SigningKeys:
        """A new active key; old keys stay so tokens they signed keep working."""
        kid = new_kid()
        return SigningKeys(kid, {**self.private_keys, kid: Ed25519PrivateKey.generate()})

    def without(self, kid: str) -> SigningKeys:
        if kid == self.active_kid:
            raise SigningKeyError("the active key cannot be retired; rotate first")
        if kid not in self.private_keys:
            raise SigningKeyError(f"no key with kid {kid!r}")
        return SigningKeys(
            self.active_kid, {k: v for k, v in self.private_keys.items() if k != kid}
        )

    @classmethod
    def generate(cls) -> SigningKeys:
        kid = new_kid()
        return cls(kid, {kid: Ed25519PrivateKey.generate()})


def new_kid() -> str:
    return secrets.token_hex(4)


class TokenSigner:
    def __init__(self, keys: SigningKeys, issuer: str, clock: Clock) -> None:
        self._keys = keys
        self._issuer = issuer
        self._clock = clock
        self._public = {kid: key.public_key() for kid, key in keys.private_keys.items()}
        # (token, audience) -> claims of tokens whose signature verified (see verify),
        # read-only: every caller is handed the same object.
        self._verified: dict[tuple[str, str], Mapping[str, Any]] = {}

    def issue(self, *, audience: str, subject: uuid.UUID, ttl: timedelta, **claims: str) -> str:
        now = self._clock.now()
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": audience,
            "sub": str(subject),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        kid = self._keys.active_kid
        return jwt.encode(
            payload, self._keys.private_keys[kid], algorithm=ALGORITHM, headers={"kid": kid}
        )

    def verify(self, token: str, *, audience: str) -> Mapping[str, Any]:
        """Return the claims of a valid token for `audience` (read-only), else raise
        Unauthorized. A token whose signature and claims checked out once is not parsed
        again (every request and WebSocket frame presents one; decoding it cost
        ~0.3 ms), but its times are checked against the clock on every call."""
        claims = self._verified.get((token, audience))
        if claims is None:
            claims = MappingProxyType(_shared_strings(self._decode(token, audience)))
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[(token, audience)] = claims
        self._check_times(claims)
        return claims

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            key = self._public.get(header.get("kid", ""))
            if key is None or header.get("alg") != ALGORITHM:
                raise Unauthorized("The access token is not valid.", code="invalid_token")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._issuer,
                # Time is checked below against our clock, which tests can move.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthorized("The access token is not valid.", code="invalid_token") from None
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock.now()
        try:
            issued = datetime.fromtimestamp(int(claims["iat"]), now.tzinfo)
            expires = datetime.fromtimestamp(int(claims["exp"]), now.tzinfo)
        except (TypeError, ValueError, OverflowError):
            raise Unauthorized("The access token is not valid.", code="invalid_token") from None
        if issued > now + LEEWAY:
            raise Unauthorized("The access token is not valid.", code="invalid_token")
        if expires <= now - LEEWAY:
            raise Unauthorized("The access token has expired.", code="token_expired")


SHARED = ("iss", "aud")


def _shared_strings(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims with their names, issuer and audience interned: every remembered
    token repeats them, and each idle socket's session keeps one (bench (d))."""
    return {
        sys.intern(name): sys.intern(value) if isinstance(value, str) and name in SHARED else value
        for name, value in claims.items()
    }
