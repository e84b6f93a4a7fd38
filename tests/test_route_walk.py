"""Walks every route of the app. Each must be classified here, so a new route cannot
slip in unreviewed; every PHI route is then proven to refuse a missing token, the wrong
role and the wrong organization, and to write an audit event when it succeeds."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from huddle.actor import Role
from huddle.app import create_app
from huddle.protect.models import AuditEvent
from tests.conftest import Clinic, Server, bearer, make_clinic, sign_in
from tests.tasks.test_routes import TASK_ROUTES

PUBLIC = {
    ("GET", "/"),
    ("GET", "/{path:path}"),
    ("GET", "/assets/{file_path:path}"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/schema"),
    ("GET", "/schema/openapi.json"),
    ("GET", "/schema/scalar"),
    ("GET", "/schema/{path:str}"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/mfa"),
    ("POST", "/api/v1/auth/refresh"),
    # Browser sessions (cookies, CSRF): tests/identity/test_browser_session.py.
    ("POST", "/api/v1/auth/browser/login"),
    ("POST", "/api/v1/auth/browser/mfa"),
    ("POST", "/api/v1/auth/browser/refresh"),
    ("POST", "/api/v1/auth/browser/logout"),
}
# Signed-in, no PHI: covered route by route in tests/identity/test_admin.py.
ACCOUNT = {
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/me/password"),
    ("POST", "/api/v1/me/mfa/enrol"),
    ("POST", "/api/v1/me/mfa/confirm"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{user_id:uuid}"),
    ("POST", "/api/v1/users/{user_id:uuid}/deactivate"),
    ("POST", "/api/v1/users/{user_id:uuid}/reactivate"),
    ("POST", "/api/v1/users/{user_id:uuid}/mfa-reset"),
    # Names and roles of fellow clinicians: tests/identity/test_colleagues.py too.
    ("GET", "/api/v1/colleagues"),
    ("GET", "/api/v1/organization"),
    ("PATCH", "/api/v1/organization"),
}


# Caseloads (admins): counts only, never a patient, though a transfer changes care teams
# and is audited per patient. Covered in tests/care/test_caseloads.py: no token, every
# wrong role, other organizations, bad input, audit events.
CASELOADS = {
    ("GET", "/api/v1/caseloads"),
    ("POST", "/api/v1/caseloads/transfer"),
}


# The audit log itself (compliance officers) and a patient's own access log: checked
# route by route (no token, every wrong role, other organizations, self-audit) in
# tests/compliance/.
AUDIT_LOG = {
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/{seq:int}"),
    ("GET", "/api/v1/audit/export.csv"),
    ("GET", "/api/v1/audit/export.fhir"),
    ("GET", "/api/v1/audit/disclosures"),
    ("GET", "/api/v1/audit/verification"),
    ("GET", "/api/v1/audit/flagged"),
    ("GET", "/api/v1/audit/people"),
    ("GET", "/api/v1/me/access-log"),
}


# Secure links for patients: no sign-in (the link's token, then the link session's own
# token). Covered in tests/notify/test_links.py: unknown, expired and used links, wrong
# dates of birth and lockouts, other conversations, every use audited, no token logged.
PATIENT_LINKS = {
    ("POST", "/api/v1/patient-links/{token:str}/confirm"),
    ("GET", "/api/v1/patient-links/session/messages"),
    ("POST", "/api/v1/patient-links/session/messages"),
}


# Tasks and worklists: each route is walked (no token, wrong role, other organization,
# audited success) in tests/tasks/test_routes.py, against tasks in every state it needs.
TASKS = set(TASK_ROUTES)


@dataclass
class World:
    """A clinic with a patient on the PCP's care team, and a second clinic."""

    server: Server
    clinic: Clinic
    other: Clinic
    patient_id: str
    care_manager_id: str
    psychiatrist_id: str
    referral_id: str
    conversation_id: str
    message_id: str
    attachment_id: str

    async def headers(self, role: Role, clinic: Clinic | None = None) -> dict[str, str]:
        owner = clinic or self.clinic
        return bearer((await sign_in(self.server.client, owner.email(role)))["access_token"])


