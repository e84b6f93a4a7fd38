"""Scratch databases for a run: a SQLite file in a temporary directory, or a fresh
PostgreSQL database (created and dropped here) when the server is reachable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
import redis.asyncio as redis

CONNECT_TIMEOUT_SECONDS = 3.0


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def postgres_problem(admin_url: str) -> str | None:
    """None if PostgreSQL answers at `admin_url`, else why not."""
    try:
        connection = await asyncpg.connect(_plain(admin_url), timeout=CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {admin_url}: {type(exc).__name__}"
    await connection.close()
    return None


async def redis_problem(url: str) -> str | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        return f"Redis at {url}: {type(exc).__name__}"
    finally:
        await client.aclose()
    return None


async def _create(admin_url: str) -> tuple[str, str]:
    name = f"huddle_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(_plain(admin_url))
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


async def _drop(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(_plain(admin_url))
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


@asynccontextmanager
async def scratch_postgres(admin_url: str) -> AsyncIterator[str]:
    """The URL of a new, empty database next to `admin_url`'s, dropped afterwards."""
    url, name = await _create(admin_url)
    try:
        yield url
    finally:
        await _drop(admin_url, name)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """`scratch_postgres` for synchronous callers."""
    url, name = asyncio.run(_create(admin_url))
    try:
        yield url
    finally:
        asyncio.run(_drop(admin_url, name))


def reachable(admin_url: str | None, redis_url: str) -> str | None:
    """None when both PostgreSQL and Redis answer, else the first problem."""
    if not admin_url:
        return "no PostgreSQL URL given"

    async def check() -> str | None:
        return await postgres_problem(admin_url) or await redis_problem(redis_url)

    return asyncio.run(check())
