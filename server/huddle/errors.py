"""Domain errors: a small hierarchy, mapped once to HTTP (and later WebSocket) errors.

Messages are shown to clients and logged, so they must never carry PHI, passwords or
tokens: say what was wrong, not what the value was.
"""

from __future__ import annotations

from typing import ClassVar


class HuddleError(Exception):
    status_code: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code


class Invalid(HuddleError):
    status_code = 422
    default_code = "invalid"


class Unauthorized(HuddleError):
    status_code = 401
    default_code = "unauthorized"


class Forbidden(HuddleError):
    status_code = 403
    default_code = "forbidden"


class NotFound(HuddleError):
    status_code = 404
    default_code = "not_found"


class Conflict(HuddleError):
    status_code = 409
    default_code = "conflict"


class RateLimited(HuddleError):
    status_code = 429
    default_code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_seconds: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after_seconds = max(1, retry_after_seconds)


class Busy(HuddleError):
    """The server could not start the work in time (e.g. the database's write lock)."""

    status_code = 503
    default_code = "busy"
