"""HTTP endpoints for referrals, conversations and messages (WebSocket frames call the
same service functions)."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from huddle.dependencies import CurrentActor, Rt
from huddle.messaging import conversations, referrals, service
from huddle.messaging.schemas import (
    Changes,
    ConversationIn,
    ConversationList,
    ConversationOut,
    History,
    MessageEdit,
    MessageIn,
    MessageOut,
    MessagePage,
    ReadIn,
    ReadOut,
    ReferralIn,
    ReferralList,
    ReferralOut,
    StatusIn,
    VersionOut,
)


class ReferralsController(Controller):
    path = "/api/v1/referrals"
    tags = ["referrals"]

    @post("")
    async def create(self, data: JSONBody[ReferralIn], rt: Rt, actor: CurrentActor) -> ReferralOut:
        """Refer a patient to behavioral health; opens the referral thread."""
        draft = referrals.ReferralDraft(
            data.patient_id,
            data.receiving_service,
            data.reason,
            data.urgency,
            data.warm_handoff,
            data.receiving_user_id,
            data.include_patient,
        )
        return ReferralOut.of(await referrals.create_referral(rt, actor, draft))

    @get("")
    async def find(
        self, rt: Rt, actor: CurrentActor, status: FromQuery[referrals.Status | None] = None
    ) -> ReferralList:
        """Referrals in your threads, newest first; optionally by status."""
        views = await referrals.list_referrals(rt, actor, status)
        return ReferralList([ReferralOut.of(v) for v in views], len(views))

    @get("/{referral_id:uuid}")
    async def read(
        self, referral_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> ReferralOut:
        """One referral with its status history."""
        return ReferralOut.of(await referrals.get_referral(rt, actor, referral_id))

    @post("/{referral_id:uuid}/status", status_code=HTTP_200_OK)
    async def change_status(
        self,
        referral_id: FromPath[uuid.UUID],
        data: JSONBody[StatusIn],
        rt: Rt,
        actor: CurrentActor,
    ) -> ReferralOut:
        """Move the referral on (sent → accepted → scheduled → in_care → closed, or
        declined with a reason); illegal moves answer 409."""
        view = await referrals.change_status(
            rt, actor, referral_id, data.status, data.decline_reason
        )
        return ReferralOut.of(view)


class ConversationsController(Controller):
    path = "/api/v1/conversations"
    tags = ["conversations"]

    @get("")
    async def find(self, rt: Rt, actor: CurrentActor) -> ConversationList:
        """Your conversations, latest activity first, with unread counts."""
        views = await conversations.list_conversations(rt, actor)
        return ConversationList([ConversationOut.of(v) for v in views], len(views))

    @post("")
    async def create(
        self, data: JSONBody[ConversationIn], rt: Rt, actor: CurrentActor
    ) -> ConversationOut:
        """Start a patient thread (care team and patient) or a staff thread."""
        view = await conversations.start_conversation(
            rt, actor, data.kind, data.patient_id, data.member_ids, data.sensitivity
        )
        return ConversationOut.of(view)

    @get("/{conversation_id:uuid}")
    async def read(
        self, conversation_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> ConversationOut:
        """One conversation: participants with their read cursors, counts."""
        return ConversationOut.of(await conversations.get_conversation(rt, actor, conversation_id))

    @get("/{conversation_id:uuid}/messages")
    async def messages(
        self,
        conversation_id: FromPath[uuid.UUID],
        rt: Rt,
        actor: CurrentActor,
        after: FromQuery[int | None] = None,
        before: FromQuery[int | None] = None,
        limit: FromQuery[int] = 50,
    ) -> MessagePage:
        """A page of messages in seq order: `after=SEQ` forward, `before=SEQ` backward,
        neither: the latest."""
        views, last_seq = await service.list_messages(
            rt, actor, conversation_id, after=after, before=before, limit=limit
        )
        return MessagePage([MessageOut.of(v) for v in views], last_seq)

    @get("/{conversation_id:uuid}/changes")
    async def changes(
        self,
        conversation_id: FromPath[uuid.UUID],
        rt: Rt,
        actor: CurrentActor,
        since_revision: FromQuery[int] = 0,
    ) -> Changes:
        """Messages created, edited or redacted after a revision (to catch up)."""
        views, last = await service.changes_since(rt, actor, conversation_id, since_revision)
        return Changes([MessageOut.of(v) for v in views], last)

    @post("/{conversation_id:uuid}/messages")
    async def send(
        self,
        conversation_id: FromPath[uuid.UUID],
        data: JSONBody[MessageIn],
        rt: Rt,
        actor: CurrentActor,
    ) -> Response[MessageOut]:
        """Send a message: 201 once committed; a retry with the same client_msg_id
        answers 200 with the original message."""
        draft = service.MessageDraft(
            data.body,
            data.client_msg_id,
            data.priority,
            data.reply_to_seq,
            data.sensitivity,
            data.attachment_ids,
        )
        view, created = await service.send_message(rt, actor, conversation_id, draft)
        return Response(MessageOut.of(view), status_code=HTTP_201_CREATED if created else 200)

    @post("/{conversation_id:uuid}/read", status_code=HTTP_200_OK)
    async def read_up_to(
        self,
        conversation_id: FromPath[uuid.UUID],
        data: JSONBody[ReadIn],
        rt: Rt,
        actor: CurrentActor,
    ) -> ReadOut:
        """Mark messages up to `seq` read (a read receipt for the others)."""
        return ReadOut(await service.mark_read(rt, actor, conversation_id, data.seq))


class MessagesController(Controller):
    path = "/api/v1/messages"
    tags = ["messages"]

    @patch("/{message_id:uuid}")
    async def edit(
        self,
        message_id: FromPath[uuid.UUID],
        data: JSONBody[MessageEdit],
        rt: Rt,
        actor: CurrentActor,
    ) -> MessageOut:
        """Edit your message; the earlier text stays in its history."""
        return MessageOut.of(await service.edit_message(rt, actor, message_id, data.body))

    @delete("/{message_id:uuid}", status_code=HTTP_200_OK)
    async def redact(
        self, message_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> MessageOut:
        """Redact your message: its content and history go, its place and audit stay."""
        return MessageOut.of(await service.redact_message(rt, actor, message_id))

    @get("/{message_id:uuid}/history")
    async def history(
        self, message_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> History:
        """Earlier versions of an edited message."""
        versions = await service.message_history(rt, actor, message_id)
        return History([VersionOut.of(v) for v in versions])


CONTROLLERS = [ReferralsController, ConversationsController, MessagesController]
