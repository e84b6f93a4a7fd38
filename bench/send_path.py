"""The send path in one process, statement by statement: `python -m bench.send_path`.

Seeds a scratch clinic (bench/seed.py), then authenticates and sends `--sends` messages
through the service functions (no HTTP), and prints sends/s, CPU per send, statements per
send and each statement's count and time. Use it to see what a change to the hot path
does before running the whole bench; `--postgres URL` runs it on a scratch PostgreSQL
database instead of SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench import seed
from bench.databases import scratch_postgres
from bench.options import DEFAULT_POSTGRES
from bench.servers import huddle_environment, prepare_huddle
from huddle.actor import RequestContext
from huddle.config import load_settings
from huddle.identity import service as identity
from huddle.messaging import service as messaging
from huddle.runtime import Runtime

WARM_UP = 20


async def measure(database_url: str, home: Path, sends: int) -> None:
    env = huddle_environment(home, database_url, None)
    prepare_huddle(env)
    settings = load_settings(env)
    clinic = await seed.seed(
        settings,
        users=3,
        idle_users=0,
        storm_accounts=0,
        conversation_count=3,
        members=3,
        patients=0,
    )
    rt = Runtime.build(settings)
    counts: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[str] = collections.Counter()
    started: dict[int, float] = {}

    @event.listens_for(rt.db.engine.sync_engine, "before_cursor_execute")
    def before(conn: Any, *_: Any) -> None:
        started[id(conn)] = time.perf_counter()

    @event.listens_for(rt.db.engine.sync_engine, "after_cursor_execute")
    def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split())[:100]
        counts[text] += 1
        seconds[text] += time.perf_counter() - started.pop(id(conn))

    person = clinic.users[0]
    conversation = uuid.UUID(clinic.conversations_of(0)[0])
    context = RequestContext(source_ip="127.0.0.1", request_id="bench-send-path")

    async def send(n: int) -> None:
        actor = (await identity.authenticate(rt, person.token, context)).actor
        draft = messaging.MessageDraft(body="x" * 200, client_msg_id=f"send-path-{n}")
        await messaging.send_message(rt, actor, conversation, draft)

    for n in range(WARM_UP):
        await send(-n - 1)
    counts.clear()
    seconds.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(sends):
        await send(n)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await rt.db.dispose()
    print(
        f"{sends / wall:.0f} sends/s; per send: {1000 * wall / sends:.2f} ms wall, "
        f"{1000 * cpu / sends:.2f} ms CPU, {sum(counts.values()) / sends:.1f} statements, "
        f"{1000 * sum(seconds.values()) / sends:.2f} ms in statements"
    )
    for text, count in sorted(counts.items(), key=lambda item: -seconds[item[0]]):
        print(f"{count / sends:5.2f} x {1000 * seconds[text] / count:6.3f} ms  {text}")


async def main(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="huddle-send-path-"))
    if args.postgres:
        async with scratch_postgres(args.postgres) as url:
            await measure(url, home, args.sends)
    else:
        await measure(f"sqlite+aiosqlite:///{home / 'huddle.db'}", home, args.sends)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=500)
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES,
        help="admin URL (default: bench's); a scratch database is made",
    )
    asyncio.run(main(parser.parse_args()))
