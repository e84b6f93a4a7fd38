"""Tasks put people on the care team (the assignee, the claimer, the warm-handoff
consultant), so only care-team members may make or reassign them: break-glass access,
or a removed member's own old task, must not turn into membership."""

from __future__ import annotations

import httpx

from huddle.actor import Role
from tests.tasks.conftest import Ward

REASON = "Patient in the ED, unconscious; need medication history now."


async def _team(ward: Ward) -> set[str]:
    response = await ward.client.get(
        f"/api/v1/patients/{ward.thread.patient_id}/care-team",
        headers=await ward.headers(Role.PCP),
    )
    assert response.status_code == 200, response.text
    return {member["user_id"] for member in response.json()["members"]}


async def _break_glass(ward: Ward, headers: dict[str, str]) -> None:
    grant = await ward.client.post(
        f"/api/v1/patients/{ward.thread.patient_id}/break-glass",
        json={"reason": REASON},
        headers=headers,
    )
    assert grant.status_code == 200, grant.text


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "not_on_care_team"


async def test_break_glass_does_not_make_a_task_that_joins_the_care_team(ward: Ward) -> None:
    outsider = await ward.headers(Role.PSYCHIATRIST)
    await _break_glass(ward, outsider)
    before = await _team(ward)
    for assignee in ({}, {"assignee_user_id": ward.user_id(Role.PSYCHIATRIST)}):
        made = await ward.client.post(
            "/api/v1/tasks",
            json={"patient_id": ward.thread.patient_id, "title": "Review meds", **assignee},
            headers=outsider,
        )
        _refused(made)
    assert await _team(ward) == before
    assert ward.user_id(Role.PSYCHIATRIST) not in before
    listed = await ward.client.get("/api/v1/tasks", headers=outsider)
    assert listed.json()["tasks"] == []


async def test_break_glass_does_not_put_a_colleague_on_the_care_team(ward: Ward) -> None:
    other_pcp, headers = await ward.add_user(Role.PCP)
    colleague, _ = await ward.add_user(Role.CARE_MANAGER)
    await _break_glass(ward, headers)
    before = await _team(ward)
    made = await ward.client.post(
        "/api/v1/tasks",
        json={
            "patient_id": ward.thread.patient_id,
            "title": "Call the patient",
            "assignee_user_id": colleague,
        },
        headers=headers,
    )
    _refused(made)
    handoff = await ward.client.post(
        "/api/v1/tasks/warm-handoffs",
        json={"patient_id": ward.thread.patient_id},
        headers=headers,
    )
    _refused(handoff)
    after = await _team(ward)
    assert after == before
    assert other_pcp not in after
    assert colleague not in after


async def test_a_creator_removed_from_the_care_team_cannot_reassign_the_task_to_themselves(
    ward: Ward,
) -> None:
    task = await ward.task_from_message(assignee_user_id=ward.user_id(Role.PCP))
    care_manager = ward.user_id(Role.CARE_MANAGER)
    removed = await ward.client.delete(
        f"/api/v1/patients/{ward.thread.patient_id}/care-team/{care_manager}",
        headers=await ward.headers(Role.PCP),
    )
    assert removed.status_code == 200, removed.text
    for assignee in ({"assignee_user_id": care_manager}, {"assignee_role": "care_manager"}):
        reassigned = await ward.client.patch(
            f"/api/v1/tasks/{task['id']}",
            json=assignee,
            headers=await ward.headers(Role.CARE_MANAGER),
        )
        _refused(reassigned)
    assert care_manager not in await _team(ward)
    seen = await ward.client.get(
        f"/api/v1/tasks/{task['id']}", headers=await ward.headers(Role.PCP)
    )
    assert seen.json()["assignee_user_id"] == ward.user_id(Role.PCP)
