"""The processes under test: `huddle serve` (set up like `make run`, in a scratch
directory) and the bare relay under uvicorn; what they cost, read from /proc; and an
optional py-spy profile of them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_SECONDS = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def huddle_environment(home: Path, database_url: str, redis_url: str | None) -> dict[str, str]:
    """Production-like settings (default Argon2 cost, audit and encryption on) in
    `home`; the idle timeout is the longest allowed so idle sockets' sessions outlive a
    long run. Nothing HUDDLE_* leaks in from the caller's shell."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("HUDDLE_")}
    env.update(
        HUDDLE_DATABASE_URL=database_url,
        HUDDLE_SIGNING_KEYS_FILE=str(home / "signing-keys.json"),
        HUDDLE_KEYRING_FILE=str(home / "keyring.json"),
        HUDDLE_BLOB_DIR=str(home / "blobs"),
        HUDDLE_HOST="127.0.0.1",
        HUDDLE_PORT=str(port),
        HUDDLE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        HUDDLE_IDLE_TIMEOUT_MINUTES="60",
        HUDDLE_LOG_LEVEL="WARNING",
    )
    if redis_url:
        env["HUDDLE_REDIS_URL"] = redis_url
    return env


def prepare_huddle(env: dict[str, str]) -> None:
    """What `make setup` does, minus the demo: keys and migrations."""
    for args in (("signing-keys", "init"), ("keys", "init"), ("db", "upgrade")):
        done = subprocess.run(  # noqa: S603 (our own CLI)
            [str(BIN / "huddle"), *args], env=env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"huddle {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/ws"

    def rss_kib(self) -> int:
        return _status_kib(self.pid, "VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextmanager
def serving(command: list[str], env: dict[str, str], log: Path, ready_path: str) -> Any:
    """Start a server process (it inherits our open-files limit, raised in main for
    many sockets), wait until `ready_path` answers 200, and stop it afterwards."""
    port = env.get("HUDDLE_PORT") or env["BENCH_PORT"]
    base_url = f"http://127.0.0.1:{port}"
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 (our own server)
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(process, base_url + ready_path, log)
        yield Served(process, base_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def huddle_command() -> list[str]:
    return [str(BIN / "huddle"), "serve"]


def relay_command(port: int) -> list[str]:
    return [
        str(BIN / "python"), "-m", "uvicorn", "bench.relay_app:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url).status_code in (200, 404):
                    return
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{process.args} was not ready at {url}; its output:\n{tail}")


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


# ------------------------------------------------------------------- profiling


def py_spy() -> str | None:
    return shutil.which("py-spy", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


class Profile:
    """py-spy sampling a server process for a while, in collapsed-stack form."""

    def __init__(self, pid: int, seconds: float, output: Path) -> None:
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None
        executable = py_spy()
        if executable:
            self.process = subprocess.Popen(  # noqa: S603 (py-spy, found on PATH)
                [
                    executable, "record", "--pid", str(pid), "--format", "raw", "--nonblocking",
                    "--duration", str(max(1, round(seconds))), "--rate", "200",
                    "--output", str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip

    def summary(self, marker: str) -> dict[str, Any] | None:
        """Top functions (self and total share of busy samples) and the share of busy
        samples spent under any frame whose text contains `marker`."""
        if self.process is None:
            return None
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if not self.output.exists():
            return None
        return summarize_stacks(self.output.read_text(), marker)


# Leaf frames where a thread waits rather than works: the uvloop event loop polling (its
# C code shows as Runner.run) and aiosqlite's worker thread waiting for a statement.
IDLE_LEAVES = ("Runner.run (asyncio/runners.py", "aiosqlite/core.py:59)")


def summarize_stacks(collapsed: str, marker: str, top: int = 12) -> dict[str, Any]:
    """Shares of busy samples (idle waits left out): by function itself, by Huddle
    function including callees, by package of the running function, and under any
    frame containing `marker`."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    marked = busy = idle = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue  # not a stack: a frame's name broken over lines (seen once)
        count = int(count_text)
        frames = stack.split(";")
        if any(leaf in frames[-1] for leaf in IDLE_LEAVES):
            idle += count
            continue
        busy += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            total[frame] += count
        if any(marker in frame for frame in frames):
            marked += count

    def shares(counts: list[tuple[str, int]]) -> dict[str, float]:
        return {name: round(n / busy, 3) for name, n in counts}

    ours = [(f, n) for f, n in total.most_common() if "huddle/" in f and "cli.py" not in f]
    return {
        "samples": busy + idle,
        "busy_share": round(busy / (busy + idle), 3) if busy + idle else None,
        "marked_share": round(marked / busy, 3) if busy else None,
        "by_package": shares(packages.most_common(top)),
        "top_self": shares(own.most_common(top)),
        "top_huddle_total": shares(ours[:top]),
    }


def _package(frame: str) -> str:
    """'f (sqlalchemy/orm/session.py:12)' -> 'sqlalchemy'; a frame without a path
    (C code, the main module) is 'other'."""
    _, _, where = frame.rpartition(" (")
    return where.split("/", 1)[0] if "/" in where else "other"
