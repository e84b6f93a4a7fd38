"""Property: whatever the interleaving of sends, disconnects and resumes, a client ends
with exactly the server's messages, in order, each delivered once per revision."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.realtime.conftest import Client, patient_thread

OPERATIONS = st.lists(st.sampled_from(["send", "drop", "resume"]), min_size=1, max_size=12)


class Follower:
    """A client that applies message frames to its own copy of the thread."""

    def __init__(self, client: Client, conversation: str) -> None:
        self.client = client
        self.conversation = conversation
        self.bodies: dict[int, str] = {}
        self.revision = 0
        self.connected = False
        self.deliveries: list[tuple[str, int]] = []

    def apply(self, frame: dict[str, Any]) -> None:
        message = frame["message"]
        self.deliveries.append((message["id"], frame["revision"]))
        self.bodies[message["seq"]] = message["body"]
        self.revision = max(self.revision, frame["revision"])

    async def connect(self) -> None:
        await self.client.connect()
        await self.client.send({"type": "resume", "cursors": {self.conversation: self.revision}})
        while (frame := await self.client.next())["type"] != "resumed":
            if frame["type"].startswith("message."):
                self.apply(frame)
        self.connected = True

    async def drop(self) -> None:
        await self.client.close()
        self.connected = False

    async def receive(self, count: int) -> None:
        for frame in await self.client.messages(count):
            self.apply(frame)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
async def test_any_interleaving_ends_with_the_servers_sequence(clients, operations) -> None:  # type: ignore[no-untyped-def]
    sender = await clients("care@example.org")
    conversation = await patient_thread(sender)
    follower = Follower(await clients("pcp@example.org"), conversation)
    await follower.connect()
    for n, operation in enumerate(operations):
        if operation == "send":
            sent = await sender.api(
                "POST",
                f"/api/v1/conversations/{conversation}/messages",
                json={"body": f"message {n}"},
            )
            assert sent.status_code == 201
            if follower.connected:
                await follower.receive(1)
        elif operation == "drop" and follower.connected:
            await follower.drop()
        elif operation == "resume" and not follower.connected:
            await follower.connect()
    if not follower.connected:
        await follower.connect()

    server = await sender.api(
        "GET", f"/api/v1/conversations/{conversation}/messages", params={"limit": 200}
    )
    expected = {m["seq"]: m["body"] for m in server.json()["messages"]}
    assert follower.bodies == expected
    assert len(follower.deliveries) == len(set(follower.deliveries))
    await follower.drop()
