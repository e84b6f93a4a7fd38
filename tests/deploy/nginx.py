"""nginx from Debian's package, run by the tests with deploy/nginx/huddle.conf: the real
file, with loopback upstreams, ports, certificate and log paths substituted (each
substitution must match, so the shipped file cannot drift from what is tested)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.live_server import free_port
from tests.services import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
HUDDLE_CONF = REPO / "deploy" / "nginx" / "huddle.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT_SECONDS = 10.0


def require_nginx() -> None:
    if not Path(NGINX).exists():
        skip_or_fail("nginx not found (apt-get install -y nginx)")


def self_signed_certificate(directory: Path) -> None:
    """huddle.crt and huddle.key for 127.0.0.1 and localhost, valid for a day."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(directory / "huddle.key"), "-out", str(directory / "huddle.crt"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip


def _substitute(text: str, pattern: str, replacement: str, count: int) -> str:
    result, found = re.subn(pattern, lambda _: replacement, text, flags=re.MULTILINE)
    assert found == count, f"{HUDDLE_CONF.name}: expected {count} of {pattern!r}, found {found}"
    return result


class Nginx:
    """One nginx master (not a daemon) in `workdir`, proxying to `upstreams`."""

    def __init__(self, workdir: Path, upstreams: list[str]) -> None:
        self.workdir = workdir
        self.upstreams = upstreams
        self.https_port = free_port()
        self.http_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self_signed_certificate(workdir / "tls")
        self.config_path = workdir / "nginx.conf"
        self.config_path.write_text(self._config())

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}/ws"

    @property
    def certificate(self) -> Path:
        return self.workdir / "tls" / "huddle.crt"

    @property
    def access_log(self) -> Path:
        return self.workdir / "access.log"

    def _huddle_conf(self) -> str:
        text = HUDDLE_CONF.read_text()
        servers = "".join(
            f"    server {address} max_fails=1 fail_timeout=5s;\n" for address in self.upstreams
        )
        text = _substitute(text, r"^    server huddle-a:8000[^\n]*\n", servers, 1)
        text = _substitute(text, r"^    server huddle-b:8000[^\n]*\n", "", 1)
        text = _substitute(text, r"listen 443 ssl", f"listen 127.0.0.1:{self.https_port} ssl", 1)
        text = _substitute(text, r"listen 80;", f"listen 127.0.0.1:{self.http_port};", 1)
        text = _substitute(text, r"/etc/nginx/tls/", f"{self.workdir}/tls/", 2)
        return _substitute(text, r"/var/log/nginx/access\.log", str(self.access_log), 2)

    def _config(self) -> str:
        w = self.workdir
        temp_paths = "".join(
            f"    {kind}_temp_path {w}/temp/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            "daemon off;\nworker_processes 1;\n"
            f"pid {w}/nginx.pid;\nerror_log {w}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "    default_type application/octet-stream;\n"
            f"{temp_paths}"
            f"{self._huddle_conf()}\n"
            "}\n"
        )

    def _command(self, *args: str) -> list[str]:
        w = self.workdir
        return [NGINX, "-p", str(w), "-e", str(w / "error.log"), "-c", str(self.config_path), *args]

    def check(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t`: the configuration parses and every file it names loads."""
        (self.workdir / "temp").mkdir(exist_ok=True)
        return subprocess.run(
            self._command("-t"), capture_output=True, text=True, timeout=30, check=False
        )

    def start(self) -> None:
        (self.workdir / "temp").mkdir(exist_ok=True)
        with (self.workdir / "nginx.out").open("ab") as out:
            self.process = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        log = (self.workdir / "error.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"nginx did not start; its error log:\n{log}", pytrace=False)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
