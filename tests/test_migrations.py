"""Migrations run from empty to head and back to base, on SQLite and PostgreSQL."""

from __future__ import annotations

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
