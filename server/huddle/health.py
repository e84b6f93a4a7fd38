"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from sqlalchemy.exc import SQLAlchemyError

from huddle.dependencies import Rt
from huddle.http_errors import error_response
from huddle.migrate import current_revision, head_revision


class Health(msgspec.Struct):
    status: str


@get("/health", tags=["system"])
async def health() -> Health:
    """The process is up and answering."""
    return Health(status="ok")


@get("/ready", tags=["system"])
async def ready(request: Request[Any, Any, Any], rt: Rt) -> Response[Any]:
    """The database answers, its schema is at the migration head this code expects, and
    the event bus delivers (with Redis: subscribed, and Redis answers)."""
    try:
        current = await current_revision(rt.db.engine)
    except (SQLAlchemyError, OSError):
        return error_response(request, 503, "not_ready", "The database is not reachable.")
    expected = head_revision()
    if current != expected:
        return error_response(
            request,
            503,
            "not_ready",
            f"The database schema is at {current or 'no revision'}, not {expected}; "
            "run `huddle db upgrade`.",
        )
    if problem := await rt.events.problem():
        return error_response(request, 503, "not_ready", problem)
    return Response(
        {"status": "ready", "database": "ok", "migrations": current, "events": rt.events.kind}
    )
