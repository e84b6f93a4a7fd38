"""Browser sessions: the same sessions as bearer clients, with the tokens in cookies the
page's scripts cannot read, and a CSRF token for every state-changing request.

- `huddle_access` (the access token) is HttpOnly, SameSite=Strict, Path=/api: sent with
  API calls and the browser's WebSocket upgrade at /api/v1/ws, never to the page itself.
- `huddle_refresh` (the refresh token) is HttpOnly, SameSite=Strict and sent only to
  /api/v1/auth/browser, where it is traded for new cookies.
- `huddle_csrf` is readable by the page (that is its purpose) and is echoed in the
  `X-CSRF-Token` header. It is an HMAC of the session id under a key derived from the
  keyring's blind-index key, so it is bound to one session, cannot be forged, survives a
  reload, and needs no table. A request authenticated by cookie with any method but
  GET/HEAD/OPTIONS and without the session's token gets 403 `csrf_failed`.

All three carry `Secure` when the public URL is https. On an http public URL (allowed
only outside production, and in practice http://127.0.0.1 for development and tests)
`Secure` is left off, or the cookies would not round-trip over plain http.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers import BaseRouteHandler

from huddle.config import Settings
from huddle.errors import Forbidden, HuddleError
from huddle.identity.tokens import ACCESS_AUDIENCE
from huddle.runtime import Runtime

ACCESS_COOKIE = "huddle_access"
REFRESH_COOKIE = "huddle_refresh"
CSRF_COOKIE = "huddle_csrf"
CSRF_HEADER = "x-csrf-token"
ACCESS_PATH = "/api"
REFRESH_PATH = "/api/v1/auth/browser"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_KEY_LABEL = b"huddle csrf token v1"


class JsonRequired(HuddleError):
    status_code = 415
    default_code = "json_required"


def json_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for the sign-in routes: a cross-site form can send urlencoded, multipart or
    text/plain bodies without a CORS preflight, never application/json, so insisting on
    JSON stops another site from signing the browser into an account of its choosing."""
    media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise JsonRequired("Send the sign-in as application/json.")


def csrf_token(rt: Runtime, session_id: uuid.UUID) -> str:
    key = hmac.new(rt.keyring.blind_index_key(), _CSRF_KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, session_id.bytes, hashlib.sha256).hexdigest()


def check_csrf(rt: Runtime, session_id: uuid.UUID, presented: str | None) -> None:
    """Raise Forbidden unless `presented` is this session's CSRF token."""
    if not presented or not hmac.compare_digest(presented, csrf_token(rt, session_id)):
        raise Forbidden(
            "This request needs the session's CSRF token in the X-CSRF-Token header.",
            code="csrf_failed",
        )


def access_token_from_cookie(rt: Runtime, request: Request[Any, Any, Any]) -> str | None:
    """The access token of a cookie-authenticated request, after the CSRF check for
    state-changing methods (done before the session is touched, so a forged request
    does not even count as activity). None without the cookie."""
    token = request.cookies.get(ACCESS_COOKIE)
    if not token:
        return None
    if request.method not in SAFE_METHODS:
        claims = rt.tokens.verify(token, audience=ACCESS_AUDIENCE)
        check_csrf(rt, _session_id(claims), request.headers.get(CSRF_HEADER))
    return token


def session_cookies(
    rt: Runtime, access_token: str, refresh_token: str, session_id: uuid.UUID
) -> list[Cookie]:
    """The three cookies of a new or refreshed browser session. They are session
    cookies (no Max-Age): closing the browser forgets them; the server's idle timeout
    and session lifetime end them sooner."""
    return [
        _cookie(rt.settings, ACCESS_COOKIE, access_token, ACCESS_PATH),
        _cookie(rt.settings, REFRESH_COOKIE, refresh_token, REFRESH_PATH),
        _cookie(rt.settings, CSRF_COOKIE, csrf_token(rt, session_id), "/", httponly=False),
    ]


def cleared_cookies(settings: Settings) -> list[Cookie]:
    """Expire all three at once (sign-out, or a session found to be over)."""
    return [
        _cookie(settings, ACCESS_COOKIE, "", ACCESS_PATH, max_age=0),
        _cookie(settings, REFRESH_COOKIE, "", REFRESH_PATH, max_age=0),
        _cookie(settings, CSRF_COOKIE, "", "/", httponly=False, max_age=0),
    ]


def session_id_of(rt: Runtime, access_token: str) -> uuid.UUID:
    return _session_id(rt.tokens.verify(access_token, audience=ACCESS_AUDIENCE))


def _session_id(claims: Mapping[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(claims["sid"])
    except (KeyError, ValueError, TypeError):
        raise Forbidden("The session cookie is not valid.", code="csrf_failed") from None


def _cookie(
    settings: Settings,
    name: str,
    value: str,
    path: str,
    *,
    httponly: bool = True,
    max_age: int | None = None,
) -> Cookie:
    return Cookie(
        key=name,
        value=value,
        path=path,
        httponly=httponly,
        secure=settings.public_url.startswith("https://"),
        samesite="strict",
        max_age=max_age,
    )
