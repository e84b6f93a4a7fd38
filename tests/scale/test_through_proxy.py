"""The deployment as users meet it: two instances behind nginx over TLS, on a PostgreSQL
and a Redis of the test's own, while things break. Through the proxy: messages cross
instances; `kill -9` of an instance, a Redis restart and a PostgreSQL restart, each in
the middle of a burst of sends, lose no acknowledged message and store none twice, and
every client, once resumed, has the complete sequence."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from itertools import cycle

import httpx
import pytest

from tests.scale.conftest import Cluster
from tests.scale.traffic import (
    Endpoint,
    Sender,
    assert_nothing_lost_or_doubled,
    new_patient_thread,
    sign_in,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

STAFF = ("care@example.org", "pcp@example.org", "psych@example.org")  # Maria's care team
CLIENTS, SENDS_EACH = 6, 15
PROBE_TIMEOUT_SECONDS = 30.0
BURST_SECONDS = 90.0


async def connected_senders(endpoint: Endpoint, count: int) -> list[Sender]:
    tokens = [await sign_in(endpoint, email) for email in STAFF]
    conversation = await new_patient_thread(endpoint, tokens[0])
    senders = [
        Sender(endpoint, f"client{n}", token, conversation)
        for n, token in zip(range(count), cycle(tokens), strict=False)
    ]
    for sender in senders:
        await sender.connect()
    return senders


async def burst_with(
    senders: list[Sender], fault: Callable[[], Awaitable[None]], *, after_acks: int
) -> None:
    """Every sender sends SENDS_EACH messages; `fault` runs once `after_acks` have been
    acknowledged, while the others keep sending."""

    faults: list[asyncio.Task[None]] = []

    async def send_all(sender: Sender) -> None:
        for n in range(SENDS_EACH):
            await sender.send_until_acked(f"{sender.name} message {n}")
            if not faults and sum(len(s.acked) for s in senders) >= after_acks:
                faults.append(asyncio.create_task(fault()))

    try:
        await asyncio.wait_for(asyncio.gather(*(send_all(s) for s in senders)), BURST_SECONDS)
    except TimeoutError:
        progress = {s.name: (len(s.acked), s.reconnects) for s in senders}
        raise AssertionError(f"burst unfinished; (acked, reconnects): {progress}") from None
    assert faults, "the burst ended before the fault"
    await asyncio.wait_for(faults[0], timeout=60)


async def readiness(server_url: str) -> tuple[int, str]:
    async with httpx.AsyncClient(base_url=server_url, timeout=5) as http:
        response = await http.get("/ready")
    return response.status_code, response.text


async def until_readiness(cluster: Cluster, status: int) -> list[str]:
    """Poll every instance's /ready (directly, not through the proxy) until all answer
    `status`; their answers."""
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    while True:
        answers = [await readiness(server.base_url) for server in cluster.servers]
        if all(code == status for code, _ in answers):
            return [text for _, text in answers]
        assert time.monotonic() < deadline, f"/ready never all {status}: {answers}"
        await asyncio.sleep(0.1)


def same_processes(cluster: Cluster) -> list[int]:
    assert all(s.process and s.process.poll() is None for s in cluster.servers)
    return [s.process.pid for s in cluster.servers if s.process]


async def test_messages_cross_instances_through_the_proxy(cluster: Cluster) -> None:
    senders = await connected_senders(cluster.endpoint, 4)
    await senders[0].send_until_acked("across instances")
    seq = senders[0].acked.popitem()[1]
    for sender in senders[1:]:
        await asyncio.wait_for(sender.receive_until(seq), 10)
    for sender in senders:
        await sender.drop()
    # nginx balanced the four sockets over both instances (least_conn): so some message
    # went from one instance to sockets on the other.
    deadline = time.monotonic() + 10
    while True:
        lines = cluster.nginx.access_log.read_text().splitlines()
        upstreams = {json.loads(line)["upstream"] for line in lines if '"path":"/ws"' in line}
        if len(upstreams) == 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert upstreams == {f"127.0.0.1:{s.env['HUDDLE_PORT']}" for s in cluster.servers}


async def test_kill_9_of_an_instance_during_a_burst_loses_and_doubles_nothing(
    cluster: Cluster,
) -> None:
    victim, survivor = cluster.servers
    senders = await connected_senders(cluster.endpoint, CLIENTS)

    async def kill() -> None:
        victim.kill()

    try:
        await burst_with(senders, kill, after_acks=CLIENTS * SENDS_EACH // 3)
        await assert_nothing_lost_or_doubled(cluster.endpoint, senders, CLIENTS * SENDS_EACH)
        assert sum(s.reconnects for s in senders) > 0  # the kill did cut clients off
        assert survivor.process is not None
        assert survivor.process.poll() is None
    finally:
        victim.start()  # the next test gets both instances again
        victim.wait_until_ready()


async def test_a_redis_restart_during_traffic_loses_and_doubles_nothing(cluster: Cluster) -> None:
    pids = same_processes(cluster)
    senders = await connected_senders(cluster.endpoint, CLIENTS)

    async def restart_redis() -> None:
        cluster.redis.stop()
        for answer in await until_readiness(cluster, 503):
            assert "event bus" in answer
        cluster.redis.start()
        await until_readiness(cluster, 200)  # they reconnect by themselves

    await burst_with(senders, restart_redis, after_acks=CLIENTS * SENDS_EACH // 4)
    await assert_nothing_lost_or_doubled(cluster.endpoint, senders, CLIENTS * SENDS_EACH)
    assert same_processes(cluster) == pids


async def test_a_postgres_restart_during_traffic_loses_and_doubles_nothing(
    cluster: Cluster,
) -> None:
    pids = same_processes(cluster)
    senders = await connected_senders(cluster.endpoint, CLIENTS)

    async def restart_postgres() -> None:
        await asyncio.to_thread(cluster.postgres.stop)
        for answer in await until_readiness(cluster, 503):
            assert "database is not reachable" in answer
        await asyncio.to_thread(cluster.postgres.start)
        await until_readiness(cluster, 200)  # recovered without a restart

    await burst_with(senders, restart_postgres, after_acks=CLIENTS * SENDS_EACH // 4)
    await assert_nothing_lost_or_doubled(cluster.endpoint, senders, CLIENTS * SENDS_EACH)
    assert same_processes(cluster) == pids
