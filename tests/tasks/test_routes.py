"""Every tasks endpoint refuses a missing token, the wrong role and another organization,
and audits its success (tests/test_route_walk.py points here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from huddle.actor import Role
from huddle.protect.models import AuditEvent
from tests.conftest import bearer, make_clinic, sign_in
from tests.tasks.conftest import Ward


@dataclass
class Walk:
    ward: Ward
    open_task: str  # assigned to the care manager, open
    done_task: str  # the care manager's, done
    queued_task: str  # waiting in the care managers' queue


@dataclass(frozen=True)
class Route:
    allowed: Role
    wrong_role: Role
    refused_with: int  # for the wrong role: 403, or 404 (may not see it), or 200 (empty list)
    path: Callable[[Walk], str]
    body: Callable[[Walk], dict[str, Any] | None] = lambda _w: None
    params: dict[str, str] | None = None


def _patient(w: Walk) -> dict[str, Any]:
    return {"patient_id": w.ward.thread.patient_id, "title": "Schedule a PHQ-9"}


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/api/v1/tasks"): Route(
        Role.PCP, Role.ADMIN, 403, lambda _w: "/api/v1/tasks", _patient
    ),
    ("GET", "/api/v1/tasks"): Route(Role.PCP, Role.ADMIN, 200, lambda _w: "/api/v1/tasks"),
    ("POST", "/api/v1/tasks/warm-handoffs"): Route(
        Role.PCP,
        Role.CARE_MANAGER,
        403,
        lambda _w: "/api/v1/tasks/warm-handoffs",
        lambda w: {"patient_id": w.ward.thread.patient_id},
    ),
    ("GET", "/api/v1/tasks/{task_id:uuid}"): Route(
        Role.PCP, Role.PSYCHIATRIST, 404, lambda w: f"/api/v1/tasks/{w.open_task}"
    ),
    ("PATCH", "/api/v1/tasks/{task_id:uuid}"): Route(
        Role.CARE_MANAGER,
        Role.PSYCHIATRIST,
        404,
        lambda w: f"/api/v1/tasks/{w.open_task}",
        lambda _w: {"priority": "urgent"},
    ),
    ("POST", "/api/v1/tasks/{task_id:uuid}/status"): Route(
        Role.CARE_MANAGER,
        Role.PCP,
        403,
        lambda w: f"/api/v1/tasks/{w.open_task}/status",
        lambda _w: {"status": "accepted"},
    ),
    ("POST", "/api/v1/tasks/{task_id:uuid}/reopen"): Route(
        Role.CARE_MANAGER,
        Role.PSYCHIATRIST,
        404,
        lambda w: f"/api/v1/tasks/{w.done_task}/reopen",
        lambda _w: {},
    ),
    ("POST", "/api/v1/tasks/{task_id:uuid}/claim"): Route(
        Role.CARE_MANAGER, Role.PSYCHIATRIST, 404, lambda w: f"/api/v1/tasks/{w.queued_task}/claim"
    ),
    ("POST", "/api/v1/tasks/{task_id:uuid}/comments"): Route(
        Role.PCP,
        Role.PSYCHIATRIST,
        404,
        lambda w: f"/api/v1/tasks/{w.open_task}/comments",
        lambda _w: {"body": "Called, no answer"},
    ),
    ("POST", "/api/v1/messages/{message_id:uuid}/task"): Route(
        Role.CARE_MANAGER,
        Role.PSYCHIATRIST,
        404,
        lambda w: f"/api/v1/messages/{w.ward.message_id}/task",
        lambda _w: {"title": "Follow up"},
    ),
}
TASK_ROUTES = frozenset(ROUTES)


@pytest.fixture
async def walk(ward: Ward) -> Walk:
    cm = ward.user_id(Role.CARE_MANAGER)
    open_task = await ward.task_from_message(role=Role.PCP, assignee_user_id=cm)
    done = await ward.task_from_message(role=Role.PCP, assignee_user_id=cm)
    for status in ("accepted", "done"):
        assert (await ward.move(done["id"], Role.CARE_MANAGER, status)).status_code == 200
    queued = await ward.task_from_message(role=Role.PCP, assignee_role="care_manager")
    return Walk(ward, open_task["id"], done["id"], queued["id"])


async def _call(walk: Walk, key: tuple[str, str], headers: dict[str, str]) -> Any:
    route = ROUTES[key]
    return await walk.ward.client.request(
        key[0], route.path(walk), json=route.body(walk), params=route.params, headers=headers
    )


KEYS = sorted(ROUTES)


@pytest.mark.parametrize("key", KEYS, ids=[f"{m} {p}" for m, p in KEYS])
async def test_task_route_refuses_strangers_and_audits_success(
    walk: Walk, key: tuple[str, str]
) -> None:
    ward, route = walk.ward, ROUTES[key]

    no_token = await _call(walk, key, {})
    assert no_token.status_code == 401
    assert no_token.json()["error"]["code"] == "missing_token"

    wrong_role = await _call(walk, key, await ward.headers(route.wrong_role))
    assert wrong_role.status_code == route.refused_with, wrong_role.text
    assert "Farouk" not in wrong_role.text
    if route.refused_with == 200:
        assert wrong_role.json()["tasks"] == []

    other = await make_clinic(ward.server.rt, "Elsewhere")
    stranger = bearer((await sign_in(ward.client, other.email(route.allowed)))["access_token"])
    elsewhere = await _call(walk, key, stranger)
    if key == ("GET", "/api/v1/tasks"):
        assert elsewhere.status_code == 200
        assert elsewhere.json()["tasks"] == []
    else:
        assert elsewhere.status_code == 404, elsewhere.text

    success = await _call(walk, key, await ward.headers(route.allowed))
    assert success.status_code in {200, 201}, success.text
    async with ward.server.rt.db.transaction() as db:
        events = (
            await db.scalars(
                select(AuditEvent).where(AuditEvent.request_id == success.headers["x-request-id"])
            )
        ).all()
    assert events, "no audit event for this PHI access"
    assert all(e.outcome == "success" for e in events)
    assert all(e.patient_id is not None for e in events)
    assert all(e.organization_id == ward.clinic.organization_id for e in events)
