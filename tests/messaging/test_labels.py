"""Sensitivity labels on conversations and messages: Part 2 content reaches only named
care-team members and the patient, whoever else takes part in the thread."""

from __future__ import annotations

from huddle.actor import Role
from tests.messaging.conftest import Thread


async def staff_thread_with_outsider(thread: Thread, **extra: object) -> str:
    """A thread about the patient that includes the psychiatrist, who is not on the
    patient's care team."""
    response = await thread.server.client.post(
        "/api/v1/conversations",
        json={
            "kind": "staff",
            "patient_id": thread.patient_id,
            "member_ids": [thread.user_ids[Role.PSYCHIATRIST]],
            **extra,
        },
        headers=await thread.headers(Role.PCP),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def read_as(thread: Thread, conversation: str, role: Role) -> list[dict]:  # type: ignore[type-arg]
    page = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/messages", headers=await thread.headers(role)
    )
    return page.json()["messages"]


async def test_a_part2_message_is_withheld_from_participants_off_the_care_team(
    thread: Thread,
) -> None:
    conversation = await staff_thread_with_outsider(thread)
    pcp = await thread.headers(Role.PCP)
    url = f"/api/v1/conversations/{conversation}/messages"
    await thread.server.client.post(url, json={"body": "General update"}, headers=pcp)
    sent = await thread.server.client.post(
        url,
        json={"body": "AUDIT-C 9; started naltrexone", "sensitivity": "substance_use_part2"},
        headers=pcp,
    )
    assert sent.json()["sensitivity"] == "substance_use_part2"
    outsider = await read_as(thread, conversation, Role.PSYCHIATRIST)
    assert [(m["body"], m["withheld"]) for m in outsider] == [
        ("General update", False),
        (None, True),
    ]
    team = await read_as(thread, conversation, Role.PCP)
    assert team[1]["body"] == "AUDIT-C 9; started naltrexone"
    history = await thread.server.client.patch(
        f"/api/v1/messages/{sent.json()['id']}", json={"body": "AUDIT-C 9"}, headers=pcp
    )
    assert history.status_code == 200
    versions = await thread.server.client.get(
        f"/api/v1/messages/{sent.json()['id']}/history",
        headers=await thread.headers(Role.PSYCHIATRIST),
    )
    assert [v["body"] for v in versions.json()["versions"]] == [None]


async def test_a_part2_patients_threads_are_part2_and_cannot_be_loosened(thread: Thread) -> None:
    pcp = await thread.headers(Role.PCP)
    labelled = await thread.server.client.patch(
        f"/api/v1/patients/{thread.patient_id}",
        json={"sensitivity": "substance_use_part2"},
        headers=pcp,
    )
    assert labelled.status_code == 200
    conversation = await staff_thread_with_outsider(thread, sensitivity="general")
    detail = await thread.server.client.get(f"/api/v1/conversations/{conversation}", headers=pcp)
    assert detail.json()["sensitivity"] == "substance_use_part2"
    await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/messages", json={"body": "Any note"}, headers=pcp
    )
    outsider = await read_as(thread, conversation, Role.PSYCHIATRIST)
    assert outsider[0]["withheld"] is True
    assert outsider[0]["body"] is None
    assert (await read_as(thread, conversation, Role.PCP))[0]["body"] == "Any note"


async def test_relabelling_the_patient_narrows_existing_threads(thread: Thread) -> None:
    conversation = await staff_thread_with_outsider(thread)
    pcp = await thread.headers(Role.PCP)
    await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/messages", json={"body": "Before"}, headers=pcp
    )
    assert (await read_as(thread, conversation, Role.PSYCHIATRIST))[0]["body"] == "Before"
    await thread.server.client.patch(
        f"/api/v1/patients/{thread.patient_id}",
        json={"sensitivity": "substance_use_part2"},
        headers=pcp,
    )
    assert (await read_as(thread, conversation, Role.PSYCHIATRIST))[0]["withheld"] is True


async def test_files_in_a_part2_thread_are_withheld_too(thread: Thread) -> None:
    pcp = await thread.headers(Role.PCP)
    await thread.server.client.patch(
        f"/api/v1/patients/{thread.patient_id}",
        json={"sensitivity": "substance_use_part2"},
        headers=pcp,
    )
    conversation = await staff_thread_with_outsider(thread)
    uploaded = await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/attachments",
        params={"filename": "plan.txt"},
        content=b"taper plan",
        headers=pcp,
    )
    assert uploaded.status_code == 201, uploaded.text
    sent = await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": "Taper plan attached", "attachment_ids": [uploaded.json()["id"]]},
        headers=pcp,
    )
    assert sent.status_code == 201, sent.text
    outsider = await thread.headers(Role.PSYCHIATRIST)
    listing = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/attachments", headers=outsider
    )
    assert listing.status_code == 403
    assert listing.json()["error"]["code"] == "part2_withheld"
    download = await thread.server.client.get(
        f"/api/v1/attachments/{uploaded.json()['id']}", headers=outsider
    )
    assert download.status_code == 403
    mine = await thread.server.client.get(
        f"/api/v1/attachments/{uploaded.json()['id']}", headers=pcp
    )
    assert mine.content == b"taper plan"
