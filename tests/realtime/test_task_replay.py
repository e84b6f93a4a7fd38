"""A resume far behind on tasks is told to re-read its worklist instead of being sent the
organization's task history: a real server with a small replay limit
(HUDDLE_WS_TASK_REPLAY), real `websockets` clients, on SQLite with the in-memory bus and
on PostgreSQL with Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.live_server import ServerProcess
from tests.realtime.conftest import Client, clients_of, maria_id, serve_demo

REPLAY_LIMIT = 10  # the smallest HUDDLE_WS_TASK_REPLAY allowed


@pytest.fixture(scope="module", params=["sqlite", "postgresql+redis"])
def capped_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from serve_demo(
        request.param,
        tmp_path_factory.mktemp("task-replay"),
        HUDDLE_WS_TASK_REPLAY=str(REPLAY_LIMIT),
    )


@pytest.fixture
async def clients(capped_server: ServerProcess) -> AsyncIterator[Callable[..., Any]]:
    async for make in clients_of(capped_server):
        yield make


async def make_tasks(pcp: Client, count: int) -> list[dict[str, Any]]:
    """`count` tasks of the PCP's own about Maria, each with a title of this run."""
    patient_id = await maria_id(pcp)
    made = []
    for n in range(count):
        response = await pcp.api(
            "POST",
            "/api/v1/tasks",
            json={"patient_id": patient_id, "title": f"Recheck BP {uuid.uuid4().hex[:6]} #{n}"},
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    return made


async def resume_tasks(client: Client, cursor: int) -> list[dict[str, Any]]:
    """Send `resume` with this task cursor; the frames up to and including `resumed`."""
    client.frames.clear()
    await client.send({"type": "resume", "tasks": cursor})
    await client.next("resumed")
    return list(client.frames)


def task_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"].startswith("task.")]


async def test_a_resume_further_behind_than_the_limit_is_told_to_reset(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients("pcp@example.org")
    before = (await pcp.connect())["tasks"]
    await pcp.close()
    made = await make_tasks(pcp, REPLAY_LIMIT + 1)
    newest = made[-1]["revision"]

    await pcp.connect()
    for cursor in (before, 0):  # a day offline; a client that never had a cursor
        frames = await resume_tasks(pcp, cursor)
        # One frame that says "re-read your worklist", not a frame per task.
        assert [frame["type"] for frame in frames] == ["tasks.reset", "resumed"]
        assert frames[0]["revision"] == frames[1]["tasks"] == newest

    # The client re-reads its worklist over REST and has every task.
    mine = await pcp.api("GET", "/api/v1/tasks", params={"assignee": "me", "limit": 100})
    listed = {task["id"] for task in mine.json()["tasks"]}
    assert {task["id"] for task in made} <= listed
    # And follows live from the reset revision.
    accepted = await pcp.api(
        "POST", f"/api/v1/tasks/{made[0]['id']}/status", json={"status": "accepted"}
    )
    assert accepted.status_code == 200, accepted.text
    live = await pcp.next("task.updated")
    assert live["task"]["id"] == made[0]["id"]
    assert live["revision"] == accepted.json()["revision"] > newest


async def test_a_resume_up_to_the_limit_behind_is_replayed_task_by_task(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients("pcp@example.org")
    before = (await pcp.connect())["tasks"]
    await pcp.close()
    made = await make_tasks(pcp, REPLAY_LIMIT)

    await pcp.connect()
    frames = await resume_tasks(pcp, before)
    assert "tasks.reset" not in [frame["type"] for frame in frames]
    replayed = task_frames(frames)
    assert [frame["task"]["id"] for frame in replayed] == [task["id"] for task in made]
    assert {frame["type"] for frame in replayed} == {"task.created"}
    assert frames[-1]["tasks"] == made[-1]["revision"]


async def test_a_task_cursor_the_server_never_issued_is_reset_to_the_current_one(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients("pcp@example.org")
    current = (await pcp.connect())["tasks"]
    frames = await resume_tasks(pcp, 10**12)
    assert [frame["type"] for frame in frames] == ["tasks.reset", "resumed"]
    assert frames[0]["revision"] == frames[1]["tasks"] == current

    # Not stuck behind a cursor from the future: the next change arrives live.
    (task,) = await make_tasks(pcp, 1)
    live = await pcp.next("task.created")
    assert live["task"]["id"] == task["id"]
