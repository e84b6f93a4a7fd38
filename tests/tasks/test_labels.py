"""A task carries the strictest label of its patient, its thread and its source message:
a task made from a 42 CFR Part 2 message of a general patient is Part 2 content."""

from __future__ import annotations

from huddle.actor import Role
from tests.tasks.conftest import Ward

PART2_MESSAGE = "AUDIT-C 9; started naltrexone last week."
TITLE = "Check naltrexone adherence"


async def test_a_task_from_a_part2_message_is_withheld_from_an_uncleared_queue_member(
    ward: Ward,
) -> None:
    sent = await ward.client.post(
        f"/api/v1/conversations/{ward.conversation_id}/messages",
        json={"body": PART2_MESSAGE, "sensitivity": "substance_use_part2"},
        headers=await ward.headers(Role.PCP),
    )
    assert sent.status_code == 201, sent.text
    made = await ward.client.post(
        f"/api/v1/messages/{sent.json()['id']}/task",
        json={"title": TITLE, "details": "Ask about cravings", "assignee_role": "care_manager"},
        headers=await ward.headers(Role.PCP),
    )
    assert made.status_code == 201, made.text
    task_id = made.json()["id"]
    _, queue_member = await ward.add_user(Role.CARE_MANAGER)

    queue = await ward.client.get(
        "/api/v1/tasks", params={"assignee": "role"}, headers=queue_member
    )
    assert queue.status_code == 200, queue.text
    [listed] = queue.json()["tasks"]
    assert listed["id"] == task_id
    assert listed["withheld"] is True
    assert listed["title"] is None
    one = await ward.client.get(f"/api/v1/tasks/{task_id}", headers=queue_member)
    assert one.status_code == 200, one.text
    assert one.json()["withheld"] is True
    assert TITLE not in one.text
    assert "cravings" not in one.text
    comment = await ward.client.post(
        f"/api/v1/tasks/{task_id}/comments", json={"body": "Who is this?"}, headers=queue_member
    )
    assert comment.status_code == 403
    assert comment.json()["error"]["code"] == "part2"

    # The named care team still reads it.
    cleared = await ward.client.get(
        f"/api/v1/tasks/{task_id}", headers=await ward.headers(Role.CARE_MANAGER)
    )
    assert cleared.json()["withheld"] is False
    assert cleared.json()["title"] == TITLE
