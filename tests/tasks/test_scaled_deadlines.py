"""Two `huddle serve` processes on one PostgreSQL database (and one Redis), both running
the deadline job: every unaccepted warm handoff escalates exactly once, and the PCP,
connected to one instance, hears of escalations the other instance made."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.live_server import ServerProcess, another_port, load_demo, scaled_environment
from tests.realtime.conftest import MARIA, Client
from tests.services import plain_postgres_dsn

HANDOFFS = 12
DEADLINE_SECONDS = 60.0


@pytest.fixture(scope="module")
def two_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    home: Path = tmp_path_factory.mktemp("deadlines")
    with scaled_environment(home) as env:
        load_demo(env)
        servers = [
            ServerProcess(env, home / "a.log"),
            ServerProcess(another_port(env), home / "b.log"),
        ]
        try:
            for server in servers:
                server.start()
                server.wait_until_ready()
            yield servers
        finally:
            for server in servers:
                server.stop()


async def make_due_now(database_url: str, task_ids: list[str]) -> None:
    """Move the handoffs' due time into the past in the shared database, rather than
    waiting out the smallest window (a minute) in real time."""
    connection = await asyncpg.connect(plain_postgres_dsn(database_url))
    try:
        await connection.execute(
            "UPDATE tasks SET due_at = now() - interval '1 second' WHERE id = ANY($1::uuid[])",
            [uuid.UUID(task_id) for task_id in task_ids],
        )
    finally:
        await connection.close()


async def test_each_unaccepted_handoff_escalates_once_across_instances(
    two_instances: list[ServerProcess],
) -> None:
    a, b = two_instances
    pcp = await Client(a, "pcp@example.org").sign_in()
    await pcp.connect()
    patient = (await pcp.api("GET", "/api/v1/patients", params={"mrn": MARIA})).json()
    maria = patient["patients"][0]["id"]
    made = []
    for _ in range(HANDOFFS):
        response = await pcp.api(
            "POST",
            "/api/v1/tasks/warm-handoffs",
            json={"patient_id": maria, "due_in_minutes": 1},
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    first_consultants = {task["assignee_user_id"] for task in made}
    assert len(first_consultants) == 1
    ids = [task["id"] for task in made]
    await make_due_now(a.env["HUDDLE_DATABASE_URL"], ids)

    escalated: dict[str, dict] = {}  # type: ignore[type-arg]
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(escalated) < HANDOFFS:
        assert time.monotonic() < deadline, f"escalated {len(escalated)} of {HANDOFFS} in time"
        frame = await pcp.next("task.assigned")
        if frame["task"]["id"] in ids:
            escalated[frame["task"]["id"]] = frame["task"]
    assert all(task["escalations"] == 1 for task in escalated.values())
    assert not {task["assignee_user_id"] for task in escalated.values()} & first_consultants

    await asyncio.sleep(6)  # one more pass of each instance's job (every 5 s)
    checker = await Client(b, "pcp@example.org").sign_in()
    for task_id in ids:
        task = (await checker.api("GET", f"/api/v1/tasks/{task_id}")).json()
        changes = [entry["change"] for entry in task["history"]]
        assert changes == ["created", "escalated"], changes
    await pcp.close()
