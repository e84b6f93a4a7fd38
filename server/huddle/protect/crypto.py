"""Envelope encryption of PHI: AES-256-GCM under per-owner data keys (DEKs), each DEK
stored wrapped by a key-encryption key (KEK) from the KeyProvider.

Every ciphertext names its DEK and is bound, as associated data, to the table, column,
row and owner it was written for: copied anywhere else it fails to decrypt. A failure
is an error, never garbage. Deleting an owner's DEKs crypto-shreds everything they
protected.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from huddle.clock import Clock
from huddle.errors import HuddleError
from huddle.protect.keyring import KeyProvider, UnwrapError
from huddle.protect.models import DataKey

FORMAT_V1 = 1
NONCE_BYTES = 12
HEADER_BYTES = 1 + 16 + NONCE_BYTES
# NIST SP 800-38D caps a key at 2**32 encryptions with random 96-bit nonces; retire at half.
GCM_SAFE_USES = 2**31
# Unwrapped DEKs are cached briefly: a key shredded elsewhere stops working here soon.
CACHE_SECONDS = 300.0
CACHE_SIZE = 4096
# Encryptions are counted against a key in blocks reserved ahead, so most seals need no
# write to the key's row: the block is added to the key's `uses` in the sealing
# transaction and spent from memory after it commits. A crash or an unused block
# over-counts, which only retires a key sooner. Each seal from a reservation still
# checks that the key exists (and holds it until commit), so a key shredded by any
# process is never sealed with again. A reservation lives RESERVATION_SECONDS.
RESERVE_USES = 1024
RESERVATION_SECONDS = 60.0
# Still there? Held until commit (PostgreSQL FOR KEY SHARE): a shred's DELETE waits for
# the seals already made with the key, and none comes after it.
_KEY_EXISTS = (
    select(DataKey.id)
    .where(DataKey.id == bindparam("id"))
    .with_for_update(read=True, key_share=True)
)


class DecryptionFailed(HuddleError):
    """A ciphertext failed authentication: altered, or moved from its row."""

    status_code = 500
    default_code = "data_integrity"


class Shredded(HuddleError):
    """The data key is gone: the data was crypto-shredded under retention."""

    status_code = 410
    default_code = "data_destroyed"


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a ciphertext lives; authenticated with it as associated data."""

    table: str
    column: str
    row_id: uuid.UUID
    owner_id: uuid.UUID

    def associated_data(self, dek_id: uuid.UUID) -> bytes:
        return (
            f"huddle/v1|{self.table}|{self.column}|{self.row_id}|{self.owner_id}|{dek_id}".encode()
        )


def _wrap_binding(dek_id: uuid.UUID, owner_type: str, owner_id: uuid.UUID) -> bytes:
    # A wrapped DEK moved to another owner's row fails to unwrap.
    return f"huddle/dek/v1|{dek_id}|{owner_type}|{owner_id}".encode()


