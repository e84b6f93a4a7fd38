"""Scenarios (a) to (g) against one running `huddle serve`. Each returns a dict of what it
measured; none asserts anything."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from bench import audit_append
from bench.clients import (
    Crew,
    Sender,
    SocketSpec,
    hold_sockets,
    huddle_auth,
    resume_after_outage,
    send_messages,
    sign_in_storm,
)
from bench.options import Sizes
from bench.seed import PASSWORD, Clinic, Person
from bench.servers import Profile, Served
from bench.stats import latency_summary
from huddle.db import Database
from huddle.protect.models import AuditEvent

SOCKETS_PER_WORKER = 2_500
WARM_UP_SOCKETS = 20
SETUP_TIMEOUT_SECONDS = 600.0
DRAIN_TIMEOUT_SECONDS = 30.0
IN_FLIGHT = 256
AUDIT_MARKER = "huddle/protect/audit.py"
T = TypeVar("T")


@dataclass
class Stage:
    served: Served
    clinic: Clinic
    sizes: Sizes
    database_url: str
    work_dir: Path
    profile: bool
    # (d)'s idle sockets offer permessage-deflate, as browsers do; off shows what the
    # server would save by not negotiating it.
    deflate: bool = True

    def senders(self, indices: range) -> list[Sender]:
        users = self.clinic.users
        return [Sender(users[i].token, self.clinic.conversations_of(i)) for i in indices]

    def all_senders(self) -> list[Sender]:
        return self.senders(range(len(self.clinic.users)))

    def server_cpu(self) -> float:
        return self.served.cpu_seconds()


def _specs(people: list[Person], count: int) -> list[SocketSpec]:
    """`count` sockets, dealt round-robin over `people`."""
    return [
        huddle_auth(p.token, p.user_id) for p in (people[i % len(people)] for i in range(count))
    ]


def _split(items: list[T], size: int = SOCKETS_PER_WORKER) -> list[list[T]]:
    parts = max(1, math.ceil(len(items) / size))
    return [items[i::parts] for i in range(parts)]


def _errors(statuses: dict[str, int], ok: str) -> int:
    return sum(n for status, n in statuses.items() if status != ok)


def _merge(results: list[dict[str, Any]], key: str) -> list[Any]:
    return [item for result in results for item in result[key]]


def _count_closes(results: list[dict[str, Any]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for result in results:
        for key in ("failed", "closed_by_server"):
            for reason, n in result.get(key, {}).items():
                merged[reason] = merged.get(reason, 0) + n
    return merged


# ------------------------------------------------------------------ (a), (b), (g)


def _send_for(stage: Stage, groups: list[list[Sender]], in_flight: int) -> dict[str, Any]:
    crew = Crew()
    for group in groups:
        crew.start(
            send_messages, stage.served.base_url, group, stage.sizes.seconds, None, in_flight
        )
    crew.wait_ready(SETUP_TIMEOUT_SECONDS)
    cpu = stage.server_cpu()
    crew.go()
    results = crew.results(stage.sizes.seconds + 120)
    cpu = stage.server_cpu() - cpu
    sent = sum(r["sent"] for r in results)
    statuses: dict[str, int] = {}
    for result in results:
        for status, n in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    elapsed = max(r["elapsed"] for r in results)
    return {
        "messages": sent,
        "messages_per_second": round(sent / elapsed, 1),
        "latency": latency_summary(_merge(results, "latencies")),
        "errors": _errors(statuses, "201"),
        "statuses": statuses,
        "server_cpu_ms_per_message": round(cpu * 1000 / sent, 2) if sent else None,
        "client_cpu_seconds": round(sum(r["client_cpu_seconds"] for r in results), 2),
    }


def sequential(stage: Stage) -> dict[str, Any]:
    """(a) one sender, one request at a time."""
    return _send_for(stage, [stage.senders(range(1))], in_flight=1)


def concurrent(stage: Stage) -> dict[str, Any]:
    """(b) every sender at once (20 by default) over all conversations, two client
    processes; no sockets open, so this is the send path alone. Also (g)'s raw data:
    audit events appended per message, and a profile of the server."""
    senders = stage.all_senders()
    audit_before = _audit_events(stage.database_url)
    profile = _profile(stage, "concurrent")
    result = _send_for(stage, [senders[0::2], senders[1::2]], in_flight=len(senders))
    audit_added = _audit_events(stage.database_url) - audit_before
    result["audit_events_per_message"] = (
        round(audit_added / result["messages"], 2) if result["messages"] else None
    )
    result["profile"] = profile.summary(AUDIT_MARKER) if profile else None
    return result


def audit_cost(stage: Stage, concurrent_result: dict[str, Any] | None) -> dict[str, Any]:
    """(g) what the hash chain costs: the share of the server's busy samples spent in
    audit.py during (b), and audited against unaudited transactions on this database
    (bench/audit_append.py's measure, one worker, the server idle)."""

    async def measure() -> tuple[float, float]:
        database = Database(stage.database_url)
        try:
            seconds = max(1.0, stage.sizes.seconds / 2)
            audited, *_ = await audit_append.measure(database, audit_append.audited, 1, seconds)
            plain, *_ = await audit_append.measure(database, audit_append.unaudited, 1, seconds)
        finally:
            await database.dispose()
        return audited, plain

    audited, plain = asyncio.run(measure())
    profile = (concurrent_result or {}).get("profile") or {}
    return {
        "audit_events_per_message": (concurrent_result or {}).get("audit_events_per_message"),
        "audit_share_of_server_samples": profile.get("marked_share"),
        "audited_tx_per_second": round(audited, 1),
        "unaudited_tx_per_second": round(plain, 1),
    }


def _audit_events(url: str) -> int:
    async def count() -> int:
        database = Database(url)
        try:
            async with database.transaction() as db:
                return int(await db.scalar(select(func.count()).select_from(AuditEvent)) or 0)
        finally:
            await database.dispose()

    return asyncio.run(count())


def _profile(stage: Stage, name: str) -> Profile | None:
    if not stage.profile:
        return None
    output = stage.work_dir / f"profile-{name}.txt"
    return Profile(stage.served.pid, stage.sizes.seconds, output)


# -------------------------------------------------------------- (c), (d), (e)


def delivery(
    stage: Stage,
    sockets: list[SocketSpec],
    rate: float,
    *,
    copies: int = 1,
    alongside: Callable[[], Crew] | None = None,
    profile_name: str | None = None,
) -> dict[str, Any]:
    """Paced sends at `rate` over all conversations for the scenario's seconds; each
    other participant's socket(s) time the arrival. `alongside` is a crew (set up,
    not yet released) that runs for the same period, e.g. a sign-in storm."""
    sizes = stage.sizes
    receivers = Crew()
    for part in _split(sockets):
        receivers.start(hold_sockets, stage.served.ws_url, part)
    senders = Crew()
    senders.start(
        send_messages, stage.served.base_url, stage.all_senders(), sizes.seconds, rate, IN_FLIGHT
    )
    extra = alongside() if alongside else None
    try:
        opened = sum(r["opened"] for r in receivers.wait_ready(SETUP_TIMEOUT_SECONDS))
        senders.wait_ready(SETUP_TIMEOUT_SECONDS)
        if extra:
            extra.wait_ready(SETUP_TIMEOUT_SECONDS)
        profile = _profile(stage, profile_name) if profile_name else None
        cpu = stage.server_cpu()
        senders.go()
        if extra:
            extra.go()
        [sent] = senders.results(sizes.seconds + 120)
        if extra:
            extra.stop()
        expected = sent["sent"] * (sizes.members - 1) * copies
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while receivers.signals.delivered.value < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu = stage.server_cpu() - cpu
        receivers.stop()
        received = receivers.results(SETUP_TIMEOUT_SECONDS)
        extra_results = extra.results(SETUP_TIMEOUT_SECONDS) if extra else []
    finally:
        for crew in (receivers, senders, extra):
            if crew:
                crew.close()
    latencies = _merge(received, "latencies")
    return {
        "sockets": opened,
        "messages": sent["sent"],
        "offered_rate": rate,
        "achieved_rate": round(sent["sent"] / sent["elapsed"], 1),
        "send_errors": _errors(sent["statuses"], "201"),
        "send_statuses": sent["statuses"],
        "deliveries_expected": expected,
        "deliveries": len(latencies),
        "delivery": latency_summary(latencies),
        "latencies": latencies,
        "socket_problems": _count_closes(received),
        "server_cpu_ms_per_message": (
            round(cpu * 1000 / sent["sent"], 2) if sent["sent"] else None
        ),
        "profile": profile.summary(AUDIT_MARKER) if profile else None,
        "alongside": extra_results,
    }


def paced(stage: Stage) -> dict[str, Any]:
    """(c) delivery latency at the paced rate, one socket per conversation user."""
    users = stage.clinic.users
    return delivery(stage, _specs(users, len(users)), stage.sizes.rate, profile_name="paced")


def storm(stage: Stage) -> dict[str, Any]:
    """(e) (c) again while storm accounts sign in over and over (default Argon2 cost)."""
    sizes = stage.sizes
    accounts = [(email, PASSWORD) for email in stage.clinic.storm_emails]

    def storm_crew() -> Crew:
        crew = Crew()
        crew.start(sign_in_storm, stage.served.base_url, accounts, sizes.storm_concurrency)
        return crew

    users = stage.clinic.users
    result = delivery(stage, _specs(users, len(users)), sizes.rate, alongside=storm_crew)
    [signed] = result.pop("alongside")
    result["sign_ins"] = signed["signed_in"]
    result["sign_ins_per_second"] = round(signed["signed_in"] / signed["elapsed"], 1)
    result["sign_in"] = latency_summary(signed["latencies"])
    result["sign_in_errors"] = _errors(signed["statuses"], "200")
    return result


def idle_sockets(stage: Stage) -> dict[str, Any]:
    """(d) many idle authenticated sockets (users in no conversation), RSS per socket
    read from /proc; then, with them open, paced traffic to the active sockets."""
    sizes = stage.sizes
    sockets = [
        dataclasses.replace(spec, deflate=stage.deflate)
        for spec in _specs(stage.clinic.idle_users, sizes.idle_sockets)
    ]
    # A few sockets first, so one-off costs (modules and code paths met on the first
    # connections) are not counted per socket; they free little for the rest to reuse.
    warm_up = Crew()
    warm_up.start(hold_sockets, stage.served.ws_url, sockets[:WARM_UP_SOCKETS])
    warm_up.wait_ready(SETUP_TIMEOUT_SECONDS)
    warm_up.stop()
    warm_up.results(SETUP_TIMEOUT_SECONDS)
    rss_before = stage.served.rss_kib()
    idle = Crew()
    try:
        for part in _split(sockets):
            idle.start(hold_sockets, stage.served.ws_url, part)
        began = time.monotonic()
        readies = idle.wait_ready(SETUP_TIMEOUT_SECONDS)
        open_seconds = time.monotonic() - began
        opened = sum(r["opened"] for r in readies)
        time.sleep(min(2.0, sizes.seconds))  # let the server settle (buffers, collections)
        rss_after = stage.served.rss_kib()
        users = stage.clinic.users
        copies = math.ceil(sizes.active_sockets / len(users))
        active = delivery(
            stage, _specs(users, len(users) * copies), sizes.active_rate, copies=copies
        )
        idle.stop()
        idle_results = idle.results(SETUP_TIMEOUT_SECONDS)
    finally:
        idle.close()
    problems = _count_closes(idle_results)
    return {
        "deflate_offered": stage.deflate,
        "idle_sockets_wanted": sizes.idle_sockets,
        "idle_sockets_open": opened,
        "open_seconds": round(open_seconds, 2),
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "kib_per_idle_socket": round((rss_after - rss_before) / opened, 1) if opened else None,
        "idle_socket_problems": problems,
        "errors": sum(problems.values())
        + sum(active["socket_problems"].values())
        + active["send_errors"],
        "active": {k: v for k, v in active.items() if k != "latencies"},
    }


# ------------------------------------------------------------------------- (f)


def resume(stage: Stage) -> dict[str, Any]:
    """(f) clients connect, all drop at once, messages are sent while they are away,
    all come back at once and resume: time until the last is caught up, and whether
    any revision is missing."""
    sizes = stage.sizes
    clients = Crew()
    outage = Crew()
    try:
        for part in _split(_specs(stage.clinic.users, sizes.resume_clients), size=500):
            clients.start(resume_after_outage, stage.served.ws_url, part)
        opened = sum(r["opened"] for r in clients.wait_ready(SETUP_TIMEOUT_SECONDS))
        clients.signals.disconnect.set()
        clients.wait_ready(SETUP_TIMEOUT_SECONDS)
        outage.start(
            send_messages,
            stage.served.base_url,
            stage.all_senders(),
            1.0,
            float(sizes.outage_messages),
            len(stage.clinic.users),
        )
        outage.wait_ready(SETUP_TIMEOUT_SECONDS)
        outage.go()
        [sent] = outage.results(SETUP_TIMEOUT_SECONDS)
        profile = _profile(stage, "resume")
        clients.signals.reconnect_at.value = time.monotonic()
        clients.signals.reconnect.set()
        results = clients.results(SETUP_TIMEOUT_SECONDS * 2)
    finally:
        clients.close()
        outage.close()
    lowest: dict[str, int] = {}
    for result in results:
        for conversation, revision in result["resumed_revisions"].items():
            lowest[conversation] = min(revision, lowest.get(conversation, revision))
    behind = sum(1 for c, rev in sent["revisions"].items() if lowest.get(c, 0) < rev)
    times = [r["last_caught_up_seconds"] for r in results if r["last_caught_up_seconds"]]
    failures = _count_closes([{"failed": r["failed"]} for r in results])
    return {
        "clients": opened,
        "caught_up": sum(r["caught_up"] for r in results),
        "outage_messages": sent["sent"],
        "seconds_until_all_caught_up": round(max(times), 3) if times else None,
        "missing_revisions": sum(r["missing"] for r in results),
        "conversations_left_behind": behind,
        "messages_replayed": sum(r["messages_replayed"] for r in results),
        "failures": failures,
        "profile": profile.summary(AUDIT_MARKER) if profile else None,
    }
