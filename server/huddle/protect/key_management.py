"""Operator tasks on the keyring: add a KEK, re-wrap every data key under it, report."""

from __future__ import annotations

from collections.abc import Callable

from huddle.db import Database
from huddle.protect.crypto import keys_by_kek, rewrap_batch
from huddle.protect.keyring import FileKeyring

REWRAP_BATCH = 500


def add_kek(keyring: FileKeyring) -> str:
    """Add a KEK and make it active; running servers pick it up from the file."""
    contents = keyring.contents.with_new_kek()
    keyring.save(contents)
    return contents.active_kek


async def rewrap_all(
    database_url: str, keyring: FileKeyring, progress: Callable[[int], None]
) -> int:
    """Re-wrap, in short transactions, every data key not under the active KEK."""
    database = Database(database_url)
    total = 0
    try:
        while True:
            async with database.transaction() as db:
                done = await rewrap_batch(db, keyring, REWRAP_BATCH)
            if not done:
                return total
            total += done
            progress(total)
    finally:
        await database.dispose()


async def status(database_url: str) -> dict[str, int]:
    database = Database(database_url)
    try:
        async with database.transaction() as db:
            return await keys_by_kek(db)
    finally:
        await database.dispose()
