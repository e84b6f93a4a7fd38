"""Keyed blind indexes: exact-match lookup of encrypted identifiers (MRN, phone)
without storing them in plaintext or in a form a database thief could reverse.

HMAC-SHA-256 under a key from the keyring, salted with the organization and the field,
so equal values in two tenants (or two fields) give unrelated indexes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

_NOT_DIGIT = re.compile(r"\D")
_SPACE = re.compile(r"\s+")


def normalize_mrn(mrn: str) -> str:
    return _SPACE.sub("", mrn).upper()


def normalize_phone(phone: str) -> str:
    """Digits only; a leading US country code is dropped so +1 555… matches 555…."""
    digits = _NOT_DIGIT.sub("", phone)
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def blind_index(key: bytes, organization_id: uuid.UUID, field: str, normalized: str) -> str:
    message = f"{organization_id}|{field}|{normalized}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
