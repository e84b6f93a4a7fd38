"""Behind a proxy, throttling and audit see the client, not the proxy; and only a proxy
listed in HUDDLE_TRUSTED_PROXIES is believed about who the client is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import ip_network

import httpx
import pytest
from sqlalchemy import select

from huddle.actor import Role
from huddle.client_address import client_address
from huddle.config import ConfigError, Settings, load_settings
from huddle.identity.models import User
from huddle.protect.models import AuditEvent
from tests.conftest import Server, make_clinic, open_server, with_settings

LOGIN = "/api/v1/auth/login"
PROXIES = (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))  # every test client is in 10/8


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.9", ["203.0.113.5"], "192.0.2.9"),  # not a proxy: its header is ignored
        ("10.0.0.2", [], "10.0.0.2"),  # a proxy that forwarded nothing
        ("10.0.0.2", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.0.2", ["198.51.100.1, 203.0.113.5"], "203.0.113.5"),  # left of it: spoofable
        ("10.0.0.2", ["203.0.113.5, 10.0.0.7"], "203.0.113.5"),  # through two proxies
        ("10.0.0.2", ["198.51.100.1", "203.0.113.5, 10.0.0.7"], "203.0.113.5"),  # two headers
        ("10.0.0.2", ["10.0.0.8, 10.0.0.7"], "10.0.0.8"),  # all proxies: the furthest
        ("10.0.0.2", ["junk, 203.0.113.5"], "203.0.113.5"),
        ("10.0.0.2", ["203.0.113.5, junk"], "10.0.0.2"),  # the proxy wrote junk: keep it
        ("fd00::2", ["2001:db8::7"], "2001:db8::7"),
        ("not-an-ip", ["203.0.113.5"], "not-an-ip"),
    ],
)
def test_the_client_is_the_rightmost_hop_that_is_not_a_trusted_proxy(
    peer: str, forwarded: list[str], expected: str
) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_trusted_proxies_are_read_as_networks_and_default_to_none() -> None:
    assert load_settings({}).trusted_proxies == ()
    parsed = load_settings({"HUDDLE_TRUSTED_PROXIES": "10.0.0.0/8, 172.30.0.10 ,fd00::/8"})
    assert parsed.trusted_proxies == ("10.0.0.0/8", "172.30.0.10/32", "fd00::/8")
    with pytest.raises(ConfigError, match="HUDDLE_TRUSTED_PROXIES: each entry must be"):
        load_settings({"HUDDLE_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"})


@pytest.fixture
async def behind_proxy(settings: Settings, clock) -> AsyncIterator[Server]:  # type: ignore[no-untyped-def]
    trusted = tuple(str(network) for network in PROXIES)
    async for server in open_server(with_settings(settings, trusted_proxies=trusted), clock):
        yield server


async def failed_sign_in_address(server: Server, email: str) -> str | None:
    async with server.rt.db.transaction() as db:
        return await db.scalar(
            select(AuditEvent.source_ip)
            .join(User, User.id == AuditEvent.actor_user_id)
            .where(User.email == email, AuditEvent.action == "login_failed")
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )


async def test_audit_records_the_forwarded_client_only_from_a_trusted_proxy(
    behind_proxy: Server,
) -> None:
    email = (await make_clinic(behind_proxy.rt)).email(Role.PCP)
    wrong = {"email": email, "password": "not-the-password-at-all"}

    await behind_proxy.client.post(
        LOGIN, json=wrong, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.5"}
    )
    assert await failed_sign_in_address(behind_proxy, email) == "203.0.113.5"

    stranger = httpx.ASGITransport(app=behind_proxy.app, client=("192.0.2.9", 40000))
    async with httpx.AsyncClient(transport=stranger, base_url="http://testserver") as direct:
        await direct.post(LOGIN, json=wrong, headers={"X-Forwarded-For": "203.0.113.5"})
    assert await failed_sign_in_address(behind_proxy, email) == "192.0.2.9"


async def test_per_address_throttling_counts_each_client_behind_the_proxy(
    behind_proxy: Server,
) -> None:
    def attempt(n: int | str, client: str) -> dict[str, object]:
        return {
            "json": {"email": f"spray{n}@nowhere.test", "password": "wrong" * 4},
            "headers": {"X-Forwarded-For": client},
        }

    for n in range(20):
        await behind_proxy.client.post(LOGIN, **attempt(n, "203.0.113.77"))
    refused = await behind_proxy.client.post(LOGIN, **attempt("last", "203.0.113.77"))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_attempts"
    # Same proxy, another client: not locked out by its neighbour.
    other = await behind_proxy.client.post(LOGIN, **attempt("last", "203.0.113.78"))
    assert other.status_code == 401
