"""Browser sessions: tokens in HttpOnly cookies, a CSRF token on every state-changing
request, refresh and sign-out by cookie; bearer clients unchanged."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx

from huddle.actor import Role
from tests.conftest import PASSWORD, Clinic, Server, open_server, sign_in, with_settings

BROWSER = "/api/v1/auth/browser"


class BrowserCookies:
    """What a browser keeps from Set-Cookie answers (by name; paths checked separately)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def take(self, response: httpx.Response) -> dict[str, SimpleCookie]:
        parsed = {}
        for header in response.headers.get_list("set-cookie"):
            cookie = SimpleCookie(header)
            for name, morsel in cookie.items():
                parsed[name] = cookie
                if morsel["max-age"] == "0":
                    self.values.pop(name, None)
                else:
                    self.values[name] = morsel.value
        return parsed

    def header(self, *names: str) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{n}={self.values[n]}" for n in names if n in self.values)}

    @property
    def csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.values["huddle_csrf"]}

    def api(self) -> dict[str, str]:
        """What the browser sends to /api/v1/...: the access and CSRF cookies."""
        return self.header("huddle_access", "huddle_csrf")

    def auth(self) -> dict[str, str]:
        """What it sends to /api/v1/auth/browser/...: all three."""
        return self.header("huddle_access", "huddle_refresh", "huddle_csrf")


