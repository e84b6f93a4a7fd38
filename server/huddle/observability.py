"""Structured JSON logs, request ids and the security headers on every response.

Log lines carry ids, methods, paths without query strings, statuses and timings; never
request bodies, headers, tokens or exception messages (which could quote PHI).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
import uuid
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("huddle.access")

LINK_API = "/api/v1/patient-links/"
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_NEVER_FRAMED = "frame-ancestors 'none'"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; {_NEVER_FRAMED}"
)


class JsonFormatter(logging.Formatter):
    """One JSON object a line. Exceptions are logged as types and frames only."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = _describe(record.exc_info[1])
        return json.dumps(entry, default=str)


JsonFormatter.converter = time.gmtime  # type: ignore[assignment]


def _describe(exc: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "type": type(exc).__qualname__,
        "frames": [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}:{f.name}" for f in frames[-8:]],
    }


# Libraries whose debug/info lines quote SQL parameters or URLs with query strings.
LEAKY_LIBRARY_LOGGERS = ("aiosqlite", "asyncpg", "sqlalchemy", "alembic", "httpx", "httpcore")


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    pin_library_log_levels()
    # Uvicorn's own access log prints query strings; ours does not.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def pin_library_log_levels() -> None:
    """Keep chatty libraries at WARNING even when our level is DEBUG."""
    for name in LEAKY_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class RequestTracking:
    """Outermost ASGI layer: gives every request an id (X-Request-ID), adds security
    headers, and writes one access-log line. It sits outside Litestar's router so 404
    and 405 answers get the same treatment, which route middleware would not."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self._add_headers(MutableScopeHeaders.from_message(message), scope, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if scope["type"] == "http":
                access_log.info(
                    "request",
                    extra={
                        "fields": {
                            "request_id": request_id,
                            "method": scope.get("method"),
                            "path": _loggable_path(scope["path"]),
                            "status": status,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                            "user_id": state.get("user_id"),
                        }
                    },
                )

    def _add_headers(self, headers: MutableScopeHeaders, scope: Scope, request_id: str) -> None:
        headers["X-Request-ID"] = request_id
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        path = scope["path"]
        if not path.startswith("/schema"):  # the OpenAPI viewers load their own scripts
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        if path.startswith("/api/"):
            headers["Cache-Control"] = "no-store"
        if self.hsts:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"


def _loggable_path(path: str) -> str:
    """The path, with a patient's secure-link token (a bearer secret) blanked out."""
    if path.startswith("/secure/"):
        return "/secure/{token}"
    if path.startswith(LINK_API) and path.endswith("/confirm"):
        return LINK_API + "{token}/confirm"
    return path


def _request_id(scope: Scope) -> str:
    """Keep a well-formed id from a proxy, so logs line up across hops; else make one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _INCOMING_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex
