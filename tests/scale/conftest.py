"""Two `huddle serve` instances of one deployment: one PostgreSQL database (fresh for the
session, demo loaded once), one Redis, two ports. Clients sign in on either; tokens,
data and events are shared."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.live_server import ServerProcess, another_port, load_demo, scaled_environment
from tests.realtime.conftest import Client


@dataclass
class Deployment:
    a: ServerProcess
    b: ServerProcess


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("scale")
    with scaled_environment(home) as env:
        load_demo(env)
        a = ServerProcess(env, home / "a.log")
        b = ServerProcess(another_port(env), home / "b.log")
        try:
            for server in (a, b):
                server.start()
                server.wait_until_ready()
            yield Deployment(a, b)
        finally:
            for server in (a, b):
                server.stop()


@pytest.fixture
async def clients(deployment: Deployment) -> AsyncIterator[Callable[..., Any]]:
    """`await clients(email, on=server)`: signed in through that instance."""
    opened: list[Client] = []

    async def make(email: str, *, on: ServerProcess) -> Client:
        client = await Client(on, email).sign_in()
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.close()
