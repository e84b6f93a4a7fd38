"""`python -m bench` (make bench): start Huddle as a real `huddle serve` on SQLite, and on
a scratch PostgreSQL database with Redis when both answer; seed a clinic; run the
scenarios with client processes; measure the ceilings; print one table and write
bench/results/<time>.json (plus .md and a latency histogram .svg)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ceilings, scenarios
from bench.clients import raise_fd_limit
from bench.databases import postgres_database, reachable
from bench.options import Options, parse
from bench.report import load_average, machine, write
from bench.seed import seed
from bench.servers import huddle_command, huddle_environment, prepare_huddle, py_spy, serving
from huddle.config import load_settings

# (d) first: its memory per socket is only right on a server that has no memory freed
# by earlier scenarios to reuse. (g) reads (b)'s profile.
ORDER = "dabgcef"
SCENARIOS: dict[str, tuple[str, Callable[[scenarios.Stage, dict[str, Any]], dict[str, Any]]]] = {
    "a": ("sequential sends", lambda stage, _: scenarios.sequential(stage)),
    "b": ("concurrent senders", lambda stage, _: scenarios.concurrent(stage)),
    "g": ("audit chain cost", lambda stage, run: scenarios.audit_cost(stage, run.get("b"))),
    "c": ("paced delivery latency", lambda stage, _: scenarios.paced(stage)),
    "e": ("delivery during a sign-in storm", lambda stage, _: scenarios.storm(stage)),
    "f": ("resume after a mass disconnect", lambda stage, _: scenarios.resume(stage)),
    "d": ("idle sockets", lambda stage, _: scenarios.idle_sockets(stage)),
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_huddle(
    options: Options, home: Path, database_url: str, redis_url: str | None
) -> dict[str, Any]:
    sizes = options.sizes
    home.mkdir(parents=True)
    env = huddle_environment(home, database_url, redis_url)
    began = time.monotonic()
    prepare_huddle(env)
    clinic = asyncio.run(
        seed(
            load_settings(env),
            users=sizes.senders,
            idle_users=sizes.idle_users,
            storm_accounts=sizes.storm_accounts,
            conversation_count=sizes.conversations,
            members=sizes.members,
            patients=sizes.patients,
        )
    )
    run: dict[str, Any] = {"setup_seconds": round(time.monotonic() - began, 1)}
    with serving(huddle_command(), env, home / "server.log", "/health") as served:
        stage = scenarios.Stage(
            served,
            clinic,
            sizes,
            database_url,
            home,
            profile=options.profile and bool(py_spy()),
            deflate=options.deflate,
        )
        run["server_rss_kib_start"] = served.rss_kib()
        for letter in (s for s in ORDER if s in options.scenarios):
            name, scenario = SCENARIOS[letter]
            say(f"  ({letter}) {name} (load {load_average()})")
            began = time.monotonic()
            try:
                run[letter] = scenario(stage, run)
                run[letter]["wall_seconds"] = round(time.monotonic() - began, 1)
            except Exception as exc:  # one broken scenario must not lose the others
                say(f"  ({letter}) failed: {exc!r}")
                run[letter] = {"error": repr(exc)}
        run["server_rss_kib_end"] = served.rss_kib()
    run["server_log_problems"] = log_problems(home / "server.log")
    return run


def log_problems(log: Path) -> dict[str, int]:
    """Warnings and errors in the server's JSON log, counted by logger, message and
    error type (the scratch directory and its log go when the run ends)."""
    found: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("WARNING", "ERROR"):
            error = entry.get("error") or {}
            kind = error.get("type", "") if isinstance(error, dict) else ""
            found[f"{entry['level']} {entry.get('logger')}: {entry.get('msg')} {kind}".strip()] += 1
    return dict(found.most_common(20))


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    raise_fd_limit()  # servers started from here inherit it
    results: dict[str, Any] = {
        "mode": options.mode,
        "scenarios": options.scenarios,
        "sizes": dataclasses.asdict(options.sizes),
        "machine": machine(),
        "huddle": {},
        "ceilings": {},
        "skipped": [],
    }
    postgres = options.postgres
    if postgres and (problem := reachable(postgres, options.redis)):
        say(f"PostgreSQL + Redis skipped: {problem}")
        results["skipped"].append(problem)
        postgres = None
    with tempfile.TemporaryDirectory(prefix="huddle-bench-") as scratch:
        work = Path(scratch)
        if options.sqlite:
            say("Huddle on SQLite (WAL, synchronous=FULL), in-process event bus")
            url = f"sqlite+aiosqlite:///{work / 'sqlite' / 'huddle.db'}"
            results["huddle"]["sqlite"] = run_huddle(options, work / "sqlite", url, None)
        if postgres:
            say("Huddle on PostgreSQL (scratch database) with Redis")
            with postgres_database(postgres) as url:
                results["huddle"]["postgresql"] = run_huddle(
                    options, work / "postgresql", url, options.redis
                )
        if options.ceilings:
            say("Ceilings: bare Litestar relay, raw insert loops")
            began = time.monotonic()
            if set(options.scenarios) & set("cde"):
                results["ceilings"]["relay"] = ceilings.relay(options.sizes, work)
            if set(options.scenarios) & set("ab"):
                results["ceilings"]["inserts"] = ceilings.inserts(
                    work, postgres, max(1.0, options.sizes.seconds / 2)
                )
            results["ceilings"]["wall_seconds"] = round(time.monotonic() - began, 1)
    results["machine"]["loadavg_end"] = load_average()
    path, text = write(results, options.output)
    print(text)
    print(f"\nload average {results['machine']['loadavg_start']} at the start, "
          f"{results['machine']['loadavg_end']} at the end; JSON: {path}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
