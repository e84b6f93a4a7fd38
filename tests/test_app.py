"""The app skeleton: probes, the one error shape, request ids, security headers, logs."""

from __future__ import annotations

import logging

import pytest

from huddle.actor import Role
from huddle.app import create_app
from huddle.observability import JsonFormatter, pin_library_log_levels
from tests.conftest import PASSWORD, Clinic, Server, bearer, running, sign_in, with_settings


def assert_error_shape(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "detail", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]


async def test_health_and_ready(server: Server) -> None:
    assert (await server.client.get("/health")).json() == {"status": "ok"}
    ready = await server.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_ready_refuses_a_database_behind_the_migrations(
    settings, clock, empty_database_factory
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import open_server

    empty = empty_database_factory("sqlite")
    async for behind in open_server(with_settings(settings, database_url=empty), clock):
        response = await behind.client.get("/ready")
        assert_error_shape(response, 503, "not_ready")
        assert "huddle db upgrade" in response.json()["error"]["detail"]


async def test_openapi_schema_lists_the_api(server: Server) -> None:
    schema = (await server.client.get("/schema/openapi.json")).json()
    assert "/api/v1/auth/login" in schema["paths"]
    assert "/api/v1/users" in schema["paths"]


async def test_unknown_path_and_wrong_method_use_the_error_shape(server: Server) -> None:
    assert_error_shape(await server.client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error_shape(await server.client.get("/api/v1/auth/login"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"email": "a@b.c"}', "application/json"),
        (b'{"email": 5, "password": "x"}', "application/json"),
        (b'{"email": "a@b.c", "password": "x", "admin": true}', "application/json"),
        (b'["a@b.c", "x"]', "application/json"),
    ],
)
async def test_malformed_bodies_get_400_in_the_error_shape(
    server: Server, body: bytes, content_type: str
) -> None:
    response = await server.client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_request", "bad_request"}


async def test_oversized_body_is_refused_with_413(server: Server) -> None:
    response = await server.client.post(
        "/api/v1/auth/login",
        content=b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_error_shape(response, 413, "payload_too_large")


async def test_every_response_has_a_request_id_and_security_headers(server: Server) -> None:
    for response in (
        await server.client.get("/health"),
        await server.client.get("/nope/api"),
        await server.client.post("/api/v1/auth/login", json={}),
    ):
        assert len(response.headers["x-request-id"]) >= 8
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_api_answers_are_never_cached(server: Server) -> None:
    response = await server.client.post("/api/v1/auth/login", json={})
    assert response.headers["cache-control"] == "no-store"


async def test_a_proxys_request_id_is_kept_and_a_malformed_one_replaced(server: Server) -> None:
    kept = await server.client.get("/health", headers={"X-Request-ID": "proxy-req-12345"})
    assert kept.headers["x-request-id"] == "proxy-req-12345"
    replaced = await server.client.get("/health", headers={"X-Request-ID": "bad id\nwith stuff"})
    assert replaced.headers["x-request-id"] != "bad id\nwith stuff"


async def test_logs_are_json_and_hold_no_password_or_token(
    server: Server, clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    pin_library_log_levels()
    caplog.set_level(logging.DEBUG)
    tokens = await sign_in(server.client, clinic.email(Role.PCP))
    await server.client.get("/api/v1/me?mrn=secret-query", headers=bearer(tokens["access_token"]))
    await server.client.get("/secure/link-token-secret")
    await server.client.post("/api/v1/patient-links/link-token-secret/confirm", json={})
    await server.client.post(
        "/api/v1/auth/login", json={"email": clinic.email(Role.PCP), "password": "wrong" * 4}
    )
    formatter = JsonFormatter()
    rendered = "\n".join(formatter.format(record) for record in caplog.records)
    assert '"path": "/api/v1/me"' in rendered
    for secret in (
        PASSWORD,
        "wrong" * 4,
        tokens["access_token"],
        tokens["refresh_token"],
        "secret-query",
        "link-token-secret",
    ):
        assert secret not in rendered


async def test_an_unexpected_error_is_a_500_in_the_error_shape(settings, clock) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from litestar import get

    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("patient Jane Doe")  # an exception message that must not leak

    app = create_app(settings, clock=clock)
    app.register(boom)
    transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 1))
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/boom")
    assert_error_shape(response, 500, "internal_error")
    assert "Jane" not in response.text
