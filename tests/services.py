"""Which external services the suite can reach, and what to do when one is missing.

Locally a missing PostgreSQL, Redis or Chromium skips those tests with a plain reason; with
HUDDLE_TEST_REQUIRE_SERVICES=1 (as .ci/run sets) a missing service fails them instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import asyncpg
import pytest
import redis

REQUIRED = os.environ.get("HUDDLE_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "HUDDLE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HUDDLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("HUDDLE_TEST_CHROMIUM", "/usr/bin/chromium")


def run_sync(func: Any, *args: Any) -> Any:
    """Run blocking or asyncio.run-using code off the test's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(func, *args).result()


def plain_postgres_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@cache
def postgres_problem() -> str | None:
    """None if PostgreSQL answers at POSTGRES_URL, else why not."""

    async def probe() -> None:
        connection = await asyncpg.connect(plain_postgres_dsn(POSTGRES_URL), timeout=3)
        await connection.close()

    try:
        run_sync(asyncio.run, probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL not reachable at HUDDLE_TEST_POSTGRES_URL ({type(exc).__name__})"
    return None


@cache
def redis_problem() -> str | None:
    """None if Redis answers at REDIS_URL, else why not."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except (OSError, redis.RedisError) as exc:
        return f"Redis not reachable at HUDDLE_TEST_REDIS_URL ({type(exc).__name__})"
    finally:
        client.close()
    return None


def chromium_problem() -> str | None:
    if shutil.which(CHROMIUM) is None:
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    return None


def skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)