class Envelope:
    """Seals and opens PHI for one process. Thread-safe enough for asyncio (one loop)."""

    def __init__(self, keys: KeyProvider, clock: Clock, *, max_uses: int = GCM_SAFE_USES) -> None:
        self.keys = keys
        self._clock = clock
        self._max_uses = max_uses
        self._cache: OrderedDict[uuid.UUID, tuple[float, AESGCM]] = OrderedDict()
        self._reserved: dict[tuple[str, uuid.UUID], _Reservation] = {}

    async def seal(
        self,
        db: AsyncSession,
        owner_type: str,
        owner_id: uuid.UUID,
        items: Sequence[tuple[Binding, bytes]],
        *,
        after_commit: Callable[[Callable[[], None]], None],
    ) -> list[bytes]:
        """Encrypt each plaintext under the owner's current data key (made if needed).
        `after_commit` is given what to do once the caller's writes are durable (keep a
        reserved block of uses); the caller must drop it if they are rolled back."""
        if not items:
            return []
        dek_id, aead = await self._current_key(db, owner_type, owner_id, len(items), after_commit)
        sealed = []
        for binding, plaintext in items:
            nonce = secrets.token_bytes(NONCE_BYTES)
            body = aead.encrypt(nonce, plaintext, binding.associated_data(dek_id))
            sealed.append(bytes([FORMAT_V1]) + dek_id.bytes + nonce + body)
        return sealed

    async def open(self, db: AsyncSession, blob: bytes, binding: Binding) -> bytes:
        """Decrypt; raise DecryptionFailed if altered or misplaced, Shredded if the key is
        gone."""
        if len(blob) < HEADER_BYTES + 16 or blob[0] != FORMAT_V1:
            raise DecryptionFailed("Stored data failed its integrity check.")
        dek_id = uuid.UUID(bytes=blob[1:17])
        aead = await self._key_by_id(db, dek_id, owner_id=binding.owner_id)
        try:
            return aead.decrypt(
                blob[17:HEADER_BYTES], blob[HEADER_BYTES:], binding.associated_data(dek_id)
            )
        except InvalidTag:
            raise DecryptionFailed("Stored data failed its integrity check.") from None

    async def shred(
        self,
        db: AsyncSession,
        owner_type: str,
        owner_ids: Collection[uuid.UUID],
        *,
        after_commit: Callable[[Callable[[], None]], None],
    ) -> int:
        """Destroy every data key of these owners; returns how many. Irreversible. This
        process forgets the keys (`after_commit`) only once the shred has committed: a
        concurrent seal's reservation, kept at its commit, could otherwise outlive it.
        Other processes stop using them within CACHE_SECONDS."""
        if not owner_ids:
            return 0
        result = await db.execute(
            delete(DataKey)
            .where(DataKey.owner_type == owner_type, DataKey.owner_id.in_(owner_ids))
            .returning(DataKey.id)
        )
        destroyed = list(result.scalars())
        owners = [(owner_type, owner_id) for owner_id in owner_ids]
        after_commit(partial(self._forget, owners, destroyed))
        return len(destroyed)

    def _forget(self, owners: list[tuple[str, uuid.UUID]], dek_ids: list[uuid.UUID]) -> None:
        for owner in owners:
            self._reserved.pop(owner, None)
        for dek_id in dek_ids:
            self._cache.pop(dek_id, None)

    async def _current_key(
        self,
        db: AsyncSession,
        owner_type: str,
        owner_id: uuid.UUID,
        uses: int,
        after_commit: Callable[[Callable[[], None]], None],
    ) -> tuple[uuid.UUID, AESGCM]:
        """The owner's current key, with `uses` encryptions counted against it: from a
        reservation when one has room, else from the database (reserving a block)."""
        owner = (owner_type, owner_id)
        reservation = self._reserved.get(owner)
        if reservation is not None and reservation.take(uses):
            if await db.scalar(_KEY_EXISTS, {"id": reservation.dek_id}) is not None:
                return reservation.dek_id, reservation.aead
            # Shredded since the block was reserved (by this process or another).
            if self._reserved.get(owner) is reservation:
                del self._reserved[owner]
            self._cache.pop(reservation.dek_id, None)
        row = await db.scalar(
            select(DataKey)
            .where(
                DataKey.owner_type == owner_type,
                DataKey.owner_id == owner_id,
                DataKey.retired_at.is_(None),
            )
            .order_by(DataKey.created_at.desc())
            .limit(1)
            # Only `uses` and `retired_at` change: seals holding the key (FOR KEY
            # SHARE) need not wait for this, and this not for them.
            .with_for_update(key_share=True)
        )
        if row is None or row.uses + uses > self._max_uses:
            if row is not None:
                row.retired_at = self._clock.now()
            spare = min(RESERVE_USES, self._max_uses - uses)
            dek_id, aead = await self._new_key(db, owner_type, owner_id, uses + spare)
        else:
            spare = min(RESERVE_USES, self._max_uses - row.uses - uses)
            await db.execute(
                update(DataKey).where(DataKey.id == row.id).values(uses=DataKey.uses + uses + spare)
            )
            dek_id = row.id
            aead = await self._key_by_id(db, row.id, owner_id=owner_id, row=row)
        if spare:
            # Kept only once its `uses` are durable: a rolled-back block (or a
            # rolled-back new key) must never be spent.
            after_commit(partial(self._keep, owner, _Reservation(dek_id, aead, spare)))
        return dek_id, aead

    def _keep(self, owner: tuple[str, uuid.UUID], reservation: _Reservation) -> None:
        self._reserved[owner] = reservation

    async def _new_key(
        self, db: AsyncSession, owner_type: str, owner_id: uuid.UUID, uses: int
    ) -> tuple[uuid.UUID, AESGCM]:
        dek_id, raw = uuid.uuid4(), AESGCM.generate_key(bit_length=256)
        kek_id = self.keys.active_kek_id()
        wrapped = self.keys.wrap(kek_id, raw, _wrap_binding(dek_id, owner_type, owner_id))
        db.add(
            DataKey(
                id=dek_id,
                owner_type=owner_type,
                owner_id=owner_id,
                kek_id=kek_id,
                wrapped_key=wrapped,
                created_at=self._clock.now(),
                uses=uses,
            )
        )
        await db.flush()
        aead = AESGCM(raw)
        self._remember(dek_id, aead)
        return dek_id, aead

    async def _key_by_id(
        self,
        db: AsyncSession,
        dek_id: uuid.UUID,
        *,
        owner_id: uuid.UUID,
        row: DataKey | None = None,
    ) -> AESGCM:
        cached = self._cache.get(dek_id)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            self._cache.move_to_end(dek_id)
            return cached[1]
        row = row or await db.get(DataKey, dek_id)
        if row is None:
            # No such key: shredded if the owner has none left, else the id was altered.
            if await db.scalar(select(DataKey.id).where(DataKey.owner_id == owner_id).limit(1)):
                raise DecryptionFailed("Stored data failed its integrity check.")
            raise Shredded("This data was destroyed under the retention policy.")
        try:
            raw = self.keys.unwrap(
                row.kek_id, row.wrapped_key, _wrap_binding(row.id, row.owner_type, row.owner_id)
            )
        except UnwrapError:
            raise DecryptionFailed("A data key failed its integrity check.") from None
        aead = AESGCM(raw)
        self._remember(dek_id, aead)
        return aead

    def _remember(self, dek_id: uuid.UUID, aead: AESGCM) -> None:
        self._cache[dek_id] = (time.monotonic(), aead)
        self._cache.move_to_end(dek_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)


