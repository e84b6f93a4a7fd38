"""Clinic hours: patients writing after hours get the clinic's reply (once); urgent
messages nobody reads are escalated to the on-call clinician exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

from huddle.actor import Role
from huddle.messaging.escalation import escalate_due
from tests.messaging.conftest import Thread


async def set_hours(thread: Thread, **settings: object) -> dict:  # type: ignore[type-arg]
    response = await thread.server.client.patch(
        "/api/v1/organization", json=settings, headers=await thread.headers(Role.ADMIN)
    )
    assert response.status_code == 200, response.text
    return response.json()


def closed_now(now: datetime) -> dict[str, str]:
    """Opening hours that exclude this moment: only tomorrow's weekday."""
    tomorrow = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(now.weekday() + 1) % 7]
    return {"clinic_days": tomorrow, "clinic_opens": "00:00", "clinic_closes": "24:00"}


async def patient_thread(thread: Thread) -> str:
    response = await thread.server.client.post(
        "/api/v1/conversations",
        json={"kind": "patient", "patient_id": thread.patient_id},
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    return response.json()["id"]


async def messages(thread: Thread, conversation: str) -> list[dict]:  # type: ignore[type-arg]
    page = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/messages",
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    return page.json()["messages"]


async def test_after_hours_a_patient_gets_the_clinics_reply_once(thread: Thread) -> None:
    await set_hours(
        thread,
        after_hours_reply="We are closed; we reply tomorrow. Emergency: 911.",
        **closed_now(thread.server.clock.now()),
    )
    conversation = await patient_thread(thread)
    patient = await thread.headers(Role.PATIENT)
    for body in ("Are you there?", "Hello?"):
        sent = await thread.server.client.post(
            f"/api/v1/conversations/{conversation}/messages", json={"body": body}, headers=patient
        )
        assert sent.status_code == 201
    kinds = [(m["kind"], m["body"]) for m in await messages(thread, conversation)]
    assert kinds == [
        ("user", "Are you there?"),
        ("auto_reply", "We are closed; we reply tomorrow. Emergency: 911."),
        ("user", "Hello?"),
    ]


async def test_no_reply_while_open_or_to_staff(thread: Thread) -> None:
    conversation = await patient_thread(thread)  # the test clinic is open around the clock
    await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": "Hi"},
        headers=await thread.headers(Role.PATIENT),
    )
    await set_hours(thread, **closed_now(thread.server.clock.now()))
    await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": "Staff note"},
        headers=await thread.headers(Role.PCP),
    )
    assert [m["kind"] for m in await messages(thread, conversation)] == ["user", "user"]


async def test_clinic_hours_are_validated(thread: Thread) -> None:
    admin = await thread.headers(Role.ADMIN)
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"clinic_opens": "18:00", "clinic_closes": "08:00"},
        {"clinic_days": "mon,funday"},
        {"clinic_opens": "25:00"},
        {"urgent_escalation_minutes": 1},
        {"on_call_user_id": thread.user_ids[Role.COMPLIANCE_OFFICER]},
    ):
        response = await thread.server.client.patch("/api/v1/organization", json=bad, headers=admin)
        assert response.status_code in {400, 422}, bad
    ok = await set_hours(thread, timezone="America/Chicago", clinic_opens="07:30")
    assert ok["timezone"] == "America/Chicago"


async def send_urgent(thread: Thread, conversation: str) -> dict:  # type: ignore[type-arg]
    response = await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": "I feel unsafe tonight", "priority": "urgent"},
        headers=await thread.headers(Role.PATIENT),
    )
    assert response.status_code == 201
    return response.json()


async def test_an_unread_urgent_message_is_escalated_once(thread: Thread) -> None:
    await set_hours(
        thread, urgent_escalation_minutes=30, on_call_user_id=thread.user_ids[Role.PSYCHIATRIST]
    )
    conversation = await patient_thread(thread)
    urgent = await send_urgent(thread, conversation)
    thread.server.clock.advance(timedelta(minutes=29))
    await escalate_due(thread.server.rt)
    assert [m["kind"] for m in await messages(thread, conversation)] == ["user"]
    thread.server.clock.advance(timedelta(minutes=2))
    await escalate_due(thread.server.rt)
    await escalate_due(thread.server.rt)  # a second pass (or instance) does nothing more
    notes = [m for m in await messages(thread, conversation) if m["kind"] == "system"]
    assert len(notes) == 1
    assert f"#{urgent['seq']}" in notes[0]["body"]
    psych = await thread.headers(Role.PSYCHIATRIST)
    joined = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/messages", headers=psych
    )
    assert joined.status_code == 200
    assert "I feel unsafe tonight" in [m["body"] for m in joined.json()["messages"]]


async def test_an_urgent_message_read_in_time_is_not_escalated(thread: Thread) -> None:
    await set_hours(thread, on_call_user_id=thread.user_ids[Role.PSYCHIATRIST])
    conversation = await patient_thread(thread)
    urgent = await send_urgent(thread, conversation)
    await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/read",
        json={"seq": urgent["seq"]},
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    thread.server.clock.advance(timedelta(hours=2))
    await escalate_due(thread.server.rt)
    assert [m["kind"] for m in await messages(thread, conversation)] == ["user"]
