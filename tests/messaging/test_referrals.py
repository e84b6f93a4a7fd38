"""Referrals: creating one opens its thread; status moves are checked and kept."""

from __future__ import annotations

from huddle.actor import Role
from tests.messaging.conftest import Thread


async def test_a_referral_opens_a_thread_with_the_care_team(thread: Thread) -> None:
    referral = await thread.refer(urgency="urgent", warm_handoff=True)
    assert referral["status"] == "sent"
    assert referral["reason"].startswith("Low mood")
    assert [h["to_status"] for h in referral["history"]] == ["sent"]
    care = await thread.headers(Role.CARE_MANAGER)
    conversation = await thread.server.client.get(
        f"/api/v1/conversations/{referral['conversation_id']}", headers=care
    )
    assert conversation.status_code == 200
    roles = {p["role"] for p in conversation.json()["participants"]}
    assert roles == {"pcp", "care_manager"}
    messages = await thread.server.client.get(
        f"/api/v1/conversations/{referral['conversation_id']}/messages", headers=care
    )
    system = messages.json()["messages"][0]
    assert system["kind"] == "system"
    assert system["body"] == "Referral sent (urgent)."


async def test_the_named_receiver_joins_the_care_team_and_the_thread(thread: Thread) -> None:
    referral = await thread.refer(
        receiving_service="psychiatry", receiving_user_id=thread.user_ids[Role.PSYCHIATRIST]
    )
    psych = await thread.headers(Role.PSYCHIATRIST)
    found = await thread.server.client.get("/api/v1/referrals", headers=psych)
    assert [r["id"] for r in found.json()["referrals"]] == [referral["id"]]
    patient = await thread.server.client.get(f"/api/v1/patients/{thread.patient_id}", headers=psych)
    assert patient.status_code == 200


async def test_status_moves_are_checked_and_kept(thread: Thread) -> None:
    referral = await thread.refer()
    care = await thread.headers(Role.CARE_MANAGER)
    url = f"/api/v1/referrals/{referral['id']}/status"
    for status in ("accepted", "scheduled", "in_care"):
        moved = await thread.server.client.post(url, json={"status": status}, headers=care)
        assert moved.status_code == 200, moved.text
    illegal = await thread.server.client.post(url, json={"status": "sent"}, headers=care)
    assert illegal.status_code == 409
    assert illegal.json()["error"]["code"] == "illegal_transition"
    closed = await thread.server.client.post(url, json={"status": "closed"}, headers=care)
    history = [(h["from_status"], h["to_status"]) for h in closed.json()["history"]]
    assert history == [
        (None, "sent"),
        ("sent", "accepted"),
        ("accepted", "scheduled"),
        ("scheduled", "in_care"),
        ("in_care", "closed"),
    ]
    notes = await thread.server.client.get(
        f"/api/v1/conversations/{referral['conversation_id']}/messages", headers=care
    )
    assert notes.json()["messages"][-1]["body"] == "Referral closed (was in care)."


async def test_declining_needs_a_reason(thread: Thread) -> None:
    referral = await thread.refer()
    care = await thread.headers(Role.CARE_MANAGER)
    url = f"/api/v1/referrals/{referral['id']}/status"
    bare = await thread.server.client.post(url, json={"status": "declined"}, headers=care)
    assert bare.status_code == 422
    declined = await thread.server.client.post(
        url,
        json={"status": "declined", "decline_reason": "Needs higher level of care."},
        headers=care,
    )
    assert declined.json()["decline_reason"] == "Needs higher level of care."


async def test_outsiders_cannot_refer_or_see_referrals(thread: Thread) -> None:
    for role in (Role.PSYCHIATRIST, Role.ADMIN, Role.COMPLIANCE_OFFICER):
        response = await thread.server.client.post(
            "/api/v1/referrals",
            json={
                "patient_id": thread.patient_id,
                "receiving_service": "psychiatry",
                "reason": "Please review.",
            },
            headers=await thread.headers(role),
        )
        assert response.status_code == 403, role
    referral = await thread.refer()
    psych = await thread.headers(Role.PSYCHIATRIST)
    assert (
        await thread.server.client.get(f"/api/v1/referrals/{referral['id']}", headers=psych)
    ).status_code == 403
    assert (await thread.server.client.get("/api/v1/referrals", headers=psych)).json()[
        "referrals"
    ] == []


async def test_a_referral_made_with_the_patient_includes_them_in_its_thread(
    thread: Thread,
) -> None:
    referral = await thread.refer(include_patient=True)
    client, patient = thread.server.client, await thread.headers(Role.PATIENT)
    mine = await client.get("/api/v1/conversations", headers=patient)
    (conversation,) = mine.json()["conversations"]
    assert conversation["id"] == referral["conversation_id"]
    assert {p["role"] for p in conversation["participants"]} == {"pcp", "care_manager", "patient"}
    reply = await client.post(
        f"/api/v1/conversations/{referral['conversation_id']}/messages",
        json={"body": "Thank you, Thursday works."},
        headers=patient,
    )
    assert reply.status_code == 201, reply.text
    # Taking part, they may follow their own referral's status too.
    own = await client.get(f"/api/v1/referrals/{referral['id']}", headers=patient)
    assert own.json()["status"] == "sent"


async def test_including_a_patient_without_a_portal_account_refers_nobody(
    thread: Thread,
) -> None:
    client, pcp = thread.server.client, await thread.headers(Role.PCP)
    other = await client.post(
        "/api/v1/patients",
        json={"full_name": "Omar Haddad", "date_of_birth": "1971-02-03", "mrn": "X-1"},
        headers=pcp,
    )
    refused = await client.post(
        "/api/v1/referrals",
        json={
            "patient_id": other.json()["id"],
            "receiving_service": "behavioral_health",
            "reason": "Please assess.",
            "include_patient": True,
        },
        headers=pcp,
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "no_portal_account"
    listed = await client.get("/api/v1/referrals", headers=pcp)
    assert listed.json()["referrals"] == []
