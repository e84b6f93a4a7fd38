"""Operator tasks on keys and the audit log, run by the `huddle` command: add a KEK and
re-wrap every data key under it, report key use, sign and verify audit checkpoints.
Each opens its own database connection, short transactions, and snapshots to scan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from huddle.db import Database
from huddle.protect import audit
from huddle.protect.audit import Action, AuditRecord, CheckpointDoc, VerifyReport
from huddle.protect.crypto import keys_by_kek, rewrap_batch
from huddle.protect.keyring import FileKeyring
from huddle.secret_files import write_owner_only

REWRAP_BATCH = 500


@asynccontextmanager
async def _database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


def add_kek(keyring: FileKeyring) -> str:
    """Add a KEK and make it active; running servers pick it up from the file."""
    contents = keyring.contents.with_new_kek()
    keyring.save(contents)
    return contents.active_kek


async def rewrap_all(
    database_url: str, keyring: FileKeyring, progress: Callable[[int], None]
) -> int:
    """Re-wrap, in short transactions, every data key not under the active KEK; the
    rotation is recorded in the audit log."""
    total = 0
    async with _database(database_url) as database:
        while True:
            async with database.transaction() as db:
                done = await rewrap_batch(db, keyring, REWRAP_BATCH)
            if not done:
                break
            total += done
            progress(total)
        async with database.transaction() as db:
            record = AuditRecord(
                Action.KEY_ROTATED,
                "keyring",
                keyring.active_kek_id(),
                detail={"data_keys_rewrapped": str(total)},
            )
            await audit.append(db, [record], datetime.now(UTC))
    return total


async def status(database_url: str) -> dict[str, int]:
    """Data keys per KEK, counted in a snapshot: the servers' writes never wait for it."""
    async with _database(database_url) as database, database.snapshot() as db:
        return await keys_by_kek(db)


async def checkpoint(database_url: str, keyring: FileKeyring) -> dict[str, object]:
    """Sign and store a checkpoint of the whole log; returns it as a document to keep
    outside the database (see `write_checkpoint`). The log is hashed in a snapshot, so
    the servers' writes wait only for the short transaction that stores it."""
    key_id, key = keyring.audit_signing_key()
    async with _database(database_url) as database:
        async with database.snapshot() as db:
            root = await audit.root_of_log(db)
        async with database.transaction() as db:
            signed = await audit.store_checkpoint(db, root, key, key_id, datetime.now(UTC))
    return audit.checkpoint_document(signed)


def write_checkpoint(path: Path, document: dict[str, object]) -> None:
    write_owner_only(path, json.dumps(document, indent=2))


def read_checkpoint(path: Path) -> CheckpointDoc:
    """Raises OSError or ValueError if the file is missing or not a checkpoint."""
    return audit.checkpoint_from_document(json.loads(path.read_text("utf-8")))


async def verify(
    database_url: str, keyring: FileKeyring, external: CheckpointDoc | None
) -> VerifyReport:
    """Check every event and checkpoint (and an exported checkpoint, if given), in a
    snapshot: the servers' writes never wait for it."""
    async with _database(database_url) as database, database.snapshot() as db:
        return await audit.verify(db, keyring.audit_public_keys(), external)
