"""Two `huddle serve` instances of one deployment: one PostgreSQL database (fresh for the
session, demo loaded once), one Redis, two ports. Clients sign in on either; tokens,
data and events are shared.

`cluster`: the same behind nginx over TLS (deploy/nginx/huddle.conf), on a PostgreSQL
cluster and a Redis of its own that the fault tests stop, restart and kill."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from tests.deploy.nginx import Nginx, require_nginx
from tests.live_server import (
    ServerProcess,
    another_port,
    load_demo,
    scaled_environment,
    server_environment,
)
from tests.realtime.conftest import Client
from tests.scale.own_services import OwnPostgres, OwnRedis
from tests.scale.traffic import Endpoint


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


@dataclass
class Cluster:
    postgres: OwnPostgres
    redis: OwnRedis
    servers: list[ServerProcess]
    nginx: Nginx

    @property
    def endpoint(self) -> Endpoint:
        tls = ssl.create_default_context(cafile=str(self.nginx.certificate))
        return Endpoint(self.nginx.base_url, self.nginx.ws_url, tls)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_nginx()
    home = tmp_path_factory.mktemp("cluster")
    with ExitStack() as cleanup:
        postgres = OwnPostgres()
        cleanup.callback(postgres.remove)
        postgres.start()
        redis = OwnRedis()
        cleanup.callback(redis.stop)
        redis.start()
        env = server_environment(home, HUDDLE_DATABASE_URL=postgres.url, HUDDLE_REDIS_URL=redis.url)
        load_demo(env)
        servers = [
            ServerProcess(env, home / "a.log"),
            ServerProcess(another_port(env), home / "b.log"),
        ]
        for server in servers:
            cleanup.callback(server.stop)
            server.start()
            server.wait_until_ready()
        nginx = Nginx(home / "nginx", [f"127.0.0.1:{s.env['HUDDLE_PORT']}" for s in servers])
        cleanup.callback(nginx.stop)
        nginx.start()
        yield Cluster(postgres, redis, servers, nginx)
