"""Database wiring: the declarative Base, column types that behave the same on SQLite
and PostgreSQL, and the engine/session factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import URL, DateTime, MetaData, event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from huddle import sqlite_driver
from huddle.errors import Busy

# How long a transaction waits for SQLite's write lock before giving up.
SQLITE_BUSY_SECONDS = 30

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on both databases (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_engine(database_url: str) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(
            _one_trip_per_statement(database_url),
            # Statements inside a transaction run on the event loop unless it scans
            # (sqlite_driver.py).
            connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin)
        return engine
    # hide_parameters: SQL errors reach logs; their bound values could be PHI.
    return create_async_engine(
        database_url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True
    )


def _one_trip_per_statement(database_url: str) -> URL:
    """Use huddle.sqlite_driver for aiosqlite URLs (same driver, fewer thread trips)."""
    url = make_url(database_url)
    if url.drivername == "sqlite+aiosqlite":
        url = url.set(drivername=sqlite_driver.DRIVER_NAME)
    return url


class NoWriteAheadLog(RuntimeError):
    """SQLite would not put the database in WAL mode (its filesystem has no shared
    memory, or no locking SQLite trusts); Huddle refuses to use it (docs/architecture.md)."""

    def __init__(self, journal_mode: str) -> None:
        super().__init__(
            f"SQLite left the database in {journal_mode!r} journal mode, not WAL, which "
            "Huddle needs: the filesystem it is on does not support WAL (network "
            "filesystems do not). Put the database file on a local disk, or use "
            "PostgreSQL (HUDDLE_DATABASE_URL)."
        )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (see _begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    (journal_mode,) = cursor.fetchone()
    if journal_mode != "wal":
        # Statements inside a transaction run on the event loop only because WAL never
        # makes them wait; outside WAL one could hold the loop up to busy_timeout.
        cursor.close()
        dbapi_connection.close()
        raise NoWriteAheadLog(journal_mode)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.close()


def _begin(connection: Any) -> None:
    """Take SQLite's write lock at BEGIN: a deferred transaction that later writes can
    fail at once with "database is locked" when another writer got in first, while an
    immediate one waits its turn (busy_timeout). A snapshot never writes: its plain
    BEGIN takes no lock, and in WAL mode it neither waits for writers nor holds them up."""
    read_only = connection.get_execution_options().get(sqlite_driver.READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


async def _begin_now(session: AsyncSession, *, scans: bool) -> None:
    """BEGIN IMMEDIATE now, not at the first statement: a write lock another process
    holds past busy_timeout (a long CLI command) is then a clear 503 `database_busy`,
    and comes before any work of the caller's."""
    options = {sqlite_driver.STATEMENTS_IN_THREAD: True} if scans else None
    try:
        await session.connection(execution_options=options)
    except OperationalError as error:
        if "database is locked" not in str(error.orig):
            raise
        raise Busy("The server is busy. Try again in a moment.", code="database_busy") from None


class Database:
    """The engine and a session factory; one per process."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and every transaction here takes the write
        # lock (BEGIN IMMEDIATE). Connections of one process that wait for it inside
        # SQLite wait in its busy handler, which sleeps 1, 2, 5, 10… ms between tries:
        # under load most of a transaction's time went to those sleeps. Queuing for
        # the lock here first hands it over the moment it is free (FIFO). Other
        # processes (the CLI) still meet busy_timeout.
        self._one_writer = asyncio.Lock() if database_url.startswith("sqlite") else None
        self._writer: asyncio.Task[object] | None = None
        # Tasks working inside the writer's transaction for it (group commit's turns).
        self._borrowers: set[asyncio.Task[object]] = set()
        self._snapshot_options: dict[str, object] = (
            {sqlite_driver.READ_ONLY: True}
            if self.one_writer_at_a_time
            else {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )

    @property
    def one_writer_at_a_time(self) -> bool:
        """SQLite: this process's transactions run one after another."""
        return self._one_writer is not None

    @asynccontextmanager
    async def transaction(self, *, scans: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error.

        `scans=True` for a transaction that may read thousands of rows (verifying or
        checkpointing the audit log, exports): on SQLite its statements then run in
        aiosqlite's thread, where a long scan does not hold up the event loop; a short
        unit of work is faster on the loop (huddle.sqlite_driver). No effect on
        PostgreSQL, whose driver never blocks the loop.

        Raises RuntimeError, at once, when opened on SQLite inside a transaction of the
        same task: the inner one would wait for the outer one's write lock until
        busy_timeout.
        """
        async with self._writer_turn(), self._sessions() as session, session.begin():
            if self._one_writer is not None:
                await _begin_now(session, scans=scans)
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A session inside one read-only transaction, for a long scan that must not
        hold up writers (verifying the audit log, hashing it for a checkpoint).

        It sees one consistent state of the database from its first read to its end:
        on SQLite a WAL read transaction (plain BEGIN, no write lock, no writer turn,
        statements in aiosqlite's thread), on PostgreSQL REPEATABLE READ. Meanwhile
        other transactions, of this task too, write and commit without waiting for it.
        A write in it is a programming error and fails: sqlalchemy's OperationalError
        "attempt to write a readonly database" on SQLite, "cannot execute … in a
        read-only transaction" on PostgreSQL.
        """
        async with self._sessions() as session, session.begin():
            await session.connection(execution_options=self._snapshot_options)
            yield session

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if self._one_writer is None:
            yield  # PostgreSQL: writers take row locks, not turns
            return
        if task is not None and (task is self._writer or task in self._borrowers):
            raise RuntimeError(
                "a database transaction was opened inside another one of the same task; "
                "on SQLite it would wait for the outer one's write lock until busy_timeout: "
                "finish the outer transaction first, or do the work in it"
            )
        try:
            async with asyncio.timeout(SQLITE_BUSY_SECONDS):
                await self._one_writer.acquire()
        except TimeoutError:
            raise Busy("The server is busy. Try again in a moment.", code="database_busy") from None
        self._writer = task
        try:
            yield
        finally:
            self._writer = None
            self._one_writer.release()

    @contextmanager
    def borrowed_turn(self) -> Iterator[None]:
        """The current task works inside a transaction another task holds (a group
        commit's turn): a transaction it opened would wait for that one's write lock,
        so it fails at once, as in the holder's own task."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._borrowers.add(task)
        try:
            yield
        finally:
            self._borrowers.discard(task)

    async def dispose(self) -> None:
        await self.engine.dispose()
