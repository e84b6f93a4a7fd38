"""HTTP endpoints of secure links (no sign-in): confirm a link, then read and reply to
its one conversation with the link session's token."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.middleware import ASGIMiddleware
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ASGIApp, Receive, Scope, Send

from huddle.dependencies import Context, Rt
from huddle.errors import Unauthorized
from huddle.messaging.schemas import MessageOut, MessagePage
from huddle.notify import links
from huddle.notify.schemas import ConfirmIn, LinkSessionOut, ReplyIn

CONFIRM_PATH = "/api/v1/patient-links/{token}/confirm"


class HideLinkToken(ASGIMiddleware):
    """The access log writes each request's path; this one holds a secure-link token,
    so it is replaced by its template before the log line is written."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        try:
            await next_app(scope, receive, send)
        finally:
            scope["path"] = CONFIRM_PATH
            scope["raw_path"] = CONFIRM_PATH.encode()


def _session_token(request: Request) -> str:  # type: ignore[type-arg]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Open your secure link first: this needs the link session's token.",
            code="missing_token",
        )
    return token.strip()


class PatientLinksController(Controller):
    path = "/api/v1/patient-links"
    tags = ["patient links"]

    @post("/{token:str}/confirm", status_code=HTTP_200_OK, middleware=[HideLinkToken()])
    async def confirm(
        self, token: FromPath[str], data: JSONBody[ConfirmIn], rt: Rt, context: Context
    ) -> LinkSessionOut:
        """Confirm a secure link with the patient's date of birth; answers a 30-minute
        link session for that link's conversation. A link works once."""
        return LinkSessionOut.of(await links.confirm_link(rt, token, data.date_of_birth, context))

    @get("/session/messages")
    async def messages(
        self,
        request: Request,  # type: ignore[type-arg]
        rt: Rt,
        context: Context,
        after: FromQuery[int | None] = None,
        before: FromQuery[int | None] = None,
        limit: FromQuery[int] = 50,
    ) -> MessagePage:
        """The link session's conversation, a page in seq order (as
        `GET /conversations/{id}/messages`)."""
        views, last_seq = await links.read_messages(
            rt, _session_token(request), context, after=after, before=before, limit=limit
        )
        return MessagePage([MessageOut.of(v) for v in views], last_seq)

    @post("/session/messages")
    async def reply(
        self,
        request: Request,  # type: ignore[type-arg]
        data: JSONBody[ReplyIn],
        rt: Rt,
        context: Context,
    ) -> Response[MessageOut]:
        """Reply in the link session's conversation: 201 once committed; a retry with
        the same client_msg_id answers 200 with the original."""
        view, created = await links.reply(
            rt, _session_token(request), context, data.body, data.client_msg_id
        )
        return Response(MessageOut.of(view), status_code=HTTP_201_CREATED if created else 200)


CONTROLLERS = [PatientLinksController]
