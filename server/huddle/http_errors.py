"""Every error answer has one shape: {"error": {"code", "detail", "request_id"}}.

Domain errors map by their class; Litestar's own (validation, 404, 405, 413) are given
stable codes; anything unexpected is a 500 whose details stay in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from huddle.errors import HuddleError, RateLimited

log = logging.getLogger("huddle.errors")

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body = {"code": code, "detail": detail, "request_id": request.scope["state"].get("request_id")}
    return Response({"error": body | extra}, status_code=status, headers=headers)


def handle_domain_error(request: Request[Any, Any, Any], exc: HuddleError) -> Response[Any]:
    headers = (
        {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, RateLimited) else None
    )
    return error_response(request, exc.status_code, exc.code, exc.detail, headers=headers)


def handle_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        fields = [
            {"field": item.get("key"), "message": item.get("message")}
            for item in (exc.extra if isinstance(exc.extra, list) else [])
            if isinstance(item, dict)
        ]
        return error_response(
            request, 400, "invalid_request", "The request is not valid.", fields=fields
        )
    if exc.status_code >= 500:
        return handle_unexpected(request, exc)
    code = _CODES_BY_STATUS.get(exc.status_code, "bad_request")
    return error_response(request, exc.status_code, code, _client_detail(exc), headers=exc.headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"fields": {"request_id": request.scope["state"].get("request_id")}},
    )
    return error_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "Something went wrong on our side. Quote the request id if you report it.",
    )


def _client_detail(exc: HTTPException) -> str:
    if exc.status_code == 404:
        return "Nothing is here."
    if exc.status_code == 405:
        return "This method is not allowed here."
    return exc.detail


EXCEPTION_HANDLERS = {
    HuddleError: handle_domain_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}
