"""A referral thread about a patient (PCP and care manager on the care team) with the
PCP's message in it, and helpers to make and move tasks over REST."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from huddle.actor import Role
from tests.conftest import PASSWORD, Clinic, Server, bearer, sign_in
from tests.messaging.conftest import Thread, thread  # noqa: F401  (the fixture)

PCP_MESSAGE = "Ms Farouk mentioned panic attacks at work; can someone call her this week?"


@dataclass
class Ward:
    thread: Thread
    conversation_id: str
    message_id: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.thread.server.client

    @property
    def server(self) -> Server:
        return self.thread.server

    @property
    def clinic(self) -> Clinic:
        return self.thread.clinic

    def user_id(self, role: Role) -> str:
        return self.thread.user_ids[role]

    async def headers(self, role: Role) -> dict[str, str]:
        return await self.thread.headers(role)

    async def task_from_message(self, role: Role = Role.CARE_MANAGER, **body: Any) -> dict:  # type: ignore[type-arg]
        response = await self.client.post(
            f"/api/v1/messages/{self.message_id}/task",
            json={"title": "Call Ms Farouk about panic attacks", "kind": "call_patient", **body},
            headers=await self.headers(role),
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def move(self, task_id: str, role: Role, status: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/tasks/{task_id}/status",
            json={"status": status, **body},
            headers=await self.headers(role),
        )

    async def thread_messages(self, role: Role = Role.PCP) -> list[dict]:  # type: ignore[type-arg]
        page = await self.client.get(
            f"/api/v1/conversations/{self.conversation_id}/messages",
            params={"limit": 200},
            headers=await self.headers(role),
        )
        assert page.status_code == 200, page.text
        return page.json()["messages"]

    async def add_user(self, role: Role) -> tuple[str, dict[str, str]]:
        """Another active user of the clinic in `role`: (id, headers)."""
        email = f"{role.value}.{uuid.uuid4().hex[:8]}@clinic.test"
        admin = await self.headers(Role.ADMIN)
        created = await self.client.post(
            "/api/v1/users",
            json={
                "email": email,
                "display_name": f"Second {role.value}",
                "role": role.value,
                "password": PASSWORD,
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        token = (await sign_in(self.client, email))["access_token"]
        return created.json()["id"], bearer(token)


@pytest.fixture
async def ward(thread: Thread) -> Ward:  # noqa: F811
    referral = await thread.refer()
    conversation_id = referral["conversation_id"]
    sent = await thread.server.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": PCP_MESSAGE},
        headers=await thread.headers(Role.PCP),
    )
    assert sent.status_code == 201, sent.text
    return Ward(thread, conversation_id, sent.json()["id"])
