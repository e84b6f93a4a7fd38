"""Warm handoffs and deadlines on both databases: the on-duty consultant gets an urgent
task due in minutes, accepts (time to accept kept) or declines; unaccepted it passes to
the next consultant and the PCP hears of it; overdue tasks are flagged exactly once,
even with two runtimes running the deadline pass at the same moment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from huddle.actor import Role
from huddle.messaging import service as messaging
from huddle.protect.models import AuditEvent
from huddle.runtime import Runtime
from huddle.tasks.deadlines import handle_due
from huddle.tasks.models import TaskEvent
from tests.tasks.conftest import Ward


async def due_pass(ward: Ward) -> int:
    """The deadline pass over this test's clinic (other tests' clinics keep their own time)."""
    return await handle_due(ward.server.rt, ward.clinic.organization_id)


async def hand_off(ward: Ward, **body: object) -> dict:  # type: ignore[type-arg]
    response = await ward.client.post(
        "/api/v1/tasks/warm-handoffs",
        json={"patient_id": ward.thread.patient_id, "note": "In room 4, tearful", **body},
        headers=await ward.headers(Role.PCP),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def get(ward: Ward, task_id: str, role: Role = Role.PCP) -> dict:  # type: ignore[type-arg]
    response = await ward.client.get(f"/api/v1/tasks/{task_id}", headers=await ward.headers(role))
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_consultant_gets_it_in_minutes_and_accepting_is_timed(ward: Ward) -> None:
    task = await hand_off(ward)
    assert task["kind"] == "warm_handoff"
    assert task["priority"] == "urgent"
    assert task["assignee_user_id"] == ward.user_id(Role.BH_CLINICIAN)
    assert task["details"] == "In room 4, tearful"
    due_in = datetime.fromisoformat(task["due_at"]) - datetime.fromisoformat(task["created_at"])
    assert due_in == timedelta(minutes=5)
    ward.server.clock.advance(timedelta(seconds=90))
    accepted = await ward.move(task["id"], Role.BH_CLINICIAN, "accepted")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["time_to_accept_seconds"] == 90
    # Accepting put the consultant on the care team: the chart opens for them.
    chart = await ward.client.get(
        f"/api/v1/patients/{ward.thread.patient_id}",
        headers=await ward.headers(Role.BH_CLINICIAN),
    )
    assert chart.status_code == 200


async def test_the_on_call_clinician_is_the_one_on_duty(ward: Ward) -> None:
    on_call = ward.user_id(Role.PSYCHIATRIST)
    changed = await ward.client.patch(
        "/api/v1/organization",
        json={"on_call_user_id": on_call},
        headers=await ward.headers(Role.ADMIN),
    )
    assert changed.status_code == 200, changed.text
    assert (await hand_off(ward))["assignee_user_id"] == on_call


async def test_only_the_pcp_starts_one_and_only_with_a_consultant(ward: Ward) -> None:
    response = await ward.client.post(
        "/api/v1/tasks/warm-handoffs",
        json={"patient_id": ward.thread.patient_id},
        headers=await ward.headers(Role.CARE_MANAGER),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_role"
    async with ward.server.rt.db.transaction() as db:
        refusal = await db.scalar(
            select(AuditEvent).where(
                AuditEvent.actor_user_id == uuid.UUID(ward.user_id(Role.CARE_MANAGER)),
                AuditEvent.resource_type == "task",
                AuditEvent.outcome == "denied",
            )
        )
    assert refusal is not None, "the refusal is audited"
    assert (refusal.action, refusal.reason) == ("create", "wrong_role")
    assert refusal.patient_id == uuid.UUID(ward.thread.patient_id)
    named_pcp = await ward.client.post(
        "/api/v1/tasks/warm-handoffs",
        json={"patient_id": ward.thread.patient_id, "consultant_id": ward.user_id(Role.PCP)},
        headers=await ward.headers(Role.PCP),
    )
    assert named_pcp.status_code == 422
    assert named_pcp.json()["error"]["code"] == "invalid_consultant"


async def test_unaccepted_it_passes_on_and_the_thread_says_so(ward: Ward) -> None:
    task = await hand_off(ward, conversation_id=ward.conversation_id)
    ward.server.clock.advance(timedelta(minutes=4))
    assert await due_pass(ward) == 0  # not due yet
    ward.server.clock.advance(timedelta(minutes=2))
    assert await due_pass(ward) == 1
    passed = await get(ward, task["id"])
    assert passed["assignee_user_id"] == ward.user_id(Role.PSYCHIATRIST)
    assert (passed["escalations"], passed["status"], passed["overdue"]) == (1, "open", False)
    assert passed["history"][-1]["change"] == "escalated"
    assert passed["history"][-1]["actor_user_id"] is None
    notes = [m["body"] for m in await ward.thread_messages() if m["kind"] == "system"]
    assert notes[-1].startswith("Warm handoff was not accepted in time; passed to")
    assert await due_pass(ward) == 0  # handled once

    # Nobody left after the psychiatrist: flagged overdue, once, and the PCP is told.
    ward.server.clock.advance(timedelta(minutes=6))
    assert await due_pass(ward) == 1
    assert await due_pass(ward) == 0
    stuck = await get(ward, task["id"])
    assert (stuck["escalations"], stuck["overdue"]) == (1, True)
    assert stuck["history"][-1]["change"] == "overdue"
    notes = [m["body"] for m in await ward.thread_messages() if m["kind"] == "system"]
    assert notes[-1] == "Warm handoff not accepted, and no other consultant is available."


async def test_a_declined_handoff_goes_straight_to_the_next_consultant(ward: Ward) -> None:
    task = await hand_off(ward)
    declined = await ward.move(task["id"], Role.BH_CLINICIAN, "declined", reason="With a patient")
    assert declined.status_code == 200, declined.text
    body = declined.json()
    assert (body["status"], body["assignee_user_id"]) == ("open", ward.user_id(Role.PSYCHIATRIST))
    assert [h["change"] for h in body["history"]] == ["created", "status", "escalated"]
    assert body["history"][1]["reason"] == "With a patient"


async def test_declined_by_the_last_consultant_it_is_flagged_overdue_and_the_pcp_told(
    ward: Ward,
) -> None:
    task = await hand_off(ward, conversation_id=ward.conversation_id)
    first = await ward.move(task["id"], Role.BH_CLINICIAN, "declined", reason="With a patient")
    assert first.json()["assignee_user_id"] == ward.user_id(Role.PSYCHIATRIST)
    last = await ward.move(task["id"], Role.PSYCHIATRIST, "declined", reason="In clinic")
    assert last.status_code == 200, last.text
    stuck = await get(ward, task["id"])
    assert (stuck["status"], stuck["overdue"]) == ("open", True)
    assert [h["change"] for h in stuck["history"]][-2:] == ["status", "overdue"]
    notes = [m["body"] for m in await ward.thread_messages() if m["kind"] == "system"]
    assert notes[-1] == "Warm handoff declined, and no other consultant is available."
    mine = await ward.client.get("/api/v1/tasks", headers=await ward.headers(Role.PCP))
    assert mine.json()["counts"]["overdue"] == 1
    assert await due_pass(ward) == 0  # already flagged: the deadline pass leaves it


async def test_one_failing_task_does_not_stall_the_deadline_pass(
    ward: Ward, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = ward.server.clock.now()
    # Due first, and reports into a thread: its note is what will fail.
    failing = await ward.task_from_message(due_at=(now + timedelta(hours=1)).isoformat())
    made = await ward.client.post(
        "/api/v1/tasks",
        json={
            "patient_id": ward.thread.patient_id,
            "title": "Send the PHQ-9",
            "due_at": (now + timedelta(minutes=90)).isoformat(),
        },
        headers=await ward.headers(Role.CARE_MANAGER),
    )
    assert made.status_code == 201, made.text
    ward.server.clock.advance(timedelta(hours=2))

    async def thread_unavailable(*_: object) -> None:
        raise RuntimeError("Call Ms Farouk about panic attacks")  # PHI that must not be logged

    with monkeypatch.context() as patched:
        patched.setattr(messaging, "post_system_note", thread_unavailable)
        assert await due_pass(ward) == 1
    assert (await get(ward, made.json()["id"]))["overdue"] is True
    assert (await get(ward, failing["id"]))["history"][-1]["change"] == "created"
    [failed] = [r for r in caplog.records if r.name == "huddle.tasks.deadlines"]
    assert failed.fields == {"task_id": failing["id"], "error": "RuntimeError"}  # type: ignore[attr-defined]
    assert "Farouk" not in caplog.text
    # Retried on the next pass.
    assert await due_pass(ward) == 1
    assert (await get(ward, failing["id"]))["history"][-1]["change"] == "overdue"


async def test_an_overdue_task_is_flagged_once(ward: Ward) -> None:
    due = (ward.server.clock.now() + timedelta(hours=1)).isoformat()
    task = await ward.task_from_message(
        assignee_user_id=ward.user_id(Role.CARE_MANAGER), due_at=due
    )
    ward.server.clock.advance(timedelta(hours=2))
    assert await due_pass(ward) == 1
    assert await due_pass(ward) == 0
    flagged = await get(ward, task["id"], Role.CARE_MANAGER)
    assert flagged["overdue"] is True
    assert [h["change"] for h in flagged["history"]] == ["created", "overdue"]
    # A new due time clears the flag, so the next deadline is watched again.
    later = (ward.server.clock.now() + timedelta(hours=1)).isoformat()
    moved = await ward.client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"due_at": later},
        headers=await ward.headers(Role.CARE_MANAGER),
    )
    assert moved.json()["overdue"] is False
    ward.server.clock.advance(timedelta(hours=2))
    assert await due_pass(ward) == 1


async def test_two_runtimes_at_once_handle_each_due_task_exactly_once(ward: Ward) -> None:
    due = (ward.server.clock.now() + timedelta(minutes=10)).isoformat()
    tasks = [
        await ward.task_from_message(assignee_user_id=ward.user_id(Role.CARE_MANAGER), due_at=due)
        for _ in range(6)
    ]
    handoffs = [await hand_off(ward) for _ in range(3)]
    ward.server.clock.advance(timedelta(hours=1))
    other = Runtime.build(ward.server.rt.settings, ward.server.clock)
    try:
        handled = await asyncio.gather(
            due_pass(ward), handle_due(other, ward.clinic.organization_id)
        )
    finally:
        await other.db.dispose()
    assert sum(handled) == len(tasks) + len(handoffs)
    ids = [uuid.UUID(t["id"]) for t in tasks + handoffs]
    async with ward.server.rt.db.transaction() as db:
        counts = dict(
            (
                await db.execute(
                    select(TaskEvent.task_id, func.count())
                    .where(
                        TaskEvent.task_id.in_(ids), TaskEvent.change.in_(["overdue", "escalated"])
                    )
                    .group_by(TaskEvent.task_id)
                )
            ).all()
        )
    assert counts == {task_id: 1 for task_id in ids}
