"""Shared fixtures: a migrated database per backend (SQLite, PostgreSQL) per session, a
fresh app per test with a movable clock, and organizations made through the services.

Tests isolate by organization rather than by truncating tables: every test makes its
own clinic with unique e-mails, exactly as two tenants share one real server.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar import Litestar

from huddle import migrate
from huddle.actor import STAFF_ROLES, Actor, RequestContext, Role
from huddle.app import create_app
from huddle.clock import ManualClock
from huddle.config import PasswordHashing, Settings
from huddle.identity import accounts
from huddle.identity.models import User
from huddle.identity.tokens import SigningKeys
from huddle.protect.keyring import KeyringContents, write_keyring_file
from huddle.runtime import Runtime
from tests.services import (
    POSTGRES_URL,
    plain_postgres_dsn,
    postgres_problem,
    run_sync,
    skip_or_fail,
)

PASSWORD = "maple-orbit-candle-river"
# Cheap Argon2 so the suite spends its time on behaviour, not hashing.
FAST_HASHING = PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1, max_concurrent=4)
_addresses = itertools.count(1)


def pytest_report_header() -> list[str]:
    problem = postgres_problem()
    postgres = "PostgreSQL: " + (problem or f"using {POSTGRES_URL.rsplit('@', 1)[-1]}")
    return [postgres]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly which parts of the suite did not run, and why."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ") if report.longrepr else "?"
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("parts of the suite that did not run")
        for reason, count in sorted(reasons.items()):
            terminalreporter.write_line(f"{count} tests skipped: {reason}")
        terminalreporter.write_line(
            "Set HUDDLE_TEST_REQUIRE_SERVICES=1 to make missing services fail (as CI does)."
        )


@pytest.fixture(scope="session")
def signing_keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "signing-keys.json"
    SigningKeys.generate().save(path)
    return path


@pytest.fixture(scope="session")
def keyring_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "keyring.json"
    write_keyring_file(path, KeyringContents.generate())
    return path


def new_postgres_database() -> tuple[str, str]:
    """Create an empty database; returns (its URL, its name)."""
    name = f"huddle_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        connection = await asyncpg.connect(plain_postgres_dsn(POSTGRES_URL))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    run_sync(asyncio.run, create())
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}", name


def drop_postgres_database(name: str) -> None:
    async def drop() -> None:
        connection = await asyncpg.connect(plain_postgres_dsn(POSTGRES_URL))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    run_sync(asyncio.run, drop())


@pytest.fixture(scope="session")
def empty_database_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Makes empty databases of a backend; drops the PostgreSQL ones at the end."""
    dropped: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("db") / "huddle.db"
            return f"sqlite+aiosqlite:///{path}"
        if problem := postgres_problem():
            skip_or_fail(problem)
        url, name = new_postgres_database()
        dropped.append(name)
        return url

    yield make
    for name in dropped:
        drop_postgres_database(name)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, empty_database_factory) -> str:  # type: ignore[no-untyped-def]
    """A database at the migration head, once per backend per test session."""
    url = empty_database_factory(request.param)
    run_sync(migrate.upgrade, url)
    return url


@pytest.fixture
def settings(
    database_url: str, signing_keys_file: Path, keyring_file: Path, tmp_path: Path
) -> Settings:
    return Settings(
        database_url=database_url,
        signing_keys_file=signing_keys_file,
        keyring_file=keyring_file,
        password_hashing=FAST_HASHING,
        web_dist_dir=tmp_path / "no-web-client",
        blob_dir=tmp_path / "blobs",
        # Tests drive scheduled work themselves; a background job would race them.
        background_jobs=False,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@dataclass
class Server:
    """An app under test, its movable clock, and a client from its own address."""

    app: Litestar
    clock: ManualClock
    client: httpx.AsyncClient
    address: str
    _opened: list[object] = field(default_factory=list)

    @property
    def rt(self) -> Runtime:
        return self.app.state.runtime


def next_address() -> str:
    """A distinct client address per client, so per-address throttling stays per test."""
    n = next(_addresses)
    return f"10.{os.getpid() % 250}.{n // 250}.{n % 250 + 1}"


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """Run the app's startup and shutdown hooks. The lifespan lives in a task of its
    own: pytest-asyncio sets a fixture up and tears it down in different tasks, and
    anyio cancel scopes must be left in the task that entered them."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED")
    if task.done():
        task.result()  # startup failed: raise its error here
    try:
        yield
    finally:
        stop.set()
        await task


async def open_server(settings: Settings, clock: ManualClock) -> AsyncIterator[Server]:
    app = create_app(settings, clock=clock)
    address = next_address()
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with (
        running(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield Server(app, clock, client, address)


@pytest.fixture
async def server(settings: Settings, clock: ManualClock) -> AsyncIterator[Server]:
    async for opened in open_server(settings, clock):
        yield opened


def client_from_new_address(server: Server) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=server.app, client=(next_address(), 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@dataclass
class Clinic:
    """An organization made for one test, with one user per staff role."""

    organization_id: uuid.UUID
    emails: dict[Role, str]

    def email(self, role: Role) -> str:
        return self.emails[role]


ALWAYS_OPEN = accounts.OrganizationChanges(
    clinic_days="mon,tue,wed,thu,fri,sat,sun", clinic_opens="00:00", clinic_closes="24:00"
)


def acting_as(user: User) -> Actor:
    """An actor for set-up done on a user's behalf outside any sign-in."""
    return Actor(user.id, user.organization_id, Role(user.role), uuid.uuid4(), RequestContext())


async def make_clinic(rt: Runtime, name: str = "Test clinic") -> Clinic:
    """An organization with one user per staff role. Its clinic is open around the
    clock, so after-hours replies appear only in the tests that close it."""
    tag = uuid.uuid4().hex[:10]
    emails = {role: f"{role.value}.{tag}@clinic-{tag}.test" for role in STAFF_ROLES}
    users = [
        accounts.NewUser(email, f"{role.value} {tag}", role, PASSWORD)
        for role, email in emails.items()
    ]
    org, created = await accounts.create_organization(rt, name, users)
    admin = next(user for user in created if user.role == Role.ADMIN)
    await accounts.update_organization(rt, acting_as(admin), ALWAYS_OPEN)
    return Clinic(org.id, emails)


@pytest.fixture
async def clinic(server: Server) -> Clinic:
    return await make_clinic(server.rt)


@pytest.fixture
async def other_clinic(server: Server) -> Clinic:
    return await make_clinic(server.rt, "Another clinic")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, str]:
    """Log in (no MFA) and return the token response; fails the test on any error."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "access_token" in body, body
    return body


def with_settings(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)  # type: ignore[arg-type]
