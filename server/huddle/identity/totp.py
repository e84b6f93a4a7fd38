"""TOTP (RFC 6238) second factor and single-use recovery codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from huddle.protect.crypto import Binding
from huddle.unit_of_work import UnitOfWork

STEP_SECONDS = 30
DIGITS = 6
# Accept the previous and next step too: phones drift, people type slowly.
DRIFT_STEPS = 1
ISSUER = "Huddle"
RECOVERY_CODE_COUNT = 10


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _totp(secret: str) -> TOTP:
    padded = secret + "=" * (-len(secret) % 8)
    # SHA-1 and 6 digits: what every authenticator app understands (RFC 6238 default).
    return TOTP(base64.b32decode(padded), DIGITS, SHA1(), STEP_SECONDS, enforce_key_length=False)  # noqa: S303


def provisioning_uri(secret: str, account: str) -> str:
    return _totp(secret).get_provisioning_uri(account, ISSUER)


def code_at(secret: str, when: datetime) -> str:
    return _totp(secret).generate(int(when.timestamp())).decode()


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step `code` is valid for, if any, never at or before `last_step`."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = _totp(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        expected = totp.generate(step * STEP_SECONDS)
        if hmac.compare_digest(expected, code.encode()):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes of 80 random bits each, grouped for reading aloud."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_code_hash(code: str) -> str:
    """Codes are high-entropy, so a plain SHA-256 is enough (no slow hash needed)."""
    canonical = code.replace("-", "").replace(" ", "").lower()
    return hashlib.sha256(canonical.encode()).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    return len(code.replace("-", "").replace(" ", "")) == 16


OWNER_TYPE = "user"


def _binding(user_id: uuid.UUID) -> Binding:
    return Binding("users", "totp_secret", user_id, user_id)


async def seal_secret(uow: UnitOfWork, user_id: uuid.UUID, secret: str) -> bytes:
    (sealed,) = await uow.seal(OWNER_TYPE, user_id, [(_binding(user_id), secret.encode())])
    return sealed


async def open_secret(uow: UnitOfWork, user_id: uuid.UUID, sealed: bytes) -> str:
    return (await uow.open(sealed, _binding(user_id), patient_id=None)).decode()
