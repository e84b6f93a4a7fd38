"""The restore drill of docs/operations.md, for real: back up a serving SQLite database
online and the keys directory apart from it, restore both into a fresh directory, and
read an encrypted message back through the API of a server started there. Without the
keyring, the same backup is ciphertext nobody can read."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import httpx

from tests.live_server import (
    DEMO_PASSWORD,
    ServerProcess,
    load_demo,
    run_huddle,
    server_environment,
)
from tests.realtime.conftest import MARIA

DRILL_TEXT = "Restore drill: PHQ-9 follow-up moved to Thursday"


def database_file(env: dict[str, str]) -> Path:
    return Path(env["HUDDLE_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))


def online_backup(source: Path, target: Path) -> None:
    """SQLite's online backup (what `sqlite3 huddle.db ".backup FILE"` does): a
    consistent copy while the server keeps writing."""
    live, copy = sqlite3.connect(source), sqlite3.connect(target)
    try:
        live.backup(copy)
    finally:
        live.close()
        copy.close()


def sign_in(http: httpx.Client, email: str) -> dict[str, str]:
    login = http.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def write_drill_message(server: ServerProcess) -> str:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        headers = sign_in(http, "care@example.org")
        patients = http.get("/api/v1/patients", params={"mrn": MARIA}, headers=headers)
        thread = http.post(
            "/api/v1/conversations",
            json={"kind": "patient", "patient_id": patients.json()["patients"][0]["id"]},
            headers=headers,
        )
        conversation = thread.json()["id"]
        sent = http.post(
            f"/api/v1/conversations/{conversation}/messages",
            json={"body": DRILL_TEXT},
            headers=headers,
        )
        assert sent.status_code == 201, sent.text
    return conversation


def read_bodies(server: ServerProcess, conversation: str) -> list[str]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        headers = sign_in(http, "pcp@example.org")
        page = http.get(f"/api/v1/conversations/{conversation}/messages", headers=headers)
    assert page.status_code == 200, page.text
    return [message["body"] for message in page.json()["messages"]]


def test_a_backup_of_database_and_keys_restores_into_a_fresh_directory(tmp_path: Path) -> None:
    # The clinic as it runs: keys in secrets/, data in var/.
    live_env = server_environment(
        tmp_path / "live",
        HUDDLE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/live/var/huddle.db",
        HUDDLE_SIGNING_KEYS_FILE=str(tmp_path / "live" / "secrets" / "signing-keys.json"),
        HUDDLE_KEYRING_FILE=str(tmp_path / "live" / "secrets" / "keyring.json"),
    )
    load_demo(live_env)
    live = ServerProcess(live_env, tmp_path / "live.log")
    live.start()
    try:
        conversation = write_drill_message(live)
        # Backups, taken while it serves: the database to one place, keys to another.
        (tmp_path / "backup-data").mkdir()
        online_backup(database_file(live_env), tmp_path / "backup-data" / "huddle.db")
        shutil.copytree(tmp_path / "live" / "secrets", tmp_path / "backup-keys")
    finally:
        live.stop()
    raw = (tmp_path / "backup-data" / "huddle.db").read_bytes()
    assert DRILL_TEXT.encode() not in raw  # the database backup alone is ciphertext

    # The drill: a fresh machine, both backups restored, a server started on them.
    restored = tmp_path / "restored"
    (restored / "var").mkdir(parents=True)
    shutil.copy(tmp_path / "backup-data" / "huddle.db", restored / "var" / "huddle.db")
    shutil.copytree(tmp_path / "backup-keys", restored / "secrets")
    restored_env = server_environment(
        restored,
        HUDDLE_DATABASE_URL=f"sqlite+aiosqlite:///{restored}/var/huddle.db",
        HUDDLE_SIGNING_KEYS_FILE=str(restored / "secrets" / "signing-keys.json"),
        HUDDLE_KEYRING_FILE=str(restored / "secrets" / "keyring.json"),
    )
    assert "audit log intact" in run_huddle(restored_env, "audit", "verify")
    server = ServerProcess(restored_env, tmp_path / "restored.log")
    server.start()
    try:
        server.wait_until_ready()
        assert read_bodies(server, conversation) == [DRILL_TEXT]
    finally:
        server.stop()


def test_the_database_without_its_keyring_cannot_be_read(tmp_path: Path) -> None:
    env = server_environment(tmp_path / "live")
    load_demo(env)
    (tmp_path / "elsewhere").mkdir()
    online_backup(database_file(env), tmp_path / "elsewhere" / "huddle.db")
    stranger = server_environment(
        tmp_path / "elsewhere",
        HUDDLE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/elsewhere/huddle.db",
    )
    run_huddle(stranger, "keys", "init")  # a keyring, but not the one that was backed up
    status = run_huddle(stranger, "keys", "status")
    assert "MISSING from the keyring: its data cannot be read" in status
