"""Envelope encryption: round trips, binding to the row, tamper detection, data-key
retirement, KEK rotation without re-encrypting, crypto-shredding."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from huddle import migrate
from huddle.clock import ManualClock
from huddle.db import Database
from huddle.protect.crypto import Binding, DecryptionFailed, Envelope, Shredded, rewrap_batch
from huddle.protect.keyring import (
    FileKeyring,
    KeyringContents,
    KeyringError,
    UnwrapError,
    write_keyring_file,
)
from huddle.protect.models import DataKey
from tests.services import run_sync


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def keyring(tmp_path: Path) -> FileKeyring:
    path = tmp_path / "keyring.json"
    write_keyring_file(path, KeyringContents.generate())
    return FileKeyring(path)


@pytest.fixture
def envelope(keyring: FileKeyring) -> Envelope:
    return Envelope(keyring, ManualClock())


def binding(owner: uuid.UUID, column: str = "full_name", row: uuid.UUID | None = None) -> Binding:
    return Binding("patients", column, row or owner, owner)


async def seal(
    database: Database, envelope: Envelope, owner: uuid.UUID, items: list[tuple[Binding, bytes]]
) -> list[bytes]:
    """Seal in a transaction of its own and, as a unit of work does, run what the envelope
    asked to run only once that has committed."""
    committed: list[Callable[[], None]] = []
    async with database.transaction() as db:
        sealed = await envelope.seal(db, "patient", owner, items, after_commit=committed.append)
    for callback in committed:
        callback()
    return sealed


async def shred(database: Database, envelope: Envelope, owner: uuid.UUID) -> int:
    """Shred in a transaction of its own, then run what it asked to run after commit."""
    committed: list[Callable[[], None]] = []
    async with database.transaction() as db:
        destroyed = await envelope.shred(db, "patient", [owner], after_commit=committed.append)
    for callback in committed:
        callback()
    return destroyed


async def seal_one(database: Database, envelope: Envelope, where: Binding, text: bytes) -> bytes:
    (sealed,) = await seal(database, envelope, where.owner_id, [(where, text)])
    return sealed


async def open_one(database: Database, envelope: Envelope, blob: bytes, where: Binding) -> bytes:
    async with database.transaction() as db:
        return await envelope.open(db, blob, where)


@pytest.mark.parametrize("text", [b"", b"Ana Ruiz", "Zoë Ωmega 日本".encode(), b"x" * 1_000_000])
async def test_round_trip(database: Database, envelope: Envelope, text: bytes) -> None:
    where = binding(uuid.uuid4())
    sealed = await seal_one(database, envelope, where, text)
    assert text not in sealed or text == b""
    assert await open_one(database, envelope, sealed, where) == text
    fresh = Envelope(envelope.keys, ManualClock())  # no cached key: unwraps from the row
    assert await open_one(database, fresh, sealed, where) == text


async def test_a_ciphertext_moved_to_another_row_column_or_owner_fails(
    database: Database, envelope: Envelope
) -> None:
    owner = uuid.uuid4()
    sealed = await seal_one(database, envelope, binding(owner), b"Ana Ruiz")
    for elsewhere in (
        binding(owner, column="mrn"),
        binding(owner, row=uuid.uuid4()),
        Binding("messages", "full_name", owner, owner),
    ):
        with pytest.raises(DecryptionFailed):
            await open_one(database, envelope, sealed, elsewhere)


async def test_every_changed_byte_is_detected(database: Database, envelope: Envelope) -> None:
    where = binding(uuid.uuid4())
    sealed = await seal_one(database, envelope, where, b"MRN-0042")
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionFailed):
            await open_one(database, envelope, bytes(tampered), where)
    with pytest.raises(DecryptionFailed):
        await open_one(database, envelope, sealed[:20], where)


async def test_nonces_never_repeat(database: Database, envelope: Envelope) -> None:
    owner = uuid.uuid4()
    sealed = await seal(
        database, envelope, owner, [(binding(owner, row=uuid.uuid4()), b"same") for _ in range(500)]
    )
    assert len({blob[17:29] for blob in sealed}) == 500


async def test_a_data_key_is_retired_at_its_use_limit(
    database: Database, keyring: FileKeyring
) -> None:
    envelope = Envelope(keyring, ManualClock(), max_uses=3)
    owner = uuid.uuid4()
    notes = [(binding(owner, row=uuid.uuid4()), f"note {n}".encode()) for n in range(7)]
    sealed = [await seal_one(database, envelope, where, text) for where, text in notes]
    async with database.transaction() as db:
        keys = (await db.scalars(select(DataKey).where(DataKey.owner_id == owner))).all()
    # Each key counts its encryptions plus the block reserved ahead (all of it here).
    assert sorted(k.uses for k in keys) == [3, 3, 3]
    assert sum(k.retired_at is not None for k in keys) == 2
    assert len({blob[1:17] for blob in sealed}) == 3
    for blob, (where, text) in zip(sealed, notes, strict=True):  # retired keys still open
        assert await open_one(database, envelope, blob, where) == text


async def test_a_key_counts_every_encryption_even_those_spent_from_a_reservation(
    database: Database, envelope: Envelope
) -> None:
    owner = uuid.uuid4()
    for n in range(5):
        await seal_one(database, envelope, binding(owner, row=uuid.uuid4()), b"note %d" % n)
    async with database.transaction() as db:
        (key,) = (await db.scalars(select(DataKey).where(DataKey.owner_id == owner))).all()
    assert key.uses >= 5


async def test_a_rolled_back_seal_leaves_no_reservation_behind(
    database: Database, envelope: Envelope
) -> None:
    """The first seal of an owner makes its key and reserves uses in one transaction; if
    that rolls back, neither may be used afterwards (the key would not exist)."""
    owner = uuid.uuid4()

    kept: list[Callable[[], None]] = []

    async def seal_then_fail() -> None:
        async with database.transaction() as db:
            await envelope.seal(
                db, "patient", owner, [(binding(owner), b"never kept")], after_commit=kept.append
            )
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        await seal_then_fail()
    assert kept, "the first seal reserves a block, to be kept only after a commit"

    where = binding(owner, row=uuid.uuid4())
    blob = await seal_one(database, envelope, where, b"kept")
    assert await open_one(database, envelope, blob, where) == b"kept"
    async with database.transaction() as db:
        keys = (await db.scalars(select(DataKey).where(DataKey.owner_id == owner))).all()
    assert [k.id.bytes for k in keys] == [blob[1:17]]


async def test_shredding_makes_data_unreadable_for_good(
    database: Database, envelope: Envelope
) -> None:
    owner = uuid.uuid4()
    where = binding(owner)
    sealed = await seal_one(database, envelope, where, b"Ana Ruiz")
    assert await shred(database, envelope, owner) == 1
    for reader in (envelope, Envelope(envelope.keys, ManualClock())):
        with pytest.raises(Shredded):
            await open_one(database, reader, sealed, where)


async def test_a_key_shredded_by_another_instance_is_never_sealed_with_again(
    database: Database, keyring: FileKeyring
) -> None:
    """This instance holds a reserved block of the owner's key when another instance
    shreds it: what this one seals next must open anywhere, so under a new key."""
    here, elsewhere = Envelope(keyring, ManualClock()), Envelope(keyring, ManualClock())
    owner = uuid.uuid4()
    before = await seal_one(database, here, binding(owner), b"before")
    assert await shred(database, elsewhere, owner) == 1

    where = binding(owner, row=uuid.uuid4())
    after = await seal_one(database, here, where, b"after")

    assert after[1:17] != before[1:17]
    assert await open_one(database, Envelope(keyring, ManualClock()), after, where) == b"after"


async def test_a_shred_that_rolls_back_changes_nothing(
    database: Database, envelope: Envelope
) -> None:
    """The reserved block outlives a shred that did not commit: the next seal spends it
    (the key's count does not move) under the same key."""
    owner = uuid.uuid4()
    before = await seal_one(database, envelope, binding(owner), b"before")
    counted = await uses_of(database, owner)

    async def shred_then_fail() -> None:
        async with database.transaction() as db:  # its after-commit work is dropped
            await envelope.shred(db, "patient", [owner], after_commit=lambda _: None)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        await shred_then_fail()
    after = await seal_one(database, envelope, binding(owner, row=uuid.uuid4()), b"after")
    assert after[1:17] == before[1:17]
    assert await uses_of(database, owner) == counted


async def test_a_shred_waits_for_seals_in_flight_with_the_key(
    database: Database, keyring: FileKeyring
) -> None:
    """Two instances on PostgreSQL: a seal from a reserved block holds the key until it
    commits, so the shred destroys it too, and nothing sealed with the key commits after
    the shred. (SQLite has one writer at a time: nothing is in flight during a shred.)"""
    if database.engine.dialect.name == "sqlite":
        pytest.skip("one writer at a time")
    here, elsewhere = Envelope(keyring, ManualClock()), Envelope(keyring, ManualClock())
    owner = uuid.uuid4()
    await seal_one(database, here, binding(owner), b"reserves a block")
    where = binding(owner, row=uuid.uuid4())

    async with database.transaction() as db:
        (in_flight,) = await here.seal(
            db, "patient", owner, [(where, b"in flight")], after_commit=lambda _: None
        )
        shredding = asyncio.create_task(shred(database, elsewhere, owner))
        _, waiting = await asyncio.wait({shredding}, timeout=1.0)
        assert shredding in waiting  # its DELETE waits for this transaction
    assert await asyncio.wait_for(shredding, 10) == 1

    with pytest.raises(Shredded):
        await open_one(database, Envelope(keyring, ManualClock()), in_flight, where)


async def uses_of(database: Database, owner: uuid.UUID) -> int:
    async with database.transaction() as db:
        (key,) = (await db.scalars(select(DataKey).where(DataKey.owner_id == owner))).all()
    return key.uses


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_rotation_rewraps_data_keys_without_touching_ciphertexts(
    empty_database_factory, backend: str, keyring: FileKeyring
) -> None:  # type: ignore[no-untyped-def]
    """Rotation touches every data key in the database, so it gets a database of its own."""
    url = empty_database_factory(backend)
    run_sync(migrate.upgrade, url)
    database = Database(url)
    try:
        await _rotate_and_read_back(database, keyring)
    finally:
        await database.dispose()


async def _rotate_and_read_back(database: Database, keyring: FileKeyring) -> None:
    server_view = FileKeyring(keyring.path)  # a running server's copy, loaded earlier
    envelope = Envelope(keyring, ManualClock())
    owner = uuid.uuid4()
    where = binding(owner)
    sealed = await seal_one(database, envelope, where, b"Ana Ruiz")
    old_kek = keyring.active_kek_id()

    keyring.save(keyring.contents.with_new_kek())
    async with database.transaction() as db:
        while await rewrap_batch(db, keyring, 100):
            pass
        row = await db.scalar(select(DataKey).where(DataKey.owner_id == owner))
    assert row is not None
    assert row.kek_id == keyring.active_kek_id() != old_kek

    # The running server has never seen the new KEK; it reloads the file when it meets it.
    assert await open_one(database, Envelope(server_view, ManualClock()), sealed, where) == (
        b"Ana Ruiz"
    )
    retired = keyring.contents.without_kek(old_kek)
    keyring.save(retired)
    assert await open_one(database, Envelope(keyring, ManualClock()), sealed, where) == b"Ana Ruiz"


async def test_a_wrapped_key_moved_to_another_owner_fails(
    database: Database, envelope: Envelope
) -> None:
    victim, attacker = uuid.uuid4(), uuid.uuid4()
    await seal_one(database, envelope, binding(victim), b"victim")
    await seal_one(database, envelope, binding(attacker), b"attacker")
    async with database.transaction() as db:
        victim_key = await db.scalar(select(DataKey).where(DataKey.owner_id == victim))
        assert victim_key is not None
        with pytest.raises(UnwrapError):
            envelope.keys.unwrap(
                victim_key.kek_id,
                victim_key.wrapped_key,
                f"huddle/dek/v1|{victim_key.id}|patient|{attacker}".encode(),
            )


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=2048), associated=st.binary(max_size=64))
def test_keyring_wrap_round_trips_and_detects_tampering(
    data: bytes, associated: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("k") / "keyring.json"
    write_keyring_file(path, KeyringContents.generate())
    ring = FileKeyring(path)
    kek = ring.active_kek_id()
    wrapped = ring.wrap(kek, data, associated)
    assert ring.unwrap(kek, wrapped, associated) == data
    with pytest.raises(UnwrapError):
        ring.unwrap(kek, wrapped, associated + b"x")
    flipped = bytearray(wrapped)
    flipped[len(flipped) // 2] ^= 0x80
    with pytest.raises(UnwrapError):
        ring.unwrap(kek, bytes(flipped), associated)


def test_keyring_file_is_owner_only_and_required(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    write_keyring_file(path, KeyringContents.generate())
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeyringError, match="does not exist"):
        FileKeyring(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text('{"active_kek": "x"}')
    with pytest.raises(KeyringError, match="not a valid keyring"):
        FileKeyring(tmp_path / "bad.json")


def test_keyring_can_come_from_the_environment() -> None:
    contents = KeyringContents.generate()
    ring = FileKeyring(None, inline=contents.to_json())
    assert ring.active_kek_id() == contents.active_kek
    with pytest.raises(KeyringError, match="HUDDLE_KEYRING"):
        ring.save(contents.with_new_kek())
