"""Warm handoffs and deadlines on both databases: the on-duty consultant gets an urgent
task due in minutes, accepts (time to accept kept) or declines; unaccepted it passes to
the next consultant and the PCP hears of it, and with nobody left goes back to the PCP,
flagged; overdue tasks are flagged exactly once,
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


def pcp(ward: Ward) -> str:
    """The PCP's name (the clinic names each user after their email's local part)."""
    return ward.clinic.email(Role.PCP).split("@")[0].replace(".", " ")


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

    # Nobody left after the psychiatrist: back with the PCP, flagged overdue, once.
    ward.server.clock.advance(timedelta(minutes=6))
    assert await due_pass(ward) == 1
    assert await due_pass(ward) == 0
    back = await back_with_the_pcp(ward, task["id"], from_status="open")
    assert back["escalations"] == 1
    notes = [m["body"] for m in await ward.thread_messages() if m["kind"] == "system"]
    assert notes[-1] == (
        f"Warm handoff not accepted, and no other consultant is available; back with {pcp(ward)}."
    )


async def test_a_declined_handoff_goes_straight_to_the_next_consultant(ward: Ward) -> None:
    task = await hand_off(ward)
    declined = await ward.move(task["id"], Role.BH_CLINICIAN, "declined", reason="With a patient")
    assert declined.status_code == 200, declined.text
    body = declined.json()
    assert (body["status"], body["assignee_user_id"]) == ("open", ward.user_id(Role.PSYCHIATRIST))
    assert [h["change"] for h in body["history"]] == ["created", "status", "escalated"]
    assert body["history"][1]["reason"] == "With a patient"


async def test_declined_by_the_last_consultant_it_goes_back_to_the_pcp(ward: Ward) -> None:
    task = await hand_off(ward, conversation_id=ward.conversation_id)
    first = await ward.move(task["id"], Role.BH_CLINICIAN, "declined", reason="With a patient")
    assert first.json()["assignee_user_id"] == ward.user_id(Role.PSYCHIATRIST)
    last = await ward.move(task["id"], Role.PSYCHIATRIST, "declined", reason="In clinic")
    assert last.status_code == 200, last.text
    assert last.json()["assignee_user_id"] == ward.user_id(Role.PCP)  # the answer says so
    back = await back_with_the_pcp(ward, task["id"], from_status="declined")
    assert [h["change"] for h in back["history"]][-2:] == ["status", "returned"]
    assert back["history"][-2]["reason"] == "In clinic"
    notes = [m["body"] for m in await ward.thread_messages() if m["kind"] == "system"]
    assert notes[-1] == (
        f"Warm handoff declined, and no other consultant is available; back with {pcp(ward)}."
    )
    assert await due_pass(ward) == 0  # already flagged: the deadline pass leaves it
    # The psychiatrist, off the care team, no longer sees it at all.
    gone = await ward.client.get(
        f"/api/v1/tasks/{task['id']}", headers=await ward.headers(Role.PSYCHIATRIST)
    )
    assert gone.status_code == 404


async def test_back_with_the_pcp_it_is_theirs_and_passes_to_nobody(ward: Ward) -> None:
    task = await hand_off(ward)
    await ward.move(task["id"], Role.BH_CLINICIAN, "declined", reason="With a patient")
    await ward.move(task["id"], Role.PSYCHIATRIST, "declined", reason="In clinic")
    # A new due time clears the flag; missed again, it is flagged overdue as any task is,
    # and stays with the PCP (no consultant is asked again).
    later = (ward.server.clock.now() + timedelta(minutes=30)).isoformat()
    moved = await ward.client.patch(
        f"/api/v1/tasks/{task['id']}", json={"due_at": later}, headers=await ward.headers(Role.PCP)
    )
    assert moved.status_code == 200, moved.text
    ward.server.clock.advance(timedelta(hours=1))
    assert await due_pass(ward) == 1
    flagged = await get(ward, task["id"])
    assert (flagged["assignee_user_id"], flagged["status"]) == (ward.user_id(Role.PCP), "open")
    assert (flagged["overdue"], flagged["history"][-1]["change"]) == (True, "overdue")
    # The PCP closes it once behavioral health was reached another way.
    cancelled = await ward.move(task["id"], Role.PCP, "cancelled", reason="Called Dr. Lee")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["escalations"]) == ("cancelled", 1)


async def back_with_the_pcp(ward: Ward, task_id: str, *, from_status: str) -> dict:  # type: ignore[type-arg]
    """The handoff nobody took: the PCP's, open and overdue, on no consultant's worklist;
    the change is in its history (Huddle acted) and audited."""
    back = await get(ward, task_id)
    pcp = ward.user_id(Role.PCP)
    assert (back["status"], back["overdue"], back["assignee_user_id"]) == ("open", True, pcp)
    assert back["assignee_role"] is None
    returned = back["history"][-1]
    assert (returned["change"], returned["from_status"], returned["to_status"]) == (
        "returned",
        from_status,
        "open",
    )
    assert (returned["actor_user_id"], returned["assignee_user_id"]) == (None, pcp)
    mine = await ward.client.get(
        "/api/v1/tasks", params={"assignee": "me"}, headers=await ward.headers(Role.PCP)
    )
    assert [t["id"] for t in mine.json()["tasks"]] == [task_id]
    assert mine.json()["counts"]["overdue"] == 1
    for consultant in (Role.BH_CLINICIAN, Role.PSYCHIATRIST):
        theirs = await ward.client.get(
            "/api/v1/tasks",
            params={"assignee": "me", "status": "open"},
            headers=await ward.headers(consultant),
        )
        assert theirs.json()["tasks"] == [], f"{consultant} would be prompted again"
    async with ward.server.rt.db.transaction() as db:
        audited = (
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.resource_type == "task", AuditEvent.resource_id == task_id
                )
            )
        ).all()
    [record] = [a for a in audited if a.detail.get("change") == "returned"]
    assert (record.action, record.outcome) == ("update", "success")
    assert record.detail["status"] == f"{from_status}->open"
    assert record.patient_id == uuid.UUID(ward.thread.patient_id)
    return back


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
