"""A conversation the server cannot read (a message under a data key whose KEK the
keyring lacks: not a HuddleError) must not take the others down with it when their
catch-ups share one batch (realtime/shared_reads.py)."""

from __future__ import annotations

import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from huddle.db import Database
from tests.live_server import ServerProcess
from tests.realtime.conftest import patient_thread
from tests.tampering import seal_under_a_missing_kek

CARE = "care@example.org"


async def test_a_resume_still_delivers_the_readable_conversations(
    realtime_server: ServerProcess,
    clients,  # type: ignore[no-untyped-def]
) -> None:
    care = await clients(CARE)
    broken, healthy = await patient_thread(care), await patient_thread(care)
    sent = {}
    for conversation in (broken, healthy):
        response = await care.api(
            "POST", f"/api/v1/conversations/{conversation}/messages", json={"body": "hello"}
        )
        assert response.status_code == 201, response.text
        sent[conversation] = response.json()["id"]
    database = Database(realtime_server.env["HUDDLE_DATABASE_URL"])
    try:
        await seal_under_a_missing_kek(database, uuid.UUID(sent[broken]))
    finally:
        await database.dispose()

    await care.connect()
    # One resume asks for both at once, so they are read in one batch.
    await care.send({"type": "resume", "cursors": {broken: 0, healthy: 0}})

    (delivered,) = await care.messages(1)
    assert delivered["conversation_id"] == healthy
    assert delivered["message"]["id"] == sent[healthy]
    with pytest.raises(ConnectionClosed):  # the unreadable one: a server error, told last
        await care.next()
