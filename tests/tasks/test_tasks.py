"""Tasks over REST on both databases: made from a message (links, quote, thread note),
who may see them, status transitions, reopening, comments, history, audit, encryption."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from huddle.actor import Role
from huddle.protect.models import AuditEvent
from huddle.tasks.models import Task, TaskComment
from tests.tasks.conftest import PCP_MESSAGE, Ward


async def test_a_message_becomes_a_task_that_keeps_its_link(ward: Ward) -> None:
    task = await ward.task_from_message(assignee_user_id=ward.user_id(Role.CARE_MANAGER))
    assert task["source_message_id"] == ward.message_id
    assert task["conversation_id"] == ward.conversation_id
    assert task["referral_id"] is not None
    assert task["patient_id"] == ward.thread.patient_id
    assert task["status"] == "open"
    assert task["source"]["body"] == PCP_MESSAGE
    # The PCP, in the thread, sees what happened there.
    notes = [m for m in await ward.thread_messages() if m["kind"] == "system"]
    assert "made a task from message #2" in notes[-1]["body"]
    # And sees the task, with its quote.
    seen = await ward.client.get(
        f"/api/v1/tasks/{task['id']}", headers=await ward.headers(Role.PCP)
    )
    assert seen.status_code == 200
    assert seen.json()["source"]["body"] == PCP_MESSAGE
    assert seen.json()["title"] == "Call Ms Farouk about panic attacks"


async def test_someone_outside_the_care_team_cannot_see_the_task_or_its_quote(
    ward: Ward,
) -> None:
    task = await ward.task_from_message()
    outsider = await ward.headers(Role.PSYCHIATRIST)
    one = await ward.client.get(f"/api/v1/tasks/{task['id']}", headers=outsider)
    assert one.status_code == 404
    assert PCP_MESSAGE not in one.text
    listed = await ward.client.get("/api/v1/tasks", headers=outsider)
    assert listed.status_code == 200
    assert listed.json()["tasks"] == []
    assert task["id"] not in listed.text


async def test_a_task_assignee_outside_the_thread_sees_the_task_but_not_the_quote(
    ward: Ward,
) -> None:
    task = await ward.task_from_message(assignee_user_id=ward.user_id(Role.PSYCHIATRIST))
    seen = await ward.client.get(
        f"/api/v1/tasks/{task['id']}", headers=await ward.headers(Role.PSYCHIATRIST)
    )
    assert seen.status_code == 200
    assert seen.json()["title"] == "Call Ms Farouk about panic attacks"
    assert seen.json()["source_message_id"] == ward.message_id
    assert seen.json()["source"] is None
    assert PCP_MESSAGE not in seen.text


async def test_only_participants_make_tasks_from_a_message(ward: Ward) -> None:
    response = await ward.client.post(
        f"/api/v1/messages/{ward.message_id}/task",
        json={"title": "Sneaky"},
        headers=await ward.headers(Role.PSYCHIATRIST),
    )
    assert response.status_code == 404


async def test_the_status_moves_forward_and_illegal_moves_are_refused(ward: Ward) -> None:
    task = await ward.task_from_message(assignee_user_id=ward.user_id(Role.CARE_MANAGER))
    task_id = task["id"]
    started_too_soon = await ward.move(task_id, Role.CARE_MANAGER, "in_progress")
    assert started_too_soon.status_code == 409
    assert started_too_soon.json()["error"]["code"] == "illegal_transition"
    for status in ("accepted", "in_progress", "done"):
        response = await ward.move(task_id, Role.CARE_MANAGER, status)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    back = await ward.move(task_id, Role.CARE_MANAGER, "open")
    assert back.status_code == 409
    assert back.json()["error"]["code"] == "illegal_transition"
    assert "Reopen" in back.json()["error"]["detail"]
    reopened = await ward.client.post(
        f"/api/v1/tasks/{task_id}/reopen",
        json={"reason": "She called back: still anxious"},
        headers=await ward.headers(Role.CARE_MANAGER),
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "open"
    history = reopened.json()["history"]
    assert [(h["change"], h["to_status"]) for h in history] == [
        ("created", "open"),
        ("status", "accepted"),
        ("status", "in_progress"),
        ("status", "done"),
        ("reopened", "open"),
    ]
    assert history[-1]["reason"] == "She called back: still anxious"
    assert all(h["actor_user_id"] == ward.user_id(Role.CARE_MANAGER) for h in history)
    again = await ward.client.post(
        f"/api/v1/tasks/{task_id}/reopen", json={}, headers=await ward.headers(Role.CARE_MANAGER)
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_finished"


async def test_only_the_assignee_accepts_and_a_decline_needs_a_reason(ward: Ward) -> None:
    task = await ward.task_from_message(assignee_user_id=ward.user_id(Role.CARE_MANAGER))
    by_pcp = await ward.move(task["id"], Role.PCP, "accepted")
    assert by_pcp.status_code == 403
    assert by_pcp.json()["error"]["code"] == "not_assignee"
    no_reason = await ward.move(task["id"], Role.CARE_MANAGER, "declined")
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["code"] == "reason_required"
    declined = await ward.move(
        task["id"], Role.CARE_MANAGER, "declined", reason="Not mine: she sees psychiatry"
    )
    assert declined.status_code == 200
    assert declined.json()["status_reason"] == "Not mine: she sees psychiatry"
    notes = [m["body"] for m in await ward.thread_messages() if m["kind"] == "system"]
    assert notes[-1].startswith("Task (call patient) declined by")


async def test_the_creator_cancels_with_a_reason_and_the_assignee_hears(ward: Ward) -> None:
    task = await ward.task_from_message(
        role=Role.PCP, assignee_user_id=ward.user_id(Role.CARE_MANAGER)
    )
    cancelled = await ward.move(task["id"], Role.PCP, "cancelled", reason="Seen in clinic today")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"


async def test_reassigning_puts_the_task_back_to_open(ward: Ward) -> None:
    task = await ward.task_from_message(assignee_user_id=ward.user_id(Role.CARE_MANAGER))
    await ward.move(task["id"], Role.CARE_MANAGER, "accepted")
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    moved = await ward.client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={
            "assignee_user_id": ward.user_id(Role.BH_CLINICIAN),
            "due_at": due,
            "priority": "high",
        },
        headers=await ward.headers(Role.CARE_MANAGER),
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["status"], body["assignee_user_id"], body["priority"]) == (
        "open",
        ward.user_id(Role.BH_CLINICIAN),
        "high",
    )
    assert body["history"][-1]["change"] == "assigned"
    # The new assignee joined the care team, so they see the task and the patient.
    patient = await ward.client.get(
        f"/api/v1/patients/{ward.thread.patient_id}",
        headers=await ward.headers(Role.BH_CLINICIAN),
    )
    assert patient.status_code == 200


async def test_a_naive_due_time_is_refused(ward: Ward) -> None:
    response = await ward.client.post(
        f"/api/v1/messages/{ward.message_id}/task",
        json={"title": "Follow up", "due_at": "2030-01-01T10:00:00"},
        headers=await ward.headers(Role.CARE_MANAGER),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_comments_and_content_are_sealed_at_rest(ward: Ward) -> None:
    task = await ward.task_from_message(details="She prefers calls after 5pm")
    commented = await ward.client.post(
        f"/api/v1/tasks/{task['id']}/comments",
        json={"body": "Left a voicemail at 5:15pm"},
        headers=await ward.headers(Role.PCP),
    )
    assert commented.status_code == 201, commented.text
    assert [c["body"] for c in commented.json()["comments"]] == ["Left a voicemail at 5:15pm"]
    async with ward.server.rt.db.transaction() as db:
        row = await db.get_one(Task, uuid.UUID(task["id"]))
        comment = await db.scalar(select(TaskComment).where(TaskComment.task_id == row.id))
    assert b"Farouk" not in row.title
    assert row.details is not None
    assert b"5pm" not in row.details
    assert comment is not None
    assert b"voicemail" not in comment.body


async def test_every_step_is_audited(ward: Ward) -> None:
    task = await ward.task_from_message(assignee_user_id=ward.user_id(Role.CARE_MANAGER))
    await ward.move(task["id"], Role.CARE_MANAGER, "accepted")
    await ward.client.get(f"/api/v1/tasks/{task['id']}", headers=await ward.headers(Role.PCP))
    refused = await ward.client.get(
        f"/api/v1/tasks/{task['id']}", headers=await ward.headers(Role.PSYCHIATRIST)
    )
    assert refused.status_code == 404
    async with ward.server.rt.db.transaction() as db:
        events = (
            await db.scalars(
                select(AuditEvent)
                .where(AuditEvent.resource_type == "task", AuditEvent.resource_id == task["id"])
                .order_by(AuditEvent.seq)
            )
        ).all()
    steps = [(e.action, e.outcome, e.actor_user_id) for e in events]
    cm = uuid.UUID(ward.user_id(Role.CARE_MANAGER))
    assert ("create", "success", cm) in steps
    assert ("update", "success", cm) in steps
    assert ("read", "success", uuid.UUID(ward.user_id(Role.PCP))) in steps
    assert ("read", "denied", uuid.UUID(ward.user_id(Role.PSYCHIATRIST))) in steps
    assert all(
        e.patient_id == uuid.UUID(ward.thread.patient_id) for e in events if e.outcome == "success"
    )


async def test_task_reads_are_audited_with_how_the_task_was_reached(ward: Ward) -> None:
    cm, pcp, psychiatrist = (
        ward.user_id(role) for role in (Role.CARE_MANAGER, Role.PCP, Role.PSYCHIATRIST)
    )
    own = await ward.task_from_message()  # the care manager's own
    for_pcp = await ward.task_from_message(assignee_user_id=pcp)
    queued = await ward.task_from_message(assignee_role="psychiatrist")  # off the team
    # The care manager leaves the care team but still sees what she holds or asked for.
    left = await ward.client.delete(
        f"/api/v1/patients/{ward.thread.patient_id}/care-team/{cm}",
        headers=await ward.headers(Role.PCP),
    )
    assert left.status_code == 200, left.text

    reads = [
        (Role.PCP, f"/api/v1/tasks/{own['id']}", {}),  # one task, with its history
        (Role.PCP, "/api/v1/tasks", {}),  # the worklist
        (Role.CARE_MANAGER, f"/api/v1/tasks/{own['id']}", {}),
        (Role.CARE_MANAGER, "/api/v1/tasks", {}),
        (Role.PSYCHIATRIST, "/api/v1/tasks", {"assignee": "role"}),
        (Role.PSYCHIATRIST, f"/api/v1/tasks/{queued['id']}", {}),
    ]
    for role, path, params in reads:
        read = await ward.client.get(path, params=params, headers=await ward.headers(role))
        assert read.status_code == 200, read.text

    async with ward.server.rt.db.transaction() as db:
        events = (
            await db.scalars(
                select(AuditEvent).where(
                    AuditEvent.resource_type == "task",
                    AuditEvent.action == "read",
                    AuditEvent.resource_id.in_([own["id"], for_pcp["id"], queued["id"]]),
                )
            )
        ).all()
    routes = {(str(e.actor_user_id), e.resource_id): e.detail.get("via") for e in events}
    assert routes == {
        (pcp, own["id"]): "care_team",
        (pcp, for_pcp["id"]): "care_team",
        (pcp, queued["id"]): "care_team",
        (cm, own["id"]): "assignee",
        (cm, for_pcp["id"]): "creator",
        (cm, queued["id"]): "creator",
        (psychiatrist, queued["id"]): "role_queue",
    }
    counted = Counter((str(e.actor_user_id), e.resource_id) for e in events)
    assert counted[(pcp, own["id"])] == 2  # the task read, then the worklist
    assert counted[(psychiatrist, queued["id"])] == 2  # the queue, then the task


async def test_an_empty_edit_is_refused_and_changes_nothing(ward: Ward) -> None:
    task = await ward.task_from_message()
    edited = await ward.client.patch(
        f"/api/v1/tasks/{task['id']}", json={}, headers=await ward.headers(Role.CARE_MANAGER)
    )
    assert edited.status_code == 422, edited.text
    assert edited.json()["error"]["code"] == "nothing_to_change"
    seen = await ward.client.get(
        f"/api/v1/tasks/{task['id']}", headers=await ward.headers(Role.CARE_MANAGER)
    )
    assert seen.json()["revision"] == task["revision"]
    assert [h["change"] for h in seen.json()["history"]] == ["created"]
