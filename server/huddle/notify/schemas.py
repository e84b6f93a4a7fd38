"""Request and response bodies of the patient-links API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

import msgspec

from huddle.messaging.schemas import Body, ClientMsgId
from huddle.notify.links import LinkSession


class ConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    date_of_birth: date


class LinkSessionOut(msgspec.Struct):
    access_token: str
    expires_in: int
    conversation_id: uuid.UUID
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105

    @classmethod
    def of(cls, session: LinkSession) -> LinkSessionOut:
        return cls(session.access_token, session.expires_in, session.conversation_id)


class ReplyIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Body
    client_msg_id: ClientMsgId | None = None
