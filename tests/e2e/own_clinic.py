"""A clinic of a browser test's own, made the way an operator would (the CLI for the
organization and its admin, the API for staff), so the demo clinic other tests rely on
stays as it is."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.e2e.test_signin import api_sign_in

# (login, display name, role); each gets `login@<domain>`.
Staff = list[tuple[str, str, str]]


async def own_clinic(
    client: httpx.AsyncClient,
    huddle_cli: Callable[..., str],
    *,
    name: str,
    domain: str,
    admin: tuple[str, str],
    staff: Staff,
    password: str,
) -> dict[str, str]:
    """Create the clinic, its admin (login, name) and staff, all with `password`;
    returns the staff's user ids by login."""
    admin_login, admin_name = admin
    huddle_cli(
        *("org", "create", "--name", name),
        *("--admin-email", f"{admin_login}@{domain}", "--admin-name", admin_name),
        HUDDLE_ADMIN_PASSWORD=password,
    )
    headers = await api_sign_in(client, f"{admin_login}@{domain}", password)
    ids = {}
    for login, display_name, role in staff:
        person = {"email": f"{login}@{domain}", "display_name": display_name, "role": role}
        created = await client.post(
            "/api/v1/users", headers=headers, json=person | {"password": password}
        )
        assert created.status_code == 201, created.text
        ids[login] = created.json()["id"]
    return ids