async def browser_sign_in(server: Server, email: str) -> BrowserCookies:
    cookies = BrowserCookies()
    answer = await server.client.post(
        f"{BROWSER}/login", json={"email": email, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    cookies.take(answer)
    return cookies


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


async def test_browser_sign_in_puts_the_tokens_in_http_only_strict_cookies(
    server: Server, clinic: Clinic
) -> None:
    answer = await server.client.post(
        f"{BROWSER}/login", json={"email": clinic.email(Role.PCP), "password": PASSWORD}
    )

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"csrf_token", "expires_in"}
    assert answer.headers["cache-control"] == "no-store"
    cookies = BrowserCookies().take(answer)
    access = cookies["huddle_access"]["huddle_access"]
    refresh = cookies["huddle_refresh"]["huddle_refresh"]
    csrf = cookies["huddle_csrf"]["huddle_csrf"]
    assert access.value.count(".") == 2  # a JWT, only in the cookie
    assert access.value not in answer.text
    assert refresh.value not in answer.text
    assert (access["path"], refresh["path"], csrf["path"]) == ("/api", BROWSER, "/")
    assert access["httponly"]
    assert refresh["httponly"]
    assert not csrf["httponly"]  # the page reads it to echo it in X-CSRF-Token
    assert {access["samesite"], refresh["samesite"], csrf["samesite"]} == {"strict"}
    assert csrf.value == body["csrf_token"]
    # The test server's public URL is http://127.0.0.1: no Secure, or nothing round-trips.
    assert not access["secure"]


async def test_cookies_are_secure_when_the_public_url_is_https(
    server: Server, clinic: Clinic
) -> None:
    settings = with_settings(server.rt.settings, public_url="https://huddle.example.org")
    async for https_server in open_server(settings, server.clock):
        answer = await https_server.client.post(
            f"{BROWSER}/login", json={"email": clinic.email(Role.PCP), "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        cookies = BrowserCookies().take(answer)
        assert all(cookie[name]["secure"] for name, cookie in cookies.items())


async def test_the_cookie_signs_in_reads_without_csrf_and_changes_only_with_it(
    server: Server, clinic: Clinic
) -> None:
    cookies = await browser_sign_in(server, clinic.email(Role.PCP))

    me = await server.client.get("/api/v1/me", headers=cookies.api())
    assert me.status_code == 200
    assert me.json()["user"]["email"] == clinic.email(Role.PCP)

    # A state-changing request by cookie alone (what a forged cross-site form would be).
    forged = await server.client.post("/api/v1/auth/logout", headers=cookies.api())
    assert forged.status_code == 403
    assert error_code(forged) == "csrf_failed"
    wrong = await server.client.post(
        "/api/v1/auth/logout", headers=cookies.api() | {"X-CSRF-Token": "0" * 64}
    )
    assert error_code(wrong) == "csrf_failed"
    assert (await server.client.get("/api/v1/me", headers=cookies.api())).status_code == 200

    done = await server.client.post("/api/v1/auth/logout", headers=cookies.api() | cookies.csrf)
    assert done.status_code == 204
    after = await server.client.get("/api/v1/me", headers=cookies.api())
    assert error_code(after) == "session_revoked"


async def test_another_sessions_csrf_token_does_not_count(server: Server, clinic: Clinic) -> None:
    mine = await browser_sign_in(server, clinic.email(Role.PCP))
    theirs = await browser_sign_in(server, clinic.email(Role.CARE_MANAGER))

    answer = await server.client.post("/api/v1/auth/logout", headers=mine.api() | theirs.csrf)

    assert answer.status_code == 403
    assert error_code(answer) == "csrf_failed"


async def test_no_cookie_and_no_token_is_401(server: Server) -> None:
    answer = await server.client.get("/api/v1/me")
    assert answer.status_code == 401
    assert error_code(answer) == "missing_token"
    refresh = await server.client.post(f"{BROWSER}/refresh")
    assert refresh.status_code == 401
    assert error_code(refresh) == "missing_token"


async def test_refresh_by_cookie_needs_the_csrf_header_and_rotates_the_cookies(
    server: Server, clinic: Clinic
) -> None:
    cookies = await browser_sign_in(server, clinic.email(Role.CARE_MANAGER))
    first_refresh = cookies.values["huddle_refresh"]

    refused = await server.client.post(f"{BROWSER}/refresh", headers=cookies.auth())
    assert refused.status_code == 403
    assert error_code(refused) == "csrf_failed"

    # The refused attempt did not use the refresh token up.
    answer = await server.client.post(f"{BROWSER}/refresh", headers=cookies.auth() | cookies.csrf)
    assert answer.status_code == 200, answer.text
    cookies.take(answer)
    assert cookies.values["huddle_refresh"] != first_refresh
    assert answer.json()["csrf_token"] == cookies.values["huddle_csrf"]
    assert (await server.client.get("/api/v1/me", headers=cookies.api())).status_code == 200

    # Replaying the first refresh cookie ends the session (as for bearer clients).
    replay = await server.client.post(
        f"{BROWSER}/refresh",
        headers={"Cookie": f"huddle_refresh={first_refresh}"} | cookies.csrf,
    )
    assert error_code(replay) == "refresh_token_reused"
    assert error_code(await server.client.get("/api/v1/me", headers=cookies.api())) == (
        "session_revoked"
    )


async def test_browser_sign_out_ends_the_session_and_expires_every_cookie(
    server: Server, clinic: Clinic
) -> None:
    cookies = await browser_sign_in(server, clinic.email(Role.PSYCHIATRIST))
    old_access, old_csrf = cookies.api(), cookies.csrf

    refused = await server.client.post(f"{BROWSER}/logout", headers=cookies.auth())
    assert error_code(refused) == "csrf_failed"

    answer = await server.client.post(f"{BROWSER}/logout", headers=cookies.auth() | cookies.csrf)
    assert answer.status_code == 204
    cookies.take(answer)
    assert cookies.values == {}
    assert error_code(await server.client.get("/api/v1/me", headers=old_access)) == (
        "session_revoked"
    )
    # Signing out of an already ended session says so, and still clears the cookies.
    again = await server.client.post(f"{BROWSER}/logout", headers=old_access | old_csrf)
    assert again.status_code == 401
    assert error_code(again) == "session_revoked"
    assert BrowserCookies().take(again).keys() == {"huddle_access", "huddle_refresh", "huddle_csrf"}


async def test_bearer_clients_get_tokens_and_no_cookies(server: Server, clinic: Clinic) -> None:
    answer = await server.client.post(
        "/api/v1/auth/login", json={"email": clinic.email(Role.PCP), "password": PASSWORD}
    )
    assert answer.status_code == 200
    assert "access_token" in answer.json()
    assert answer.headers.get_list("set-cookie") == []
    tokens = await sign_in(server.client, clinic.email(Role.PCP))
    # A bearer request needs no CSRF token, even with a stray cookie alongside.
    done = await server.client.post(
        "/api/v1/auth/logout",
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Cookie": "huddle_access=x"},
    )
    assert done.status_code == 204


async def test_a_cross_site_form_cannot_sign_the_browser_in(server: Server, clinic: Clinic) -> None:
    """Forms may send only urlencoded, multipart or text/plain bodies without a preflight;
    the browser sign-in takes JSON only, so a forged sign-in sets no cookie."""
    credentials = f'{{"email": "{clinic.email(Role.PCP)}", "password": "{PASSWORD}"}}'
    as_text = await server.client.post(
        f"{BROWSER}/login", content=credentials, headers={"Content-Type": "text/plain"}
    )
    as_form = await server.client.post(
        f"{BROWSER}/login", data={"email": clinic.email(Role.PCP), "password": PASSWORD}
    )
    for answer in (as_text, as_form):
        assert answer.status_code == 415, answer.text
        assert error_code(answer) == "json_required"
        assert answer.headers.get_list("set-cookie") == []


async def test_a_refresh_of_an_ended_session_expires_the_cookies(
    server: Server, clinic: Clinic
) -> None:
    cookies = await browser_sign_in(server, clinic.email(Role.PCP))
    stale = cookies.auth() | cookies.csrf
    signed_out = await server.client.post(f"{BROWSER}/logout", headers=stale)
    assert signed_out.status_code == 204

    # A tab still holding the old cookies tries to refresh: 401, and they are expired.
    answer = await server.client.post(f"{BROWSER}/refresh", headers=stale)
    assert answer.status_code == 401
    expired = BrowserCookies().take(answer)
    assert expired.keys() == {"huddle_access", "huddle_refresh", "huddle_csrf"}
    assert all(c[name]["max-age"] == "0" for name, c in expired.items())
