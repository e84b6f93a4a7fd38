"""huddle.db on a real SQLite file: transactions of one process take turns for the write
lock (no "database is locked", no busy-handler sleeps), a turn that does not come in time
is a clear 503-class error, a transaction nested in its own task fails at once,
statements go through huddle.sqlite_driver (on the event loop, or in aiosqlite's thread
for a transaction that scans), and a database that cannot be in WAL mode is refused.
Snapshots (read-only transactions for long scans), on SQLite and PostgreSQL: writers
never wait for them, they keep seeing one state, and a write in one fails."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from huddle import db as huddle_db
from huddle.db import Database, NoWriteAheadLog
from huddle.errors import Busy


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'huddle.db'}")
    yield database
    await database.dispose()


async def test_concurrent_transactions_take_turns_and_all_commit(database: Database) -> None:
    async with database.transaction() as db:
        await db.execute(text("CREATE TABLE t (n INTEGER)"))
    inside = 0
    most_inside = 0

    async def one(n: int) -> None:
        nonlocal inside, most_inside
        async with database.transaction() as db:
            inside += 1
            most_inside = max(most_inside, inside)
            await db.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.001)  # others are queued meanwhile
            inside -= 1

    await asyncio.gather(*(one(n) for n in range(30)))
    assert most_inside == 1
    async with database.transaction() as db:
        assert (await db.execute(text("SELECT count(*) FROM t"))).scalar() == 30


async def test_a_turn_that_does_not_come_in_time_is_refused_as_busy(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huddle_db, "SQLITE_BUSY_SECONDS", 0.2)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with database.transaction():
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    with pytest.raises(Busy) as refused:
        async with database.transaction():
            pass
    assert refused.value.status_code == 503
    assert refused.value.code == "database_busy"
    release.set()
    await holder
    async with database.transaction() as db:  # the lock is free again
        assert (await db.execute(text("SELECT 1"))).scalar() == 1


async def test_a_transaction_opened_inside_another_of_the_same_task_fails_at_once(
    database: Database,
) -> None:
    """It would wait for its own task's write lock until busy_timeout (30 s)."""
    async with asyncio.timeout(5), database.transaction() as outer:
        await outer.execute(text("SELECT 1"))
        with pytest.raises(RuntimeError, match="opened inside another one of the same task"):
            async with database.transaction():
                pass
    async with asyncio.timeout(5), database.transaction() as db:  # the turn was handed back
        assert (await db.execute(text("SELECT 1"))).scalar() == 1


