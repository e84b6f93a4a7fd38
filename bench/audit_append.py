"""How audited work scales: throughput and latency of transactions that each append one
audit event (what every PHI read does), against the same transactions without it.

    .venv/bin/python -m bench.audit_append [--postgres URL] [--seconds 5]

Runs on a scratch SQLite file and, when given, a scratch PostgreSQL database (created and
dropped here). Bounded in time; talks only to the local database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench.databases import scratch_postgres
from huddle import migrate
from huddle.db import Database
from huddle.protect import audit
from huddle.protect.audit import Action, AuditRecord
from huddle.protect.models import AuditChainHead

CONCURRENCY = (1, 8, 32)


async def audited(database: Database) -> None:
    async with database.transaction() as db:
        record = AuditRecord(Action.READ, "patient", str(uuid.uuid4()), patient_id=uuid.uuid4())
        await audit.append(db, [record], datetime.now(UTC))


async def unaudited(database: Database) -> None:
    async with database.transaction() as db:
        await db.execute(select(AuditChainHead.seq))


async def measure(
    database: Database, work: Callable[[Database], Awaitable[None]], workers: int, seconds: float
) -> tuple[float, float, float]:
    """(operations per second, p50 ms, p95 ms) over `seconds` with `workers` in parallel."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await work(database)
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=20)
    return len(latencies) / elapsed, cuts[9] * 1000, cuts[18] * 1000


async def run(url: str, label: str, seconds: float) -> None:
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(url)
    try:
        for workers in CONCURRENCY:
            for name, work in (("audited", audited), ("no audit", unaudited)):
                rate, p50, p95 = await measure(database, work, workers, seconds)
                print(
                    f"{label:<10} {workers:>3} workers  {name:<9} {rate:8.0f} tx/s   "
                    f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms",
                    flush=True,
                )
    finally:
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", help="an admin URL, e.g. postgresql+asyncpg://postgres@127.0.0.1/test"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        await run(f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}", "sqlite", args.seconds)
    if args.postgres:
        async with scratch_postgres(args.postgres) as url:
            await run(url, "postgresql", args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
