"""A PostgreSQL cluster and a Redis server of the test's own, on free loopback ports, that
it may stop and start at will. The shared ones on 5432 and 6379 are never touched:
other tests use them."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.live_server import free_port
from tests.services import skip_or_fail

INITDB = Path("/usr/local/bin/initdb")
PG_CTL = Path("/usr/local/bin/pg_ctl")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
TIMEOUT_SECONDS = 60


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` OS user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class OwnPostgres:
    """`initdb` in a fresh directory (trust auth, no fsync), `pg_ctl` start and stop."""

    def __init__(self) -> None:
        if not (INITDB.exists() and PG_CTL.exists()):
            skip_or_fail(f"PostgreSQL server tools not found ({INITDB}, {PG_CTL})")
        # Not under pytest's tmp dir: the postgres user must be able to enter it.
        self.home = Path(tempfile.mkdtemp(prefix="huddle-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        self.port = free_port()
        self._run(INITDB, "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        log = str(self.home / "log")
        self._run(PG_CTL, "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: every session is cut off, as in a failover or a restart."""
        self._run(PG_CTL, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            _as_postgres_user([str(PG_CTL), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
        shutil.rmtree(self.home, ignore_errors=True)

    def _run(self, tool: Path, *args: str) -> None:
        subprocess.run(
            _as_postgres_user([str(tool), *args]),
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=True,
            cwd=self.home,
        )


class OwnRedis:
    """redis-server without persistence on a free port; stop() and start() restart it."""

    def __init__(self) -> None:
        if shutil.which(REDIS_SERVER) is None:
            skip_or_fail("redis-server not found (apt-get install -y redis-server)")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        ping = [shutil.which("redis-cli") or "redis-cli", "-p", str(self.port), "ping"]
        for _ in range(200):
            done = subprocess.run(ping, capture_output=True, text=True, check=False, timeout=5)
            if done.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise AssertionError(f"redis-server on port {self.port} did not answer")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=TIMEOUT_SECONDS)