@dataclass(slots=True)
class _Reservation:
    dek_id: uuid.UUID
    aead: AESGCM
    remaining: int
    expires: float = field(default_factory=lambda: time.monotonic() + RESERVATION_SECONDS)

    def take(self, uses: int) -> bool:
        if self.remaining < uses or time.monotonic() >= self.expires:
            return False
        self.remaining -= uses
        return True


async def rewrap_batch(db: AsyncSession, keys: KeyProvider, limit: int) -> int:
    """Re-wrap up to `limit` data keys not under the active KEK; returns how many.

    Only the small wrapped keys change: PHI ciphertexts are untouched, so rotation runs
    online. Concurrent runs skip each other's rows (SKIP LOCKED on PostgreSQL).
    """
    active = keys.active_kek_id()
    rows = (
        await db.scalars(
            select(DataKey)
            .where(DataKey.kek_id != active)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for row in rows:
        binding = _wrap_binding(row.id, row.owner_type, row.owner_id)
        raw = keys.unwrap(row.kek_id, row.wrapped_key, binding)
        row.wrapped_key, row.kek_id = keys.wrap(active, raw, binding), active
    return len(rows)


async def keys_by_kek(db: AsyncSession) -> dict[str, int]:
    """How many data keys each KEK wraps."""
    rows = await db.execute(select(DataKey.kek_id, func.count()).group_by(DataKey.kek_id))
    return {kek_id: count for kek_id, count in rows}
