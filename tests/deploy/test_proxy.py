"""deploy/nginx/huddle.conf, as shipped, in front of a real `huddle serve`: TLS, one set
of security headers, request ids shared with Huddle, WebSockets passed through, the
attachment size limit, and no secure-link token in the proxy's access log."""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.deploy.nginx import Nginx, require_nginx
from tests.live_server import ServerProcess, run_huddle, server_environment


@dataclass
class Proxied:
    nginx: Nginx
    server: ServerProcess

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.nginx.certificate))

    def https(self) -> httpx.Client:
        return httpx.Client(base_url=self.nginx.base_url, verify=self.tls(), timeout=30)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    require_nginx()
    home = tmp_path_factory.mktemp("proxied")
    env = server_environment(home)
    nginx = Nginx(home / "nginx", [f"127.0.0.1:{env['HUDDLE_PORT']}"])
    # An https public URL, so Huddle sends HSTS too and the proxy must not double it.
    env["HUDDLE_PUBLIC_URL"] = nginx.base_url
    for args in (("signing-keys", "init"), ("keys", "init"), ("db", "upgrade")):
        run_huddle(env, *args)
    server = ServerProcess(env, home / "serve.log")
    server.start()
    nginx.start()
    try:
        yield Proxied(nginx, server)
    finally:
        nginx.stop()
        server.stop()


def test_nginx_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    require_nginx()
    checked = Nginx(tmp_path, ["127.0.0.1:8000", "127.0.0.1:8001"]).check()
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_https_answers_with_one_set_of_security_headers_and_a_shared_request_id(
    proxied: Proxied,
) -> None:
    with proxied.https() as https:
        response = https.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers.get_list("strict-transport-security") == [
        "max-age=63072000; includeSubDomains"
    ]
    for name in ("x-content-type-options", "x-frame-options", "referrer-policy"):
        assert len(response.headers.get_list(name)) == 1, name
    assert "content-security-policy" in response.headers  # Huddle's own, per path
    # nginx made the id, Huddle kept it: one request, one id in both logs.
    request_id = response.headers["x-request-id"]
    logged = [json.loads(line) for line in proxied.nginx.access_log.read_text().splitlines()]
    assert request_id in {entry["request_id"] for entry in logged}
    assert request_id in proxied.server.log_path.read_text()


def test_plain_http_is_redirected_to_https(proxied: Proxied) -> None:
    with httpx.Client(timeout=10) as plain:
        response = plain.get(f"http://127.0.0.1:{proxied.nginx.http_port}/api/v1/auth/me")
    assert response.status_code == 308
    assert response.headers["location"].startswith("https://")


async def test_websockets_pass_through_the_proxy(proxied: Proxied) -> None:
    async with websockets.connect(proxied.nginx.ws_url, ssl=proxied.tls()) as socket:
        await socket.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        error = json.loads(await socket.recv())
        assert error["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401  # Huddle's own close code, through nginx


def test_a_body_over_the_attachment_limit_is_refused_at_the_proxy(proxied: Proxied) -> None:
    with proxied.https() as https:
        response = https.post(
            f"/api/v1/conversations/{uuid.uuid4()}/attachments",
            content=b"x" * (10 * 1024 * 1024 + 1),  # huddle.messaging.attachments.MAX_BYTES + 1
        )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")  # nginx's, not Huddle's
    assert response.headers.get_list("strict-transport-security")  # also on nginx's own pages


def test_the_proxy_log_holds_no_secure_link_token_or_query_string(proxied: Proxied) -> None:
    token = "s3cr3t-link-token-0123456789"
    with proxied.https() as https:
        https.get(f"/secure/{token}", params={"mrn": "RCH-100001"})
        https.post(f"/api/v1/patient-links/{token}/confirm", json={})
    log = proxied.nginx.access_log.read_text()
    assert token not in log
    assert "RCH-100001" not in log
    assert '"path":"/secure/{token}"' in log
    assert '"path":"/api/v1/patient-links/{token}/confirm"' in log
