"""HTTP endpoints for conversation attachments: raw upload, list, download."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_201_CREATED

from huddle.dependencies import CurrentActor, Rt
from huddle.messaging import attachments
from huddle.messaging.attachments import AttachmentView


class AttachmentOut(msgspec.Struct):
    id: uuid.UUID
    filename: str
    media_type: str
    size: int
    uploader_id: uuid.UUID
    created_at: datetime

    @classmethod
    def of(cls, view: AttachmentView) -> AttachmentOut:
        return cls(
            view.id, view.filename, view.media_type, view.size, view.uploader_id, view.created_at
        )


class AttachmentList(msgspec.Struct):
    attachments: list[AttachmentOut]


class AttachmentsController(Controller):
    path = "/api/v1"
    tags = ["attachments"]

    @post(
        "/conversations/{conversation_id:uuid}/attachments",
        # The body limit is checked before the handler runs (413 in the error shape).
        request_max_body_size=attachments.MAX_BYTES,
        status_code=HTTP_201_CREATED,
    )
    async def upload(
        self,
        conversation_id: FromPath[uuid.UUID],
        filename: FromQuery[str],
        request: Request[Any, Any, Any],
        rt: Rt,
        actor: CurrentActor,
    ) -> AttachmentOut:
        """Attach a file (the raw request body; its type is detected from the content:
        PDF, PNG, JPEG or UTF-8 text; at most 10 MiB)."""
        # Raw bytes: the client's Content-Type is not trusted, the content is inspected.
        data = await request.body()
        view = await attachments.upload_attachment(rt, actor, conversation_id, filename, data)
        return AttachmentOut.of(view)

    @get("/conversations/{conversation_id:uuid}/attachments")
    async def find(
        self, conversation_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> AttachmentList:
        """The conversation's files, oldest first."""
        views = await attachments.list_attachments(rt, actor, conversation_id)
        return AttachmentList([AttachmentOut.of(v) for v in views])

    @get("/attachments/{attachment_id:uuid}")
    async def download(
        self, attachment_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> Response[bytes]:
        """The file, decrypted, as its detected type; never cached, never sniffed."""
        download = await attachments.download_attachment(rt, actor, attachment_id)
        view = download.attachment
        media_type = view.media_type
        if media_type == attachments.TEXT:
            media_type += "; charset=utf-8"
        return Response(
            download.content,
            media_type=media_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(view.filename)}",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )


CONTROLLERS = [AttachmentsController]