@dataclass(frozen=True)
class PhiRoute:
    allowed: Role  # a role that succeeds (for the world's patient)
    wrong_role: Role  # a role of the same clinic that must be refused
    # Threads answer non-participants 404 (they learn nothing); lists answer them
    # an empty list (200).
    refused_with: int = 403
    body: Callable[[World], dict[str, Any] | None] = lambda _world: None
    path_args: Callable[[World], dict[str, str]] = lambda w: {"patient_id": w.patient_id}
    # A collection answers another organization with an empty list rather than 404.
    collection: bool = False
    params: Callable[[World], dict[str, str]] = lambda _world: {}


def _new_patient(_world: World) -> dict[str, Any]:
    return {"full_name": "Route Walker", "date_of_birth": "1970-01-01", "mrn": uuid.uuid4().hex}


def _conversation(world: World) -> dict[str, str]:
    return {"conversation_id": world.conversation_id}


def _message(world: World) -> dict[str, str]:
    return {"message_id": world.message_id}


def _attachment(world: World) -> dict[str, str]:
    return {"attachment_id": world.attachment_id}


def _no_args(_world: World) -> dict[str, str]:
    return {}


PHI: dict[tuple[str, str], PhiRoute] = {
    ("POST", "/api/v1/referrals"): PhiRoute(
        Role.PCP,
        Role.ADMIN,
        body=lambda w: {
            "patient_id": w.patient_id,
            "receiving_service": "behavioral_health",
            "reason": "Anxiety, please assess",
        },
        path_args=_no_args,
    ),
    ("GET", "/api/v1/referrals"): PhiRoute(
        Role.PCP, Role.ADMIN, refused_with=200, path_args=_no_args, collection=True
    ),
    ("GET", "/api/v1/referrals/{referral_id:uuid}"): PhiRoute(
        Role.PCP, Role.ADMIN, path_args=lambda w: {"referral_id": w.referral_id}
    ),
    ("POST", "/api/v1/referrals/{referral_id:uuid}/status"): PhiRoute(
        Role.PCP,
        Role.COMPLIANCE_OFFICER,
        body=lambda _w: {"status": "accepted"},
        path_args=lambda w: {"referral_id": w.referral_id},
    ),
    ("GET", "/api/v1/conversations"): PhiRoute(
        Role.PCP, Role.ADMIN, refused_with=200, path_args=_no_args, collection=True
    ),
    ("POST", "/api/v1/conversations"): PhiRoute(
        Role.PCP,
        Role.ADMIN,
        body=lambda w: {
            "kind": "staff",
            "patient_id": w.patient_id,
            "member_ids": [w.care_manager_id],
        },
        path_args=_no_args,
    ),
    ("GET", "/api/v1/conversations/{conversation_id:uuid}"): PhiRoute(
        Role.PCP, Role.PSYCHIATRIST, refused_with=404, path_args=_conversation
    ),
    ("GET", "/api/v1/conversations/{conversation_id:uuid}/messages"): PhiRoute(
        Role.PCP, Role.PSYCHIATRIST, refused_with=404, path_args=_conversation
    ),
    ("GET", "/api/v1/conversations/{conversation_id:uuid}/changes"): PhiRoute(
        Role.PCP, Role.PSYCHIATRIST, refused_with=404, path_args=_conversation
    ),
    ("POST", "/api/v1/conversations/{conversation_id:uuid}/messages"): PhiRoute(
        Role.PCP,
        Role.PSYCHIATRIST,
        refused_with=404,
        body=lambda _w: {"body": "Checking in"},
        path_args=_conversation,
    ),
    ("POST", "/api/v1/conversations/{conversation_id:uuid}/read"): PhiRoute(
        Role.PCP,
        Role.PSYCHIATRIST,
        refused_with=404,
        body=lambda _w: {"seq": 3},
        path_args=_conversation,
    ),
    ("POST", "/api/v1/conversations/{conversation_id:uuid}/attachments"): PhiRoute(
        Role.PCP,
        Role.PSYCHIATRIST,
        refused_with=404,
        body=lambda _w: {"note": "sent as JSON, which is UTF-8 text: an allowed type"},
        path_args=_conversation,
        params=lambda _w: {"filename": "note.txt"},
    ),
    ("GET", "/api/v1/conversations/{conversation_id:uuid}/attachments"): PhiRoute(
        Role.PCP, Role.PSYCHIATRIST, refused_with=404, path_args=_conversation
    ),
    ("GET", "/api/v1/attachments/{attachment_id:uuid}"): PhiRoute(
        Role.PCP, Role.PSYCHIATRIST, refused_with=404, path_args=_attachment
    ),
    ("PATCH", "/api/v1/messages/{message_id:uuid}"): PhiRoute(
        Role.PCP,
        Role.PSYCHIATRIST,
        refused_with=404,
        body=lambda _w: {"body": "Corrected"},
        path_args=_message,
    ),
    ("DELETE", "/api/v1/messages/{message_id:uuid}"): PhiRoute(
        Role.PCP, Role.PSYCHIATRIST, refused_with=404, path_args=_message
    ),
    ("GET", "/api/v1/messages/{message_id:uuid}/history"): PhiRoute(
        Role.PCP, Role.PSYCHIATRIST, refused_with=404, path_args=_message
    ),
    ("GET", "/api/v1/patients"): PhiRoute(
        Role.PCP, Role.ADMIN, path_args=lambda _w: {}, collection=True
    ),
    ("POST", "/api/v1/patients"): PhiRoute(
        Role.PCP, Role.ADMIN, body=_new_patient, path_args=lambda _w: {}, collection=True
    ),
    ("GET", "/api/v1/patients/{patient_id:uuid}"): PhiRoute(Role.PCP, Role.ADMIN),
    ("PATCH", "/api/v1/patients/{patient_id:uuid}"): PhiRoute(
        Role.PCP, Role.COMPLIANCE_OFFICER, body=lambda _w: {"phone": "555 010 3333"}
    ),
    ("DELETE", "/api/v1/patients/{patient_id:uuid}"): PhiRoute(Role.ADMIN, Role.PCP),
    ("GET", "/api/v1/patients/{patient_id:uuid}/care-team"): PhiRoute(Role.PCP, Role.ADMIN),
    ("POST", "/api/v1/patients/{patient_id:uuid}/care-team"): PhiRoute(
        Role.PCP,
        Role.PSYCHIATRIST,
        body=lambda w: {"user_id": w.psychiatrist_id, "team_role": "psychiatrist"},
    ),
    ("DELETE", "/api/v1/patients/{patient_id:uuid}/care-team/{user_id:uuid}"): PhiRoute(
        Role.PCP,
        Role.PSYCHIATRIST,
        path_args=lambda w: {"patient_id": w.patient_id, "user_id": w.care_manager_id},
    ),
    ("POST", "/api/v1/patients/{patient_id:uuid}/break-glass"): PhiRoute(
        Role.PSYCHIATRIST,
        Role.ADMIN,
        body=lambda _w: {"reason": "Covering the crisis line tonight"},
    ),
}