async def test_a_scanning_transaction_leaves_the_event_loop_free(database: Database) -> None:
    """Its statement here can only finish once another coroutine has run meanwhile: on
    the event loop it would wait out the timeout and answer 0."""
    loop = asyncio.get_running_loop()
    statement_running, other_work_ran = asyncio.Event(), threading.Event()

    def wait_for_other_work() -> bool:  # called by SQLite while the statement runs
        loop.call_soon_threadsafe(statement_running.set)
        return other_work_ran.wait(timeout=10)

    def register(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("wait_for_other_work", 0, wait_for_other_work)

    event.listen(database.engine.sync_engine, "connect", register)

    async def other_work() -> None:
        await statement_running.wait()
        other_work_ran.set()

    other = asyncio.create_task(other_work())
    async with database.transaction(scans=True) as db:
        assert (await db.execute(text("SELECT wait_for_other_work()"))).scalar() == 1
    await other


def statements_traced(
    database: Database, *, first_word_only: bool = False
) -> list[tuple[str, bool]]:
    """Every statement SQLite runs on the database's connections from now on, each with
    whether it ran on the event loop's thread (else aiosqlite's)."""
    loop_thread = threading.get_ident()
    ran: list[tuple[str, bool]] = []

    def trace(dbapi_connection: Any, _record: Any) -> None:
        def record(sql: str) -> None:
            ran.append(
                (sql.split()[0] if first_word_only else sql, threading.get_ident() == loop_thread)
            )

        dbapi_connection.driver_connection._conn.set_trace_callback(record)

    event.listen(database.engine.sync_engine, "connect", trace)
    return ran


async def test_short_transactions_run_on_the_loop_scanning_ones_in_the_thread_savepoints_too(
    database: Database,
) -> None:
    ran = statements_traced(database, first_word_only=True)

    async def run(*, scans: bool) -> list[tuple[str, bool]]:
        """The statements between BEGIN and COMMIT (both always in the thread)."""
        ran.clear()
        async with database.transaction(scans=scans) as db, db.begin_nested():
            await db.execute(text("SELECT 1"))
        statements = [sql for sql, _ in ran]
        return ran[statements.index("BEGIN") + 1 : statements.index("COMMIT")]

    on_the_loop = [("SAVEPOINT", True), ("SELECT", True), ("RELEASE", True)]
    assert await run(scans=False) == on_the_loop
    assert await run(scans=True) == [("SAVEPOINT", False), ("SELECT", False), ("RELEASE", False)]
    # The option ends with its transaction: the pooled connection is back on the loop.
    assert await run(scans=False) == on_the_loop


async def test_a_database_that_cannot_be_in_wal_mode_is_refused(tmp_path: Path) -> None:
    """Statements inside a transaction run on the event loop only because WAL never makes
    them wait. SQLite's dotfile locking has no shared memory, so no WAL: as on a network
    filesystem."""
    url = f"sqlite+aiosqlite:///file:{tmp_path}/huddle.db?vfs=unix-dotfile&uri=true"
    database = Database(url)
    try:
        with pytest.raises(NoWriteAheadLog, match=r"not WAL.*local disk, or use PostgreSQL"):
            async with database.transaction() as db:
                await db.execute(text("SELECT 1"))
    finally:
        await database.dispose()


def test_sqlite_urls_use_the_one_trip_driver(database: Database) -> None:
    assert database.engine.dialect.driver == "huddle_aiosqlite"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def snapshot_database_url(request: pytest.FixtureRequest, empty_database_factory) -> str:  # type: ignore[no-untyped-def]
    return empty_database_factory(request.param)


@pytest.fixture
async def any_database(snapshot_database_url: str) -> AsyncIterator[Database]:
    database = Database(snapshot_database_url)
    yield database
    await database.dispose()


COUNT = text("SELECT count(*) FROM probe")


async def one_row_probe(database: Database) -> None:
    """A table of one row, made anew (PostgreSQL's database is the module's)."""
    async with database.transaction() as db:
        await db.execute(text("DROP TABLE IF EXISTS probe"))
        await db.execute(text("CREATE TABLE probe (n INTEGER)"))
        await db.execute(text("INSERT INTO probe VALUES (1)"))


async def test_writes_commit_while_a_snapshot_scans_and_it_keeps_seeing_one_state(
    any_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the snapshot a transaction, the write (another task, like a send) would
    wait for its writer turn on SQLite, and be refused as busy."""
    monkeypatch.setattr(huddle_db, "SQLITE_BUSY_SECONDS", 0.5)
    await one_row_probe(any_database)

    async def write() -> None:
        async with any_database.transaction() as db:
            await db.execute(text("INSERT INTO probe VALUES (2)"))

    async with asyncio.timeout(5), any_database.snapshot() as snapshot:
        assert await snapshot.scalar(COUNT) == 1  # mid-scan
        await asyncio.create_task(write())
        async with any_database.transaction() as db:  # of the snapshot's own task too
            await db.execute(text("INSERT INTO probe VALUES (3)"))
        assert await snapshot.scalar(COUNT) == 1  # the state it began reading
    async with any_database.transaction() as db:
        assert await db.scalar(COUNT) == 3


async def test_a_write_in_a_snapshot_fails_and_the_next_user_of_its_connection_may_write(
    any_database: Database,
) -> None:
    await one_row_probe(any_database)
    with pytest.raises(DBAPIError, match=r"readonly database|read-only transaction"):
        async with any_database.snapshot() as snapshot:
            await snapshot.execute(text("INSERT INTO probe VALUES (2)"))
    assert any_database.engine.pool.checkedin() == 1  # so the write below reuses it
    async with any_database.transaction() as db:
        await db.execute(text("INSERT INTO probe VALUES (3)"))
        assert await db.scalar(text("SELECT sum(n) FROM probe")) == 4


async def test_a_snapshot_begins_without_the_write_lock_and_reads_in_the_thread(
    database: Database,
) -> None:
    ran = statements_traced(database)
    async with database.snapshot() as db:
        await db.execute(text("SELECT 1"))
    statements = [sql for sql, _ in ran]
    assert ran[statements.index("BEGIN") :] == [
        ("BEGIN", False),
        ("SELECT 1", False),
        ("COMMIT", False),
        ("PRAGMA query_only=OFF", False),
    ]
    assert "PRAGMA query_only=ON" in statements[: statements.index("BEGIN")]
