"""The same machine's ceilings, measured in every run so Huddle's figures can be read as
ratios: a bare Litestar WebSocket relay under uvicorn, and raw insert loops (one commit
per row) through sqlite3, SQLAlchemy + aiosqlite (Huddle's engine settings) and asyncpg.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import LargeBinary
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.clients import Crew, SocketSpec, hold_sockets, relay_messages
from bench.databases import scratch_postgres
from bench.options import Sizes
from bench.scenarios import WARM_UP_SOCKETS
from bench.servers import Served, free_port, relay_command, serving
from bench.stats import latency_summary, percentile
from huddle.db import Database

BODY = os.urandom(256)  # about one sealed message
DRAIN_TIMEOUT_SECONDS = 30.0
SETUP_TIMEOUT_SECONDS = 600.0
POOL_CONCURRENCY = 20


# ------------------------------------------------------------------------ relay


def relay(sizes: Sizes, work_dir: Path) -> dict[str, Any]:
    """Paced latency and flood throughput over rooms shaped like the conversations,
    then idle sockets' memory, on the bare relay."""
    port = free_port()
    env = {**os.environ, "BENCH_PORT": str(port)}
    rooms = [f"room{i}" for i in range(sizes.conversations)]
    joined: list[list[str]] = [[] for _ in range(sizes.senders)]
    for i, room in enumerate(rooms):
        for k in range(sizes.members):
            joined[(i + k) % sizes.senders].append(room)
    specs = [SocketSpec(json.dumps({"type": "join", "rooms": mine})) for mine in joined]
    with serving(relay_command(port), env, work_dir / "relay.log", "/") as served:
        url = served.ws_url
        paced = _relay_run(url, specs, rooms, sizes.seconds, sizes.rate, sizes.members)
        flood = _relay_run(url, specs, rooms, max(1.0, sizes.seconds / 2), None, sizes.members)
    # A fresh process for each memory figure: freed memory reused from an earlier
    # measurement would make the later one look smaller.
    with serving(relay_command(port), env, work_dir / "relay.log", "/") as served:
        idle = _idle_sockets(served, sizes, deflate=True)
    with serving(relay_command(port), env, work_dir / "relay.log", "/") as served:
        plain = _idle_sockets(served, sizes, deflate=False)
    return {
        "paced": {k: v for k, v in paced.items() if k != "latencies"},
        "latencies": paced["latencies"],
        "deliveries_per_second": flood["deliveries_per_second"],
        **idle,
        "kib_per_idle_socket_without_deflate": plain["kib_per_idle_socket"],
    }