def app_routes(settings) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    return {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ())
        if method not in {"OPTIONS", "HEAD"}
    }


def test_every_route_is_classified(settings) -> None:  # type: ignore[no-untyped-def]
    routes = app_routes(settings)
    classified = set(PHI) | ACCOUNT | CASELOADS | PUBLIC | AUDIT_LOG | PATIENT_LINKS | TASKS
    unclassified = routes - classified
    assert not unclassified, f"classify these routes in {__file__}: {sorted(unclassified)}"
    assert not classified - routes, "the table names routes that are gone"


@pytest.fixture
async def world(server: Server, clinic: Clinic) -> World:
    other = await make_clinic(server.rt, "Elsewhere")
    pcp = bearer((await sign_in(server.client, clinic.email(Role.PCP)))["access_token"])
    created = await server.client.post(
        "/api/v1/patients",
        json={"full_name": "Walk Patient", "date_of_birth": "1980-02-02", "mrn": uuid.uuid4().hex},
        headers=pcp,
    )
    admin = bearer((await sign_in(server.client, clinic.email(Role.ADMIN)))["access_token"])
    users = (await server.client.get("/api/v1/users", headers=admin)).json()["users"]
    care_manager = next(u["id"] for u in users if u["role"] == "care_manager")
    psychiatrist = next(u["id"] for u in users if u["role"] == "psychiatrist")
    patient_id = created.json()["id"]
    referral = await server.client.post(
        "/api/v1/referrals",
        json={
            "patient_id": patient_id,
            "receiving_service": "care_management",
            "receiving_user_id": care_manager,
            "reason": "Review",
        },
        headers=pcp,
    )
    conversation_id = referral.json()["conversation_id"]
    messages = f"/api/v1/conversations/{conversation_id}/messages"
    message = await server.client.post(messages, json={"body": "Hi"}, headers=pcp)  # seq 2
    care = bearer((await sign_in(server.client, clinic.email(Role.CARE_MANAGER)))["access_token"])
    await server.client.post(messages, json={"body": "Hello"}, headers=care)  # seq 3: unread
    attachment = await server.client.post(
        f"/api/v1/conversations/{conversation_id}/attachments",
        params={"filename": "scan.pdf"},
        content=b"%PDF-1.7\n%walk\n",
        headers=pcp,
    )
    return World(
        server,
        clinic,
        other,
        patient_id,
        care_manager,
        psychiatrist,
        referral.json()["id"],
        conversation_id,
        message.json()["id"],
        attachment.json()["id"],
    )


