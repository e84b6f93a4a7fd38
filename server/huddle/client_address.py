"""The client's address behind trusted proxies (HUDDLE_TRUSTED_PROXIES).

Throttling and audit read `scope["client"]`. Behind a proxy that is the proxy, so every
user would share one address. When, and only when, the direct peer is a trusted proxy,
the address is taken from X-Forwarded-For: walking from the right (the hop our proxy
appended) past every trusted proxy, the first untrusted hop is the client. Entries left
of it are whatever the client sent, so they are never believed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from litestar.types import ASGIApp, Receive, Scope, Send

Network = IPv4Network | IPv6Network


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def _hops(header_values: Iterable[str]) -> list[str]:
    return [hop.strip() for value in header_values for hop in value.split(",") if hop.strip()]


def client_address(peer: str, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The address to throttle and audit: `peer` itself unless it is a trusted proxy."""
    if not _is_trusted(peer, trusted):
        return peer
    address = peer
    for hop in reversed(_hops(forwarded_for)):
        try:
            ip_address(hop)
        except ValueError:
            break  # not an address (a port, garbage): keep the last hop we could read
        address = hop
        if not _is_trusted(hop, trusted):
            break
    return address


class ClientAddress:
    """ASGI layer: rewrites scope["client"] for HTTP and WebSocket requests that came
    through a trusted proxy, so every reader of the client address agrees."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = tuple(ip_network(network) for network in trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] in ("http", "websocket") and peer:
            forwarded = [
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name == b"x-forwarded-for"
            ]
            address = client_address(peer[0], forwarded, self.trusted)
            if address != peer[0]:
                scope["client"] = (address, 0)
        await self.app(scope, receive, send)
