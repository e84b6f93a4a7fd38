"""SQLite through aiosqlite, with as few trips to its thread as are safe.

aiosqlite runs each SQLite connection in its own thread, and SQLAlchemy's adapter makes
one trip there for every cursor call: open the cursor, execute, fetch, close — four
thread hand-offs for a SELECT, each costing far more than the statement itself (a
primary-key lookup takes microseconds; a hand-off tens of them, in both threads, plus
the GIL going back and forth). This dialect makes trips only for what can block:

- BEGIN IMMEDIATE, which may wait for another process's write lock (busy_timeout), and
  anything outside a transaction: one trip each, the whole statement at once (execute,
  fetch every row, keep description, row count and last row id, close);
- COMMIT, whose fsync (synchronous=FULL) may take milliseconds on a slow disk;
- every statement of a transaction that may scan a lot (below).

Statements inside a transaction run on the event loop: the transaction began with
BEGIN IMMEDIATE, so it holds the write lock, and in WAL mode nothing can then make a
statement wait; it costs what SQLite's work costs (microseconds for Huddle's short
units of work); `huddle.db` refuses a database SQLite cannot put in WAL mode. A
statement that reads thousands of rows would hold the loop (every socket and request)
for as long as it runs, so a transaction that may scan (audit verification,
checkpoints, audit exports) sets the execution option STATEMENTS_IN_THREAD on its
connection (`Database.transaction(scans=True)`): then each of its statements,
SAVEPOINT and RELEASE included, is one trip. The option lives on the DBAPI connection
and is reset when the connection goes back to the pool, like an isolation level.

A read-only transaction (`Database.snapshot()`, execution option READ_ONLY) begins with
a plain BEGIN instead: it takes no write lock, so its statements, which may wait (a WAL
reader can meet SQLITE_BUSY while another connection recovers or restarts the WAL), run
in the thread, as a scanning transaction's do.

The connection is used from both threads, never at once (every call is awaited), so it
is opened with check_same_thread=False. A rollback with no transaction open (the pool's
reset after a commit) makes no trip.

`create_engine` picks this dialect for `sqlite+aiosqlite` URLs; it relies on aiosqlite's
`Connection._execute` (queue a function for the connection's thread), as SQLAlchemy's
own aiosqlite adapter does.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.engine.characteristics import ConnectionCharacteristic
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

DRIVER_NAME = "sqlite+huddle_aiosqlite"
# Execution option: run every statement of this connection's transaction in the thread.
STATEMENTS_IN_THREAD = "huddle_statements_in_thread"
# Execution option: this connection's transaction only reads (`Database.snapshot()`): it
# begins with a plain BEGIN and SQLite refuses its writes (PRAGMA query_only).
READ_ONLY = "huddle_read_only"

# What one statement leaves behind: description, rowcount, lastrowid, rows.
_Outcome = tuple[Any, int, int | None, list[Any]]


def _run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """In aiosqlite's thread: the whole statement, cursor closed before returning."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, parameters if parameters is not None else ())
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor with no aiosqlite cursor behind it: each execute is one trip."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:  # type: ignore[override]
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return None  # nothing is open in the thread between statements

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: sqlite3.Connection = self._connection._conn
        adapt = self._adapt_connection
        async with adapt._execute_mutex:
            if connection.in_transaction and not (adapt.statements_in_thread or adapt.read_only):
                # Inside BEGIN IMMEDIATE the write lock is ours: nothing can make the
                # statement wait, so it runs here, without a trip (module docstring).
                outcome = _run_statement(connection, operation, parameters, many)
            else:
                outcome = await self._connection._execute(
                    _run_statement, connection, operation, parameters, many
                )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("read_only", "statements_in_thread")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.statements_in_thread = False
        self.read_only = False

    def rollback(self) -> None:
        connection = self._connection._connection
        if connection is not None and not connection.in_transaction:
            return  # nothing to undo (the pool's reset after a commit): no trip
        super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's adapter does
        try:
            return OneTripConnection(self, await_(connection))
        except Exception:
            # aiosqlite stops its thread on a failed connect and the thread then answers
            # the event loop; if the loop closed first (a CLI command exiting on the
            # error), a stray traceback followed the error message. Let it finish.
            connection._thread.join(timeout=1)
            raise


class StatementsInThread(ConnectionCharacteristic):
    """The STATEMENTS_IN_THREAD execution option, kept on the DBAPI connection (where
    the cursor sees it) and reset when the connection goes back to the pool."""

    def reset_characteristic(self, dialect: Dialect, dbapi_conn: DBAPIConnection) -> None:
        dbapi_conn.statements_in_thread = False  # type: ignore[attr-defined]

    def set_characteristic(self, dialect: Dialect, dbapi_conn: DBAPIConnection, value: Any) -> None:
        dbapi_conn.statements_in_thread = bool(value)  # type: ignore[attr-defined]

    def get_characteristic(self, dialect: Dialect, dbapi_conn: DBAPIConnection) -> Any:
        return dbapi_conn.statements_in_thread  # type: ignore[attr-defined]


class ReadOnly(ConnectionCharacteristic):
    """The READ_ONLY execution option: PRAGMA query_only on the DBAPI connection, so a
    write fails ("attempt to write a readonly database"), turned off again when the
    connection goes back to the pool, where the next user may write."""

    def reset_characteristic(self, dialect: Dialect, dbapi_conn: DBAPIConnection) -> None:
        self.set_characteristic(dialect, dbapi_conn, False)

    def set_characteristic(self, dialect: Dialect, dbapi_conn: DBAPIConnection, value: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA query_only={'ON' if value else 'OFF'}")
        cursor.close()
        dbapi_conn.read_only = bool(value)  # type: ignore[attr-defined]

    def get_characteristic(self, dialect: Dialect, dbapi_conn: DBAPIConnection) -> Any:
        return dbapi_conn.read_only  # type: ignore[attr-defined]


class OneTripDialect(SQLiteDialect_aiosqlite):
    driver = "huddle_aiosqlite"
    connection_characteristics = SQLiteDialect_aiosqlite.connection_characteristics.union(
        {STATEMENTS_IN_THREAD: StatementsInThread(), READ_ONLY: ReadOnly()}
    )
    supports_statement_cache = True
    # Server-side cursors would need a real aiosqlite cursor; nothing here streams.
    supports_server_side_cursors = False

    @classmethod
    def import_dbapi(cls) -> OneTripDBAPI:  # type: ignore[override]
        return OneTripDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register("sqlite.huddle_aiosqlite", __name__, "OneTripDialect")
