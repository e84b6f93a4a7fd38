"""One WebSocket connection: authenticate in the first frame, then read the client's
frames and deliver events from the bus (a task each), with a timer watching the session,
until any of them ends the connection.

Delivery never trusts the bus for content. An event only says "conversation X changed
at revision R"; the connection then reads everything after the last revision it
delivered (the same audited query a resuming client uses, shared with the process's
other sockets in one transaction: shared_reads.py), so nothing is missed, nothing is sent
twice, and order is by revision.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import msgspec
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect

from huddle.actor import Actor, RequestContext
from huddle.errors import Forbidden, HuddleError, Unauthorized
from huddle.events import Subscription
from huddle.identity import service as identity
from huddle.messaging import conversations
from huddle.messaging import service as messaging
from huddle.messaging.service import CatchUp
from huddle.realtime import protocol
from huddle.realtime.shared_reads import SharedReads
from huddle.realtime.task_feed import TaskFeed
from huddle.runtime import Runtime

log = logging.getLogger("huddle.realtime")

AUTH_TIMEOUT_SECONDS = 10.0
SESSION_CHECK_SECONDS = 30.0
FRAMES_PER_SECOND = 20.0
FRAME_BURST = 60.0
CATCH_UP_PAGE = 200
CLOSE_TIMEOUT_SECONDS = 5.0


class Closing(Exception):
    """End the connection with this close code after sending `frame`."""

    def __init__(self, code: int, frame: str) -> None:
        super().__init__(code)
        self.code = code
        self.frame = frame


class Connection:
    # Slots: ten thousand idle sockets each hold one (bench (d)); a __dict__ per
    # connection was a kibibyte more.
    __slots__ = (
        "_allowance",
        "_delivery_lock",
        "_ending",
        "_last_frame",
        "_main",
        "_send_lock",
        "_session_check",
        "_session_timer",
        "_stopped_by",
        "actor",
        "delivered",
        "reads",
        "rt",
        "socket",
        "tasks",
        "token",
        "token_expires_at",
    )

    def __init__(self, socket: WebSocket[Any, Any, Any], rt: Runtime, reads: SharedReads) -> None:
        self.socket = socket
        self.rt = rt
        self.reads = reads
        self.actor: Actor | None = None
        self.token = ""
        self.token_expires_at = 0.0
        self.delivered: dict[uuid.UUID, int] = {}
        self.tasks = TaskFeed(rt, self._send, reads)
        self._send_lock = asyncio.Lock()
        self._delivery_lock = asyncio.Lock()
        self._allowance = FRAME_BURST
        self._last_frame = time.monotonic()
        # How the loops end (see _run_loops).
        self._main: asyncio.Task[Any] | None = None
        self._stopped_by: BaseException | None = None
        self._ending = False
        self._session_timer: asyncio.TimerHandle | None = None
        self._session_check: asyncio.Task[None] | None = None

    async def run(self) -> None:
        await self.socket.accept()
        try:
            if not self._origin_allowed():
                raise Closing(
                    protocol.CLOSE_ORIGIN,
                    protocol.error("origin_not_allowed", "This page's origin may not connect."),
                )
            await self._authenticate_first_frame()
            assert self.actor is not None
            subscription = self.rt.events.subscribe(self.actor.user_id)
            try:
                self.delivered = await self.reads.revisions.read(self.actor)
                await self._send(
                    protocol.encode(
                        "ready",
                        user_id=str(self.actor.user_id),
                        conversations={str(k): v for k, v in self.delivered.items()},
                        tasks=await self.tasks.start(self.actor),
                    )
                )
                await self._run_loops(subscription)
            finally:
                self.rt.events.unsubscribe(subscription)
        except Closing as closing:
            await self._close(closing.code, closing.frame)
        except WebSocketDisconnect:
            pass

    # -------------------------------------------------------------- authentication

    def _origin_allowed(self) -> bool:
        origin = self.socket.headers.get("origin")
        # No Origin: not a browser, so no cross-site risk; the token still decides.
        return origin is None or origin.rstrip("/") in self.rt.settings.allowed_origins

    async def _authenticate_first_frame(self) -> None:
        try:
            raw = await asyncio.wait_for(self.socket.receive_data("text"), AUTH_TIMEOUT_SECONDS)
        except TimeoutError:
            raise Closing(
                protocol.CLOSE_AUTH, protocol.error("auth_timeout", "Send an auth frame first.")
            ) from None
        try:
            frame = protocol.decode(raw)
        except protocol.FrameError as exc:
            raise Closing(protocol.CLOSE_AUTH, protocol.error("bad_frame", str(exc))) from None
        if not isinstance(frame, protocol.Auth):
            raise Closing(
                protocol.CLOSE_AUTH,
                protocol.error("auth_required", "The first frame must be an auth frame."),
            )
        await self._authenticate(frame.token)

    async def _authenticate(self, token: str, *, activity: bool = False) -> None:
        """Check a token (also a refresh of it mid-connection). Connecting, reconnecting
        and replacing a token are things a client does by itself: not activity."""
        try:
            signed_in = await identity.authenticate(
                self.rt, token, self._context(), activity=activity, check=self.reads.sessions.read
            )
        except Unauthorized as exc:
            raise Closing(protocol.CLOSE_AUTH, protocol.error(exc.code, exc.detail)) from None
        if signed_in.needs_mfa_enrolment:
            raise Closing(
                protocol.CLOSE_AUTH,
                protocol.error("mfa_enrolment_required", "Set up two-step sign-in first."),
            )
        if self.actor is not None and signed_in.actor.user_id != self.actor.user_id:
            raise Closing(
                protocol.CLOSE_AUTH,
                protocol.error("user_changed", "A connection belongs to one user."),
            )
        self.actor, self.token = signed_in.actor, token
        self.token_expires_at = signed_in.token_expires_at

    def _context(self) -> RequestContext:
        client = self.socket.client
        return RequestContext(
            source_ip=client.host if client else None,
            request_id=self.socket.scope.get("state", {}).get("request_id"),
            user_agent=(self.socket.headers.get("user-agent") or "")[:256] or None,
        )

    # ----------------------------------------------------------------------- loops

    async def _run_loops(self, subscription: Subscription) -> None:
        """Read the client's frames in this task and deliver events in one other. The
        session watchdog is a timer and missed events a callback, not a task each (an
        idle socket should cost little); whichever ends the connection stops this task
        with its reason (`_stop`)."""
        self._main = asyncio.current_task()
        delivery = asyncio.create_task(self._deliver_events(subscription))
        delivery.add_done_callback(self._delivery_ended)
        subscription.on_missed = self._events_missed
        if subscription.missed:
            self._events_missed()
        self._arm_session_check()
        try:
            await self._read_frames()
        except asyncio.CancelledError:
            if self._stopped_by is None:
                raise  # cancelled from outside: the server is shutting down
            self._main.uncancel()
            raise self._stopped_by from None
        finally:
            self._ending = True
            subscription.on_missed = None
            if self._session_timer is not None:
                self._session_timer.cancel()
            helpers = [t for t in (delivery, self._session_check) if t is not None]
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    def _stop(self, reason: BaseException) -> None:
        """End the connection from a callback or the delivery task: the frame reader
        stops and `_run_loops` raises `reason` (a Closing, a disconnect, an error)."""
        if self._stopped_by is None and not self._ending and self._main is not None:
            self._stopped_by = reason
            self._main.cancel()

    def _delivery_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            self._stop(error)

    async def _read_frames(self) -> None:
        while True:
            raw = await self.socket.receive_data("text")
            self._spend_allowance()
            try:
                frame = protocol.decode(raw)
            except protocol.FrameError as exc:
                await self._send(protocol.error("bad_frame", str(exc)))
                continue
            try:
                await self._handle(frame)
            except HuddleError as exc:
                await self._send(
                    protocol.error(
                        exc.code, exc.detail, frame=_frame_type(frame), **_correlation(frame)
                    )
                )

    async def _deliver_events(self, subscription: Subscription) -> None:
        while True:
            event = await subscription.next()
            if event.type in ("message.created", "message.updated"):
                await self._catch_up(uuid.UUID(event.payload["conversation_id"]))
            elif event.type.startswith("task."):
                assert self.actor is not None
                await self.tasks.catch_up(self.actor)
            elif event.type == identity.SESSION_ENDED:
                assert self.actor is not None
                if event.payload["session_id"] == str(self.actor.session_id):
                    raise Closing(
                        protocol.CLOSE_AUTH,
                        protocol.error("session_revoked", "The session has ended. Sign in again."),
                    )
            else:
                await self._send(protocol.encode(event.type, **event.payload))

    def _events_missed(self) -> None:
        """Cut the client off as soon as events were dropped for it, even while a send
        to it is stuck: it resumes from the database, and a client that stopped
        reading holds no more than its buffers."""
        assert self.actor is not None
        log.info(
            "websocket cut off: events missed",
            extra={"fields": {"user_id": str(self.actor.user_id)}},
        )
        self._stop(
            Closing(
                protocol.CLOSE_TOO_SLOW,
                protocol.error("too_slow", "Events piled up; reconnect and resume."),
            )
        )

    def _arm_session_check(self) -> None:
        if self._ending:  # a check that finished as the connection ended
            return
        until_expiry = self.token_expires_at - self.rt.clock.now().timestamp()
        delay = max(0.05, min(SESSION_CHECK_SECONDS, until_expiry))
        self._session_timer = asyncio.get_running_loop().call_later(delay, self._session_due)

    def _session_due(self) -> None:
        self._session_check = asyncio.create_task(self._check_session())
        self._session_check.add_done_callback(self._session_checked)

    def _session_checked(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if (error := task.exception()) is not None:
            self._stop(error)
        else:
            self._arm_session_check()

    async def _check_session(self) -> None:
        """The token has not expired and the session is still good (not as activity)."""
        assert self.actor is not None
        if self.rt.clock.now().timestamp() >= self.token_expires_at:
            raise Closing(
                protocol.CLOSE_AUTH,
                protocol.error(
                    "token_expired",
                    "Send a fresh token in an auth frame before this one expires.",
                ),
            )
        try:
            await identity.check_session(self.rt, self.actor)
        except Unauthorized as exc:
            raise Closing(protocol.CLOSE_AUTH, protocol.error(exc.code, exc.detail)) from None

    # ---------------------------------------------------------------------- frames

    async def _handle(self, frame: protocol.ClientFrame) -> None:
        if isinstance(frame, protocol.Ping):
            await self._send(protocol.encode("pong"))
            return
        if isinstance(frame, protocol.Auth):
            await self._authenticate(frame.token)
            await self._send(protocol.encode("authenticated"))
            return
        await self._authenticate(self.token, activity=_is_activity(frame))  # still valid?
        assert self.actor is not None
        if isinstance(frame, protocol.Resume):
            await self._resume(frame.cursors, frame.tasks)
        elif isinstance(frame, protocol.Send):
            draft = messaging.MessageDraft(
                frame.body,
                frame.client_msg_id,
                frame.priority,
                frame.reply_to_seq,
                frame.sensitivity,
                frame.attachment_ids,
            )
            view, created = await messaging.send_message(
                self.rt, self.actor, frame.conversation_id, draft
            )
            await self._send(
                protocol.encode(
                    "ack",
                    client_msg_id=frame.client_msg_id,
                    conversation_id=str(view.conversation_id),
                    message_id=str(view.id),
                    seq=view.seq,
                    revision=view.revision,
                    duplicate=not created,
                )
            )
            await self._catch_up(view.conversation_id)
        elif isinstance(frame, protocol.Read):
            read_seq = await messaging.mark_read(
                self.rt, self.actor, frame.conversation_id, frame.seq
            )
            await self._send(
                protocol.encode(
                    "read", conversation_id=str(frame.conversation_id), read_seq=read_seq
                )
            )
        elif isinstance(frame, protocol.Typing):
            await conversations.signal_typing(self.rt, self.actor, frame.conversation_id)
        elif isinstance(frame, protocol.Presence):
            await conversations.announce_presence(self.rt, self.actor, frame.status)

    async def _resume(self, cursors: dict[uuid.UUID, int], tasks: int | None) -> None:
        unknown = [c for c in cursors if c not in self.delivered]
        if unknown:
            raise Forbidden(
                "Resume only conversations you take part in.", code="unknown_conversation"
            )
        async with self._delivery_lock:
            self.delivered.update(cursors)
        await self._catch_up(*cursors)
        if tasks is not None:
            assert self.actor is not None
            await self.tasks.resume(self.actor, tasks)
        await self._send(
            protocol.encode(
                "resumed",
                conversations={str(k): v for k, v in self.delivered.items()},
                tasks=self.tasks.delivered,
            )
        )

    async def _catch_up(self, *conversation_ids: uuid.UUID) -> None:
        """Send every change after the last delivered revision of each conversation, in
        order, once. The conversations are asked for together, so a resume's reads share
        the process's catch-up transactions instead of queueing one by one."""
        assert self.actor is not None
        actor = self.actor
        failed: BaseException | None = None  # told after the others are delivered
        async with self._delivery_lock:
            pending = list(dict.fromkeys(conversation_ids))
            while pending:
                answers = await self.reads.catch_ups.read_each(
                    [CatchUp(actor, c, self.delivered.get(c, 0), CATCH_UP_PAGE) for c in pending]
                )
                unfinished = []
                for conversation_id, answer in zip(pending, answers, strict=True):
                    if isinstance(answer, BaseException):
                        failed = failed or answer
                        continue
                    views, last = answer
                    await self._deliver(conversation_id, views)
                    if len(views) == CATCH_UP_PAGE and self.delivered[conversation_id] < last:
                        unfinished.append(conversation_id)
                pending = unfinished
        if failed is not None:
            raise failed

    async def _deliver(
        self, conversation_id: uuid.UUID, views: list[messaging.MessageView]
    ) -> None:
        for view in views:
            created = view.version == 1 and view.redacted_at is None
            await self._send(
                protocol.encode(
                    "message.created" if created else "message.updated",
                    conversation_id=str(conversation_id),
                    revision=view.revision,
                    message=msgspec.to_builtins(view),
                )
            )
            self.delivered[conversation_id] = view.revision

    # ----------------------------------------------------------------- plumbing

    def _spend_allowance(self) -> None:
        now = time.monotonic()
        self._allowance = min(
            FRAME_BURST, self._allowance + (now - self._last_frame) * FRAMES_PER_SECOND
        )
        self._last_frame = now
        self._allowance -= 1
        if self._allowance < 0:
            raise Closing(
                protocol.CLOSE_RATE_LIMITED,
                protocol.error("rate_limited", "Too many frames; slow down."),
            )

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self.socket.send_text(text)

    async def _close(self, code: int, frame: str) -> None:
        """Send `frame` and the close; a client that does not read (so these cannot be
        written) is dropped after CLOSE_TIMEOUT_SECONDS without them."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self._send(frame)
                await self.socket.close(code=code, reason=protocol.CLOSE_CODES.get(code, ""))
        except (WebSocketDisconnect, RuntimeError, TimeoutError):
            pass  # the client left first, or is not reading


def _is_activity(frame: protocol.ClientFrame) -> bool:
    """Only what the person does restarts the idle clock: sending, typing, and a read
    receipt the client did not mark passive. Resume and presence are the client's own."""
    if isinstance(frame, protocol.Read):
        return not frame.passive
    return isinstance(frame, protocol.Send | protocol.Typing)


def _frame_type(frame: protocol.ClientFrame) -> str:
    return type(frame).__struct_config__.tag  # type: ignore[return-value]


def _correlation(frame: protocol.ClientFrame) -> dict[str, str]:
    if isinstance(frame, protocol.Send):
        return {"client_msg_id": frame.client_msg_id}
    return {}
