"""The `huddle` command as an operator runs it: real processes, real files."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from huddle.demo import DEMO_PATIENTS
from tests.services import plain_postgres_dsn, run_sync

HUDDLE = str(Path(sys.executable).with_name("huddle"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUDDLE_")}
    return clean | {
        "HUDDLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/huddle.db",
        "HUDDLE_SIGNING_KEYS_FILE": str(tmp_path / "secrets" / "keys.json"),
        "HUDDLE_KEYRING_FILE": str(tmp_path / "secrets" / "keyring.json"),
        "HUDDLE_ARGON2_TIME_COST": "1",
        "HUDDLE_ARGON2_MEMORY_KIB": "1024",
        "HUDDLE_ARGON2_PARALLELISM": "1",
    }


def huddle(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUDDLE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def ok(env: dict[str, str], *args: str) -> str:
    result = huddle(env, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_bad_setting_stops_the_server_with_one_line_naming_it(env: dict[str, str]) -> None:
    result = huddle(env | {"HUDDLE_PORT": "eighty"}, "serve")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "huddle: configuration error: HUDDLE_PORT: must be a whole number from 1 to 65535, "
        "got 'eighty'"
    ]


def test_the_server_refuses_to_start_without_signing_keys(env: dict[str, str]) -> None:
    result = huddle(env, "serve")
    assert result.returncode == 2
    assert "signing-keys init" in result.stderr


def test_first_run_set_up_then_a_second_run_keeps_the_data(env: dict[str, str]) -> None:
    for _ in range(2):  # the second run keeps the files
        ok(env, "signing-keys", "init", "--if-missing")
        ok(env, "keys", "init", "--if-missing")
    missing = huddle(env, "db", "current")
    assert missing.returncode == 2
    assert missing.stderr.startswith("huddle: cannot use the database")
    ok(env, "db", "upgrade")
    assert "(at head)" in ok(env, "db", "current")
    first = ok(env, "demo", "--if-empty")
    assert "pcp@example.org" in first
    assert "correct-violet-lantern-7" in first
    second = ok(env, "demo", "--if-empty")
    assert "already present" in second
    ok(env, "db", "upgrade")  # idempotent


def test_the_server_refuses_a_database_that_cannot_be_in_wal_mode(
    env: dict[str, str], tmp_path: Path
) -> None:
    """SQLite's dotfile locking has no shared memory, so no WAL: as on a network
    filesystem, where the server must not run (docs/architecture.md)."""
    ok(env, "signing-keys", "init")
    ok(env, "keys", "init")
    (tmp_path / "data").mkdir()
    url = f"sqlite+aiosqlite:///file:{tmp_path}/data/huddle.db?vfs=unix-dotfile&uri=true"
    result = huddle(env | {"HUDDLE_DATABASE_URL": url}, "serve")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("huddle: SQLite left the database in 'delete' journal mode, not WAL")
    assert "Put the database file on a local disk, or use PostgreSQL" in line


def test_demo_password_comes_from_the_environment(env: dict[str, str]) -> None:
    ok(env, "signing-keys", "init")
    ok(env, "keys", "init")
    ok(env, "db", "upgrade")
    out = ok(env | {"HUDDLE_DEMO_PASSWORD": "granite-comet-whistle-4"}, "demo")
    assert "granite-comet-whistle-4" in out


def test_demo_data_is_never_loaded_in_production(env: dict[str, str]) -> None:
    prod = env | {"HUDDLE_ENV": "production", "HUDDLE_PUBLIC_URL": "https://huddle.example.org"}
    result = huddle(prod, "demo")
    assert result.returncode == 2
    assert "production" in result.stderr


def test_org_create_makes_an_admin_and_rejects_a_weak_password(env: dict[str, str]) -> None:
    ok(env, "signing-keys", "init")
    ok(env, "keys", "init")
    ok(env, "db", "upgrade")
    args = ("org", "create", "--name", "Valley Clinic", "--admin-name", "Val Admin")
    weak = huddle(env | {"HUDDLE_ADMIN_PASSWORD": "short"}, *args, "--admin-email", "a@v.test")
    assert weak.returncode == 2
    assert "at least 15 characters" in weak.stderr
    made = ok(
        env | {"HUDDLE_ADMIN_PASSWORD": "lilac-meadow-spoon-31"}, *args, "--admin-email", "a@v.test"
    )
    assert "created with admin a@v.test" in made


def test_signing_keys_rotate_list_and_retire(env: dict[str, str]) -> None:
    ok(env, "signing-keys", "init")
    first = ok(env, "signing-keys", "list").split()[0]
    ok(env, "signing-keys", "rotate")
    listing = ok(env, "signing-keys", "list").splitlines()
    assert len(listing) == 2
    assert listing[0] == first
    assert listing[1].endswith("(active)")
    assert huddle(env, "signing-keys", "retire", listing[1].split()[0]).returncode == 2
    ok(env, "signing-keys", "retire", first)
    assert len(ok(env, "signing-keys", "list").splitlines()) == 1
    assert huddle(env, "signing-keys", "init").returncode == 2  # never overwrites


def test_serve_answers_a_real_sign_in(env: dict[str, str], tmp_path: Path) -> None:
    for step in (("signing-keys", "init"), ("keys", "init"), ("db", "upgrade"), ("demo",)):
        ok(env, *step)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [HUDDLE, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "server did not become ready in 30 s"
            time.sleep(0.1)
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"email": "pcp@example.org", "password": "correct-violet-lantern-7"},
        )
        assert login.status_code == 200
        me = httpx.get(
            f"{base}/api/v1/me",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        assert me.json()["user"]["display_name"] == "Dr. Priya Chandra"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
    logged = (tmp_path / "server.log").read_text()
    assert "correct-violet-lantern-7" not in logged
    assert login.json()["access_token"] not in logged


def set_up_demo(env: dict[str, str]) -> None:
    for step in (("signing-keys", "init"), ("keys", "init"), ("db", "upgrade"), ("demo",)):
        ok(env, *step)


def test_keys_rotate_and_audit_verify_on_demo_data(env: dict[str, str], tmp_path: Path) -> None:
    set_up_demo(env)
    old_kek = ok(env, "keys", "status").split(":")[0]
    exported = tmp_path / "outside" / "checkpoint.json"
    assert "written to" in ok(env, "audit", "checkpoint", "--export", str(exported))

    before = ok(env, "keys", "status")
    data_keys = int(re.search(r"wraps (\d+) data keys", before).group(1))  # type: ignore[union-attr]
    assert data_keys >= 12  # one per demo patient, and per conversation
    rotated = ok(env, "keys", "rotate")
    assert f"re-wrapped {data_keys} data keys" in rotated
    status = ok(env, "keys", "status").splitlines()
    assert any(line.endswith(f"wraps {data_keys} data keys  (active)") for line in status)
    assert f"{old_kek}: wraps 0 data keys" in status
    ok(env, "keys", "retire", old_kek)

    verified = ok(env, "audit", "verify", "--checkpoint", str(exported))
    assert "audit log intact" in verified

    database = env["HUDDLE_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(database) as raw:  # an attacker with the database file
        raw.execute("DROP TRIGGER audit_events_no_update")
        raw.execute("UPDATE audit_events SET actor_role = 'admin' WHERE seq = 7")
    damaged = huddle(env, "audit", "verify", "--checkpoint", str(exported))
    assert damaged.returncode == 1
    assert "event 7" in damaged.stderr


DEMO_IDENTIFIERS = [
    identifier
    for name, _born, mrn, phone, _label in DEMO_PATIENTS
    for identifier in (name, name.split()[-1], mrn, phone)
]


def test_no_patient_identifier_is_stored_in_plaintext_on_sqlite(env: dict[str, str]) -> None:
    set_up_demo(env)
    database = Path(env["HUDDLE_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))
    raw = b"".join(
        path.read_bytes() for path in database.parent.glob(database.name + "*") if path.is_file()
    )
    assert raw  # the file (and any WAL) was read
    for identifier in DEMO_IDENTIFIERS:
        assert identifier.encode() not in raw, identifier


def test_no_patient_identifier_is_stored_in_plaintext_on_postgresql(
    env: dict[str, str], empty_database_factory
) -> None:  # type: ignore[no-untyped-def]
    url = empty_database_factory("postgresql")
    set_up_demo(env | {"HUDDLE_DATABASE_URL": url})

    async def every_row_as_text() -> str:
        connection = await asyncpg.connect(plain_postgres_dsn(url))
        try:
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
            rows = []
            for table in tables:
                name = table["tablename"]
                rows += await connection.fetch(f'SELECT t::text AS row FROM "{name}" t')  # noqa: S608
            return "\n".join(r["row"] for r in rows)
        finally:
            await connection.close()

    dump = run_sync(asyncio.run, every_row_as_text())
    assert len(dump) > 1000
    for identifier in DEMO_IDENTIFIERS:
        assert identifier not in dump, identifier
    # bytea columns print as hex: look for the hex of each identifier too.
    for identifier in DEMO_IDENTIFIERS:
        assert identifier.encode().hex() not in dump, identifier
