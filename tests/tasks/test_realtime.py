"""Task frames over /ws with real `websockets` clients against a real server (SQLite with
the in-memory bus, and PostgreSQL with Redis): live to everyone concerned and nobody
else, and replayed from the database on resume."""

from __future__ import annotations

from typing import Any

from tests.realtime.conftest import MARIA, Client, clients, realtime_server  # noqa: F401  (fixtures)


async def referral_thread(pcp: Client) -> str:
    """The demo's referral thread about Maria (PCP and care manager)."""
    referrals = (await pcp.api("GET", "/api/v1/referrals")).json()["referrals"]
    return referrals[-1]["conversation_id"]


async def next_about(client: Client, frame_type: str, task_id: str) -> dict[str, Any]:
    """The next `frame_type` frame about this task (other tests' tasks are skipped)."""
    while True:
        frame = await client.next(frame_type)
        if frame["task"]["id"] == task_id:
            return frame


async def system_note(client: Client) -> dict[str, Any]:
    """The first note Huddle posted about a new task (read so far or still to come)."""
    while True:
        for frame in client.frames:
            message = frame.get("message", {})
            if message.get("kind") == "system" and "made a task" in (message.get("body") or ""):
                return frame
        await client.next()


async def task_from_a_pcp_message(pcp: Client, care: Client, **body: Any) -> dict[str, Any]:
    conversation = await referral_thread(pcp)
    sent = await pcp.api(
        "POST",
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": "Maria is not sleeping; could someone call her this week?"},
    )
    assert sent.status_code == 201, sent.text
    made = await care.api(
        "POST",
        f"/api/v1/messages/{sent.json()['id']}/task",
        json={"title": "Call Maria about her sleep", "kind": "call_patient", **body},
    )
    assert made.status_code == 201, made.text
    return made.json()


async def test_the_pcp_sees_the_task_appear_live_and_again_on_resume(clients) -> None:  # noqa: F811
    pcp = await clients("pcp@example.org")
    care = await clients("care@example.org")
    ready = await pcp.connect()
    before = ready["tasks"]

    task = await task_from_a_pcp_message(pcp, care)
    live = await next_about(pcp, "task.created", task["id"])
    assert live["revision"] == task["revision"] > before
    assert live["task"]["title"] == "Call Maria about her sleep"
    assert live["task"]["source_message_id"] == task["source_message_id"]
    # The note in the thread arrives too.
    note = await system_note(pcp)
    assert note["conversation_id"] == task["conversation_id"]

    # Gone while the care manager accepts it; back with the cursor from before it existed.
    await pcp.close()
    accepted = await care.api(
        "POST", f"/api/v1/tasks/{task['id']}/status", json={"status": "accepted"}
    )
    assert accepted.status_code == 200, accepted.text
    await pcp.connect()
    await pcp.send({"type": "resume", "tasks": before})
    replayed = await next_about(pcp, "task.updated", task["id"])
    assert replayed["task"]["status"] == "accepted"
    assert replayed["revision"] == accepted.json()["revision"]
    resumed = await pcp.next("resumed")
    assert resumed["tasks"] >= accepted.json()["revision"]
    # Once: the task shows up one time in the replay, in its latest state.
    about = [f for f in pcp.frames if f.get("task", {}).get("id") == task["id"]]
    assert len([f for f in about if f["revision"] == accepted.json()["revision"]]) == 1


async def test_the_new_assignee_hears_task_assigned_and_outsiders_hear_nothing(clients) -> None:  # noqa: F811
    pcp, care = await clients("pcp@example.org"), await clients("care@example.org")
    theo = await clients("bh@example.org")  # not on Maria's care team
    lena = await clients("pcp2@example.org")  # not on Maria's care team either
    await theo.connect()
    await lena.connect()
    task = await task_from_a_pcp_message(pcp, care)

    admin = await clients("admin@example.org")
    users = (await admin.api("GET", "/api/v1/users")).json()
    theo_id = next(u["id"] for u in users["users"] if u["email"] == "bh@example.org")
    moved = await care.api(
        "PATCH", f"/api/v1/tasks/{task['id']}", json={"assignee_user_id": theo_id}
    )
    assert moved.status_code == 200, moved.text
    assigned = await next_about(theo, "task.assigned", task["id"])
    assert assigned["task"]["assignee_user_id"] == theo_id
    # Theo may see the task but not the PCP's message: he is not in the thread.
    read = await theo.api("GET", f"/api/v1/tasks/{task['id']}")
    assert read.json()["source"] is None

    await lena.send({"type": "ping"})
    await lena.next("pong")
    assert not [f for f in lena.frames if f["type"].startswith("task.")]


async def test_the_demo_has_a_task_made_from_the_pcps_message(clients) -> None:  # noqa: F811
    care, pcp = await clients("care@example.org"), await clients("pcp@example.org")
    mine = (await care.api("GET", "/api/v1/tasks", params={"assignee": "me"})).json()
    [task] = [t for t in mine["tasks"] if t["title"].startswith("Call Maria about her sleep since")]
    seen = (await pcp.api("GET", f"/api/v1/tasks/{task['id']}")).json()
    assert seen["source"]["body"].startswith("Maria says her sleep got worse")
    assert seen["source"]["seq"] == 2
    thread = await pcp.api("GET", f"/api/v1/conversations/{task['conversation_id']}/messages")
    notes = [m["body"] for m in thread.json()["messages"] if m["kind"] == "system"]
    assert notes[1].startswith("Carmen Ruiz, LCSW made a task from message #2: call patient for")


async def test_a_warm_handoff_reaches_the_consultant_live_and_the_pcp_sees_it_accepted(
    clients,  # noqa: F811
) -> None:
    pcp, theo = await clients("pcp@example.org"), await clients("bh@example.org")
    await pcp.connect()
    await theo.connect()
    patients = (await pcp.api("GET", "/api/v1/patients", params={"mrn": MARIA})).json()
    handoff = await pcp.api(
        "POST",
        "/api/v1/tasks/warm-handoffs",
        json={"patient_id": patients["patients"][0]["id"], "note": "In room 4 now"},
    )
    assert handoff.status_code == 201, handoff.text
    task_id = handoff.json()["id"]
    pushed = await next_about(theo, "task.created", task_id)
    assert (pushed["task"]["kind"], pushed["task"]["priority"]) == ("warm_handoff", "urgent")

    accepted = await theo.api(
        "POST", f"/api/v1/tasks/{task_id}/status", json={"status": "accepted"}
    )
    assert accepted.status_code == 200, accepted.text
    seen = await next_about(pcp, "task.updated", task_id)
    assert seen["task"]["status"] == "accepted"
    assert seen["task"]["time_to_accept_seconds"] is not None
