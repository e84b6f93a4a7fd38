"""Command-line options: which scenarios, how big, how long. Three presets (full, quick,
tiny); any size can be overridden on its own."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = "abcdefg"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class Sizes:
    seconds: float = 10.0  # each timed scenario
    senders: int = 20  # (b): concurrent senders; also the users taking part in threads
    conversations: int = 100
    members: int = 3  # per conversation
    rate: float = 200.0  # (c), (e): messages a second, paced
    idle_sockets: int = 10_000  # (d)
    active_sockets: int = 1_000  # (d): sockets of the conversation users, during traffic
    active_rate: float = 5.0  # (d): messages a second while the idle sockets are open
    idle_users: int = 20  # (d): users whose sockets hear nothing
    resume_clients: int = 1_000  # (f)
    outage_messages: int = 200  # (f): sent while the clients are away
    storm_accounts: int = 20  # (e)
    storm_concurrency: int = 8  # (e): sign-ins in flight at once
    patients: int = 20


PRESETS = {
    "full": Sizes(),
    "quick": Sizes(
        seconds=4.0, idle_sockets=1_000, active_sockets=100, resume_clients=200,
        outage_messages=100, idle_users=5,
    ),
    "tiny": Sizes(
        seconds=1.0, senders=4, conversations=8, rate=20.0, idle_sockets=20, active_sockets=8,
        active_rate=4.0, idle_users=2, resume_clients=8, outage_messages=8, storm_accounts=2,
        storm_concurrency=2, patients=2,
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Options:
    scenarios: str
    sizes: Sizes
    mode: str
    postgres: str | None
    redis: str
    sqlite: bool
    ceilings: bool
    profile: bool
    deflate: bool
    output: Path


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure Huddle end to end (real server, real clients) with the same "
        "machine's ceilings; print one table and write a JSON file.",
    )
    parser.add_argument("--mode", choices=sorted(PRESETS), default="full", help="size preset")
    parser.add_argument("--quick", action="store_const", const="quick", dest="mode")
    parser.add_argument("--tiny", action="store_const", const="tiny", dest="mode")
    parser.add_argument(
        "--scenarios", default=SCENARIOS, help=f"any of {SCENARIOS!r} (default: all)"
    )
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="admin URL; a scratch database is made"
    )
    parser.add_argument("--no-postgres", action="store_const", const=None, dest="postgres")
    parser.add_argument("--no-sqlite", action="store_false", dest="sqlite")
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--no-ceilings", action="store_false", dest="ceilings")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="py-spy the server during (b) and (c) (default: on when py-spy is installed, "
        "off in tiny mode)",
    )
    parser.add_argument(
        "--no-deflate",
        action="store_false",
        dest="deflate",
        help="(d)'s idle sockets do not offer permessage-deflate",
    )
    parser.add_argument(
        "--output", type=Path, default=Path("bench/results"), help="directory for the JSON"
    )
    for size in dataclasses.fields(Sizes):
        parser.add_argument(
            "--" + size.name.replace("_", "-"), type=type(size.default), dest=size.name
        )
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {''.join(sorted(unknown))}")
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Sizes)
        if getattr(args, f.name) is not None
    }
    sizes = dataclasses.replace(PRESETS[args.mode], **overrides)
    if sizes.members > sizes.senders:
        parser.error("--members must not exceed --senders (the users taking part)")
    return Options(
        scenarios="".join(s for s in SCENARIOS if s in args.scenarios),
        sizes=sizes,
        mode=args.mode,
        postgres=args.postgres,
        redis=args.redis,
        sqlite=args.sqlite,
        ceilings=args.ceilings,
        profile=args.profile if args.profile is not None else args.mode != "tiny",
        deflate=args.deflate,
        output=args.output,
    )
