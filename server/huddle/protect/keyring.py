"""Key-encryption keys (KEKs) and the other long-lived secrets that must never live in
the database or beside it in backups: the blind-index key and the audit-checkpoint
signing keys.

`KeyProvider` is what the rest of Huddle needs from a key store. `FileKeyring` is the
local implementation; a KMS (AWS KMS, GCP KMS, Vault Transit) can implement the same
three wrapping methods by calling its encrypt/decrypt API with the same associated data.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from huddle.secret_files import ed25519_from_pem, ed25519_to_pem, write_owner_only

NONCE_BYTES = 12
KEY_BYTES = 32
# How often a running server looks for a rotated keyring file.
RELOAD_INTERVAL_SECONDS = 10.0


class KeyringError(RuntimeError):
    """The keyring is missing, malformed, or lacks a key that is needed."""


class UnwrapError(RuntimeError):
    """A wrapped key failed authentication: altered, moved, or wrapped by another KEK."""


class KeyProvider(Protocol):
    def active_kek_id(self) -> str:
        """The KEK that wraps new data keys."""
        ...

    def wrap(self, kek_id: str, data_key: bytes, associated_data: bytes) -> bytes:
        """Encrypt a data key under a KEK, bound to associated data."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes:
        """Decrypt a wrapped data key; raise UnwrapError if it fails authentication."""
        ...

    def blind_index_key(self) -> bytes:
        """The HMAC key for exact-match lookups of encrypted identifiers. Never rotated
        with the KEKs: the indexes stored in the database depend on it."""
        ...

    def audit_signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        """The key id and Ed25519 key that sign audit checkpoints."""
        ...

    def audit_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every audit-checkpoint public key, by id, for verification."""
        ...


@dataclass(slots=True)
class KeyringContents:
    active_kek: str
    keks: dict[str, bytes]
    blind_index_key: bytes
    audit_key_id: str
    audit_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    @classmethod
    def generate(cls, now: datetime | None = None) -> KeyringContents:
        kek_id = new_kek_id(now)
        audit_id = f"audit-{secrets.token_hex(4)}"
        return cls(
            active_kek=kek_id,
            keks={kek_id: AESGCM.generate_key(bit_length=256)},
            blind_index_key=secrets.token_bytes(KEY_BYTES),
            audit_key_id=audit_id,
            audit_keys={audit_id: Ed25519PrivateKey.generate()},
        )

    def with_new_kek(self, now: datetime | None = None) -> KeyringContents:
        kek_id = new_kek_id(now)
        keks = {**self.keks, kek_id: AESGCM.generate_key(bit_length=256)}
        return KeyringContents(
            kek_id, keks, self.blind_index_key, self.audit_key_id, dict(self.audit_keys)
        )

    def without_kek(self, kek_id: str) -> KeyringContents:
        if kek_id == self.active_kek:
            raise KeyringError("the active KEK cannot be retired")
        if kek_id not in self.keks:
            raise KeyringError(f"no KEK with id {kek_id!r}")
        keks = {k: v for k, v in self.keks.items() if k != kek_id}
        return KeyringContents(
            self.active_kek, keks, self.blind_index_key, self.audit_key_id, dict(self.audit_keys)
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "active_kek": self.active_kek,
                "keks": {k: _b64(v) for k, v in self.keks.items()},
                "blind_index_key": _b64(self.blind_index_key),
                "audit_key_id": self.audit_key_id,
                "audit_keys": {k: ed25519_to_pem(v) for k, v in self.audit_keys.items()},
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> KeyringContents:
        try:
            doc = json.loads(text)
            contents = cls(
                active_kek=doc["active_kek"],
                keks={k: _unb64(v, KEY_BYTES) for k, v in doc["keks"].items()},
                blind_index_key=_unb64(doc["blind_index_key"], KEY_BYTES),
                audit_key_id=doc["audit_key_id"],
                audit_keys={k: ed25519_from_pem(v) for k, v in doc["audit_keys"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyringError(f"keyring {source} is not a valid keyring") from None
        if contents.active_kek not in contents.keks:
            raise KeyringError(f"keyring {source}: active_kek is not among its keks")
        if contents.audit_key_id not in contents.audit_keys:
            raise KeyringError(f"keyring {source}: audit_key_id is not among its audit_keys")
        return contents


def new_kek_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d")
    return f"kek-{stamp}-{secrets.token_hex(3)}"


class FileKeyring:
    """A keyring in a JSON file with owner-only permissions, or in the HUDDLE_KEYRING
    environment variable. A file is re-read when it changes, so `huddle keys rotate`
    reaches running servers without a restart."""

    def __init__(self, path: Path | None, inline: str | None = None) -> None:
        if path is None and inline is None:
            raise KeyringError("no keyring configured")
        self._path = path
        self._inline = inline
        self._checked_at = 0.0
        self._signature: tuple[int, int, int] | None = None
        self._contents = self._read()

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def contents(self) -> KeyringContents:
        self._reload_if_changed()
        return self._contents

    def save(self, contents: KeyringContents) -> None:
        if self._path is None:
            raise KeyringError(
                "the keyring comes from HUDDLE_KEYRING; change it where that value is kept"
            )
        write_keyring_file(self._path, contents)
        self._contents, self._signature = contents, _file_signature(self._path)

    def active_kek_id(self) -> str:
        return self.contents.active_kek

    def wrap(self, kek_id: str, data_key: bytes, associated_data: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self._kek(kek_id)).encrypt(nonce, data_key, associated_data)

    def unwrap(self, kek_id: str, wrapped: bytes, associated_data: bytes) -> bytes:
        kek = self._kek(kek_id)
        try:
            return AESGCM(kek).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], associated_data
            )
        except InvalidTag:
            raise UnwrapError("a wrapped data key failed authentication") from None

    def blind_index_key(self) -> bytes:
        return self.contents.blind_index_key

    def audit_signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        contents = self.contents
        return contents.audit_key_id, contents.audit_keys[contents.audit_key_id]

    def audit_public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {k: v.public_key() for k, v in self.contents.audit_keys.items()}

    def _kek(self, kek_id: str) -> bytes:
        kek = self.contents.keks.get(kek_id)
        if kek is None:
            self._reload_if_changed(force=True)
            kek = self._contents.keks.get(kek_id)
        if kek is None:
            raise KeyringError(f"the keyring has no KEK {kek_id!r}")
        return kek

    def _read(self) -> KeyringContents:
        if self._path is None:
            assert self._inline is not None
            return KeyringContents.from_json(self._inline, "HUDDLE_KEYRING")
        try:
            self._signature = _file_signature(self._path)
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyringError(
                f"keyring file {self._path} does not exist (create it with `huddle keys init`)"
            ) from None
        return KeyringContents.from_json(text, str(self._path))

    def _reload_if_changed(self, force: bool = False) -> None:
        if self._path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked_at < RELOAD_INTERVAL_SECONDS:
            return
        self._checked_at = now
        try:
            changed = _file_signature(self._path) != self._signature
        except FileNotFoundError:
            return  # keep serving with the keys we have; startup checks existence
        if changed:
            self._contents = self._read()


def _file_signature(path: Path) -> tuple[int, int, int]:
    """Changes whenever the file is replaced (new inode) or rewritten."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def write_keyring_file(path: Path, contents: KeyringContents) -> None:
    write_owner_only(path, contents.to_json())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, length: int) -> bytes:
    data = base64.b64decode(text, validate=True)
    if len(data) != length:
        raise ValueError("wrong key length")
    return data