async def call(
    world: World, key: tuple[str, str], headers: dict[str, str] | None
) -> Any:  # httpx.Response
    method, template = key
    spec = PHI[key]
    path = template
    for name, value in spec.path_args(world).items():
        path = path.replace(f"{{{name}:uuid}}", value)
    assert "{" not in path, f"no value for a parameter of {template}"
    return await world.server.client.request(
        method, path, json=spec.body(world), params=spec.params(world), headers=headers or {}
    )


PHI_KEYS = sorted(PHI)
Check = Callable[[World, tuple[str, str]], Awaitable[None]]


@pytest.mark.parametrize("key", PHI_KEYS, ids=[f"{m} {p}" for m, p in PHI_KEYS])
async def test_phi_route_refuses_a_missing_token(world: World, key: tuple[str, str]) -> None:
    response = await call(world, key, None)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


@pytest.mark.parametrize("key", PHI_KEYS, ids=[f"{m} {p}" for m, p in PHI_KEYS])
async def test_phi_route_refuses_the_wrong_role(world: World, key: tuple[str, str]) -> None:
    response = await call(world, key, await world.headers(PHI[key].wrong_role))
    assert response.status_code == PHI[key].refused_with, response.text
    assert "Walk Patient" not in response.text
    assert world.patient_id not in response.text


@pytest.mark.parametrize("key", PHI_KEYS, ids=[f"{m} {p}" for m, p in PHI_KEYS])
async def test_phi_route_never_reaches_another_organization(
    world: World, key: tuple[str, str]
) -> None:
    stranger = await world.headers(PHI[key].allowed, world.other)
    response = await call(world, key, stranger)
    if PHI[key].collection:
        assert response.status_code in {200, 201}
        assert "Walk Patient" not in response.text
    else:
        assert response.status_code == 404, response.text


@pytest.mark.parametrize("key", PHI_KEYS, ids=[f"{m} {p}" for m, p in PHI_KEYS])
async def test_phi_route_success_is_audited(world: World, key: tuple[str, str]) -> None:
    response = await call(world, key, await world.headers(PHI[key].allowed))
    assert response.status_code in {200, 201, 204}, response.text
    async with world.server.rt.db.transaction() as db:
        events = (
            await db.scalars(
                select(AuditEvent).where(AuditEvent.request_id == response.headers["x-request-id"])
            )
        ).all()
    assert events, "no audit event for this PHI access"
    assert all(e.outcome == "success" for e in events)
    assert all(e.patient_id is not None for e in events)
    assert all(e.organization_id == world.clinic.organization_id for e in events)