def _idle_sockets(served: Served, sizes: Sizes, *, deflate: bool) -> dict[str, Any]:
    """RSS growth per idle socket, with or without permessage-deflate offered."""
    spec = SocketSpec(json.dumps({"type": "join", "rooms": []}), deflate=deflate)
    warm_up = Crew()  # as in scenario (d): one-off costs are not per socket
    warm_up.start(hold_sockets, served.ws_url, [spec] * WARM_UP_SOCKETS)
    warm_up.wait_ready(SETUP_TIMEOUT_SECONDS)
    warm_up.stop()
    warm_up.results(SETUP_TIMEOUT_SECONDS)
    rss_before = served.rss_kib()
    idle = Crew()
    try:
        parts = max(1, -(-sizes.idle_sockets // 2_500))
        for i in range(parts):
            idle.start(
                hold_sockets, served.ws_url, [spec] * len(range(i, sizes.idle_sockets, parts))
            )
        began = time.monotonic()
        opened = sum(r["opened"] for r in idle.wait_ready(SETUP_TIMEOUT_SECONDS))
        open_seconds = time.monotonic() - began
        time.sleep(min(2.0, sizes.seconds))
        rss_after = served.rss_kib()
    finally:
        idle.close()
    return {
        "idle_sockets_open": opened,
        "open_seconds": round(open_seconds, 2),
        "kib_per_idle_socket": round((rss_after - rss_before) / opened, 1) if opened else None,
    }


def _relay_run(
    url: str,
    specs: list[SocketSpec],
    rooms: list[str],
    seconds: float,
    rate: float | None,
    members: int,
) -> dict[str, Any]:
    receivers, sender = Crew(), Crew()
    try:
        receivers.start(hold_sockets, url, specs)
        sender.start(relay_messages, url, rooms, seconds, rate)
        receivers.wait_ready(SETUP_TIMEOUT_SECONDS)
        sender.wait_ready(SETUP_TIMEOUT_SECONDS)
        began = time.monotonic()
        sender.go()
        [sent] = sender.results(seconds + 120)
        expected = sent["sent"] * members
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while receivers.signals.delivered.value < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        elapsed = time.monotonic() - began
        delivered = receivers.signals.delivered.value
        receivers.stop()
        latencies = [x for r in receivers.results(SETUP_TIMEOUT_SECONDS) for x in r["latencies"]]
    finally:
        receivers.close()
        sender.close()
    return {
        "messages": sent["sent"],
        "deliveries": delivered,
        "deliveries_per_second": round(delivered / elapsed, 1),
        "delivery": latency_summary(latencies),
        "latencies": latencies,
    }


# ---------------------------------------------------------------------- inserts


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "bench_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)


def inserts(sqlite_dir: Path, postgres_url: str | None, seconds: float) -> dict[str, Any]:
    """Rows a second (and commit p50) with one commit per row."""
    found = {
        "sqlite3": _sqlite3_loop(sqlite_dir / "raw.db", seconds),
        "sqlalchemy_aiosqlite": asyncio.run(
            _orm_loop(f"sqlite+aiosqlite:///{sqlite_dir / 'orm.db'}", seconds)
        ),
    }
    if postgres_url:
        found.update(asyncio.run(_postgres_loops(postgres_url, seconds)))
    return found


def _sqlite3_loop(path: Path, seconds: float) -> dict[str, Any]:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    latencies = []
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO bench_rows (body) VALUES (?)", (BODY,))
            connection.execute("COMMIT")
            latencies.append(time.perf_counter() - began)
    finally:
        connection.close()
    return _rates(latencies, seconds, 1)


async def _orm_loop(url: str, seconds: float) -> dict[str, Any]:
    database = Database(url)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(_Base.metadata.create_all)

        async def one() -> None:
            async with database.transaction() as session:
                session.add(_Row(body=BODY))

        return await _async_loop(one, seconds, 1)
    finally:
        await database.dispose()


async def _postgres_loops(admin_url: str, seconds: float) -> dict[str, Any]:
    async with scratch_postgres(admin_url) as url:
        plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        pool = await asyncpg.create_pool(
            plain, min_size=POOL_CONCURRENCY, max_size=POOL_CONCURRENCY
        )
        try:
            await pool.execute(
                "CREATE TABLE bench_rows (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)"
            )

            async def one() -> None:
                await pool.execute("INSERT INTO bench_rows (body) VALUES ($1)", BODY)

            found = {
                "asyncpg": await _async_loop(one, seconds, 1),
                f"asyncpg_x{POOL_CONCURRENCY}": await _async_loop(one, seconds, POOL_CONCURRENCY),
            }
        finally:
            await pool.close()
        found["sqlalchemy_asyncpg"] = await _orm_loop(url, seconds)
        return found


async def _async_loop(
    work: Callable[[], Awaitable[None]], seconds: float, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            await work()
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return _rates(latencies, seconds, concurrency)


def _rates(latencies: list[float], seconds: float, concurrency: int) -> dict[str, Any]:
    p50 = percentile(latencies, 0.5)
    return {
        "concurrency": concurrency,
        "rows_per_second": round(len(latencies) / seconds, 1),
        "commit_p50_ms": round(p50 * 1000, 3) if p50 is not None else None,
    }
