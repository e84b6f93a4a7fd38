"""Every frame of the WebSocket protocol, decoded and validated with msgspec.

Client frames are a tagged union on `type`; anything else is answered with an `error`
frame (the connection stays open). Close codes are listed in CLOSE_CODES.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from huddle.messaging.service import Priority
from huddle.protect.policy import Sensitivity

MAX_FRAME_BYTES = 64 * 1024

# Close codes a client acts on (4000-4999 are the application's own).
CLOSE_AUTH = 4401  # sign in again: token missing, invalid or expired; session ended
CLOSE_ORIGIN = 4403  # the page's origin is not allowed
CLOSE_TOO_SLOW = 4408  # events piled up unread: reconnect and resume
CLOSE_RATE_LIMITED = 4429  # too many frames: back off, then reconnect
# Sent by uvicorn to every socket on SIGTERM (huddle.cli SHUTDOWN_GRACE_SECONDS).
CLOSE_SERVICE_RESTART = 1012  # the server is restarting: reconnect (any instance), resume
CLOSE_CODES = {
    CLOSE_AUTH: "authentication required or session ended",
    CLOSE_ORIGIN: "origin not allowed",
    CLOSE_TOO_SLOW: "too slow to keep up; resume",
    CLOSE_RATE_LIMITED: "too many frames",
    CLOSE_SERVICE_RESTART: "server restarting; reconnect and resume",
}

Token = Annotated[str, Meta(min_length=1, max_length=4096)]
Revision = Annotated[int, Meta(ge=0)]


class Auth(msgspec.Struct, tag="auth", forbid_unknown_fields=True):
    token: Token


class Resume(msgspec.Struct, tag="resume", forbid_unknown_fields=True):
    # conversation id -> the last revision the client has; conversations left out are
    # followed from their current revision (no history replayed).
    cursors: dict[uuid.UUID, Revision] = {}
    # The last task revision the client has (from `ready`, `resumed` or a `task.*`
    # frame); left out, tasks are followed from their revision at `ready`.
    tasks: Revision | None = None


class Send(msgspec.Struct, tag="send", forbid_unknown_fields=True):
    conversation_id: uuid.UUID
    body: Annotated[str, Meta(min_length=1, max_length=20_000)]
    client_msg_id: Annotated[str, Meta(min_length=1, max_length=64)]
    priority: Priority = Priority.ROUTINE
    reply_to_seq: Annotated[int, Meta(ge=1)] | None = None
    sensitivity: Sensitivity | None = None
    attachment_ids: Annotated[tuple[uuid.UUID, ...], Meta(max_length=100)] = ()


class Read(msgspec.Struct, tag="read", forbid_unknown_fields=True):
    conversation_id: uuid.UUID
    seq: Annotated[int, Meta(ge=0)]
    # True: the client sent it by itself (a message arrived in the open thread), so it
    # is not activity for the idle timeout.
    passive: bool = False


class Typing(msgspec.Struct, tag="typing", forbid_unknown_fields=True):
    conversation_id: uuid.UUID


class Presence(msgspec.Struct, tag="presence", forbid_unknown_fields=True):
    status: Annotated[str, Meta(pattern="^(online|away)$")]


class Ping(msgspec.Struct, tag="ping", forbid_unknown_fields=True):
    pass


ClientFrame = Auth | Resume | Send | Read | Typing | Presence | Ping
_decoder = msgspec.json.Decoder(ClientFrame)
_encoder = msgspec.json.Encoder()


class FrameError(ValueError):
    """A frame that is not valid JSON or not one of the client frames."""


def decode(raw: str | bytes) -> ClientFrame:
    if len(raw) > MAX_FRAME_BYTES:
        raise FrameError(f"frames are limited to {MAX_FRAME_BYTES} bytes")
    try:
        return _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise FrameError(str(exc)) from None
    except msgspec.DecodeError:
        raise FrameError("the frame is not valid JSON") from None


def encode(frame_type: str, **fields: Any) -> str:
    return _encoder.encode({"type": frame_type, **fields}).decode()


def error(code: str, detail: str, **fields: Any) -> str:
    return encode("error", code=code, detail=detail, **fields)
