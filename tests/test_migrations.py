"""Migrations run from empty to head and back to base, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing

import pytest
from sqlalchemy import inspect

import huddle.models  # noqa: F401  (every table on Base.metadata)
from huddle import migrate
from huddle.db import Base, create_engine
from tests.services import run_sync


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_upgrade_from_empty_then_downgrade_to_base(empty_database_factory, backend) -> None:  # type: ignore[no-untyped-def]
    url = empty_database_factory(backend)
    run_sync(migrate.upgrade, url)
    engine = create_engine(url)
    try:
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= await table_names(url)

    run_sync(migrate.downgrade, url)
    assert await table_names(url) <= {"alembic_version"}

    run_sync(migrate.upgrade, url)  # and up again, as after a rollback
    assert set(Base.metadata.tables) <= await table_names(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_models_and_migrations_agree(empty_database_factory, backend) -> None:  # type: ignore[no-untyped-def]
    """No model change without its migration: autogenerate finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = empty_database_factory(backend)
    run_sync(migrate.upgrade, url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []


def test_0012_keeps_task_history_and_stops_on_a_row_naming_no_user(empty_database_factory) -> None:  # type: ignore[no-untyped-def]
    """The task_events.assignee_user_id foreign key over existing history: rows naming a
    user are kept; one naming nobody (only a hand-edited database has one) stops the
    upgrade before it changes anything. SQLite, where such a row can be written."""
    url = empty_database_factory("sqlite")
    run_sync(migrate.upgrade, url, "0011")
    path = url.removeprefix("sqlite+aiosqlite:///")
    user, nobody = uuid.uuid4().hex, uuid.uuid4().hex
    event = (
        "INSERT INTO task_events (id, task_id, revision, change, assignee_user_id, at)"
        " VALUES (?, ?, 1, 'created', ?, '2026-11-28 19:00:00.000000')"
    )
    with closing(sqlite3.connect(path)) as db, db:  # foreign keys off: as an old file may be
        db.execute(
            "INSERT INTO users (id, organization_id, email, display_name, role, password_hash,"
            " password_changed_at, is_active, created_at) VALUES (?, ?, 'a@b.test', 'A', 'pcp',"
            " 'x', '2026-11-28 19:00:00.000000', 1, '2026-11-28 19:00:00.000000')",
            (user, uuid.uuid4().hex),
        )
        db.execute(event, (uuid.uuid4().hex, uuid.uuid4().hex, user))
        db.execute(event, ("orphan", uuid.uuid4().hex, nobody))

    with pytest.raises(RuntimeError, match="1 rows have an assignee_user_id that names no user"):
        run_sync(migrate.upgrade, url)
    with closing(sqlite3.connect(path)) as db, db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0011",)]
        db.execute("DELETE FROM task_events WHERE id = 'orphan'")

    run_sync(migrate.upgrade, url)
    with closing(sqlite3.connect(path)) as db, db:
        assert db.execute("SELECT assignee_user_id FROM task_events").fetchall() == [(user,)]
        keys = db.execute("PRAGMA foreign_key_list(task_events)").fetchall()
        assert ("users", "assignee_user_id", "id") in [(k[2], k[3], k[4]) for k in keys]
