"""Worklists and role queues on both databases: filters and counts, overdue flags, and a
queue item claimed by exactly one of two people claiming at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from huddle.actor import Role
from tests.conftest import client_from_new_address
from tests.tasks.conftest import Ward


async def test_two_people_claim_at_once_and_exactly_one_wins(ward: Ward) -> None:
    task = await ward.task_from_message(role=Role.PCP, assignee_role="care_manager")
    second_id, second = await ward.add_user(Role.CARE_MANAGER)
    first = await ward.headers(Role.CARE_MANAGER)
    # Before the claim, both care managers see it waiting in their role's queue.
    queue = await ward.client.get("/api/v1/tasks", params={"assignee": "role"}, headers=second)
    assert [t["id"] for t in queue.json()["tasks"]] == [task["id"]]

    clients = [client_from_new_address(ward.server) for _ in range(2)]
    try:
        answers = await asyncio.gather(
            *(
                client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers)
                for client, headers in zip(clients, (first, second), strict=True)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sorted(a.status_code for a in answers) == [200, 409]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.json()["error"]["code"] == "already_claimed"
    winner = next(a for a in answers if a.status_code == 200).json()
    assert winner["status"] == "accepted"
    assert winner["assignee_user_id"] in {ward.user_id(Role.CARE_MANAGER), second_id}
    assert winner["history"][-1]["change"] == "claimed"
    assert winner["time_to_accept_seconds"] == 0
    # It left the queue, and the thread says who took it from which queue.
    queue = await ward.client.get("/api/v1/tasks", params={"assignee": "role"}, headers=second)
    assert queue.json()["tasks"] == []
    notes = [m["body"] for m in await ward.thread_messages() if m["kind"] == "system"]
    assert notes[-2].endswith(
        "made a task from message #2: call patient for the care manager queue."
    )
    assert notes[-1].endswith(" took the task (call patient) from the care manager queue.")


async def test_a_claim_outside_your_roles_queue_is_refused(ward: Ward) -> None:
    task = await ward.task_from_message(role=Role.PCP, assignee_role="care_manager")
    response = await ward.client.post(
        f"/api/v1/tasks/{task['id']}/claim", headers=await ward.headers(Role.PCP)
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_in_queue"
    accept = await ward.move(task["id"], Role.CARE_MANAGER, "accepted")
    assert accept.status_code == 409
    assert accept.json()["error"]["code"] == "claim_first"


async def test_worklists_filter_count_and_flag_overdue(ward: Ward) -> None:
    now = datetime.now(UTC)
    soon = await ward.task_from_message(
        assignee_user_id=ward.user_id(Role.CARE_MANAGER),
        due_at=(now + timedelta(hours=1)).isoformat(),
        title="Call today",
    )
    later = await ward.task_from_message(
        assignee_user_id=ward.user_id(Role.CARE_MANAGER),
        due_at=(now + timedelta(days=3)).isoformat(),
        title="Screen next week",
        kind="screening",
    )
    await ward.task_from_message(assignee_user_id=ward.user_id(Role.PCP), title="PCP's own")
    await ward.move(later["id"], Role.CARE_MANAGER, "accepted")
    ward.server.clock.advance(timedelta(hours=2))
    cm = await ward.headers(Role.CARE_MANAGER)

    mine = await ward.client.get("/api/v1/tasks", params={"assignee": "me"}, headers=cm)
    body = mine.json()
    assert [t["title"] for t in body["tasks"]] == ["Call today", "Screen next week"]
    assert [t["overdue"] for t in body["tasks"]] == [True, False]
    assert body["count"] == 2
    assert (body["counts"]["open"], body["counts"]["accepted"], body["counts"]["overdue"]) == (
        1,
        1,
        1,
    )
    accepted = await ward.client.get(
        "/api/v1/tasks", params={"assignee": "me", "status": "accepted"}, headers=cm
    )
    assert [t["id"] for t in accepted.json()["tasks"]] == [later["id"]]
    assert accepted.json()["count"] == 1
    due_soon = await ward.client.get(
        "/api/v1/tasks",
        params={"due_before": (now + timedelta(days=1)).isoformat()},
        headers=cm,
    )
    assert [t["id"] for t in due_soon.json()["tasks"]] == [soon["id"]]
    everything = await ward.client.get(
        "/api/v1/tasks", params={"patient": ward.thread.patient_id}, headers=cm
    )
    assert everything.json()["count"] == 3


async def test_a_bad_worklist_filter_is_a_clear_error(ward: Ward) -> None:
    response = await ward.client.get(
        "/api/v1/tasks", params={"assignee": "everyone"}, headers=await ward.headers(Role.PCP)
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["fields"][0]["field"] == "assignee"


async def test_a_queue_member_off_the_care_team_gets_no_part2_content(ward: Ward) -> None:
    relabelled = await ward.client.patch(
        f"/api/v1/patients/{ward.thread.patient_id}",
        json={"sensitivity": "substance_use_part2"},
        headers=await ward.headers(Role.PCP),
    )
    assert relabelled.status_code == 200, relabelled.text
    task = await ward.task_from_message(
        role=Role.PCP, assignee_role="care_manager", details="AUDIT-C 9; started naltrexone"
    )
    _, outsider = await ward.add_user(Role.CARE_MANAGER)
    queue = await ward.client.get("/api/v1/tasks", params={"assignee": "role"}, headers=outsider)
    [seen] = queue.json()["tasks"]
    assert (seen["id"], seen["withheld"], seen["title"], seen["details"]) == (
        task["id"],
        True,
        None,
        None,
    )
    assert "naltrexone" not in queue.text
    comment = await ward.client.post(
        f"/api/v1/tasks/{task['id']}/comments", json={"body": "I can take it"}, headers=outsider
    )
    assert comment.status_code == 403
    assert comment.json()["error"]["code"] == "part2"
    # Claiming puts them on the care team: then they may read it.
    claimed = await ward.client.post(f"/api/v1/tasks/{task['id']}/claim", headers=outsider)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["details"] == "AUDIT-C 9; started naltrexone"


async def test_a_due_before_without_a_time_zone_is_a_clear_400(ward: Ward) -> None:
    headers = await ward.headers(Role.CARE_MANAGER)
    naive = await ward.client.get(
        "/api/v1/tasks", params={"due_before": "2026-11-28T10:00:00"}, headers=headers
    )
    assert naive.status_code == 400, naive.text
    assert naive.json()["error"]["code"] == "invalid_request"
    assert naive.json()["error"]["fields"][0]["field"] == "due_before"
    aware = await ward.client.get(
        "/api/v1/tasks", params={"due_before": "2026-11-28T10:00:00Z"}, headers=headers
    )
    assert aware.status_code == 200, aware.text


async def test_claiming_a_cancelled_queue_task_says_it_is_finished_not_claimed(
    ward: Ward,
) -> None:
    task = await ward.task_from_message(role=Role.PCP, assignee_role="care_manager")
    cancelled = await ward.move(task["id"], Role.PCP, "cancelled", reason="Seen in clinic")
    assert cancelled.status_code == 200, cancelled.text
    claim = await ward.client.post(
        f"/api/v1/tasks/{task['id']}/claim", headers=await ward.headers(Role.CARE_MANAGER)
    )
    assert claim.status_code == 409
    assert claim.json()["error"]["code"] == "task_finished"
    seen = await ward.client.get(
        f"/api/v1/tasks/{task['id']}", headers=await ward.headers(Role.PCP)
    )
    assert (seen.json()["status"], seen.json()["assignee_user_id"]) == ("cancelled", None)
