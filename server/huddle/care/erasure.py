"""Erasing a patient for good. Everything sealed about them is sealed under one of two
kinds of data key: the patient's own (identifiers, task titles and notes) and those of
each conversation about them (messages, edits, referral reasons, attachments and their
names). All of them are destroyed (crypto-shredded) with the rows, in one audited unit
of work; the attachment files are deleted once it has committed."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select

from huddle.actor import Actor, Role
from huddle.care import service as care
from huddle.identity.models import User
from huddle.identity.service import revoke_sessions_of
from huddle.messaging import attachments
from huddle.messaging import service as messaging
from huddle.messaging.models import Conversation, Referral
from huddle.protect.audit import Action
from huddle.protect.policy import require_role
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work


async def erase_patient(rt: Runtime, actor: Actor, patient_id: uuid.UUID) -> None:
    """Admin: erase a patient record for good (NotFound outside the organization). The
    data keys of the patient and of every conversation about them are destroyed, then
    the rows (the delete cascades); a linked portal account is deactivated. Audited as
    one `delete` that keeps the patient's id, never their data. Copies of the database
    taken before the erasure still hold the keys: see docs/security.md."""
    require_role(actor, Role.ADMIN)
    # scans: the delete cascades to every conversation and message of the patient.
    async with unit_of_work(rt, actor=actor, scans=True) as uow:
        # Locked first: a thread, referral or task being made for the patient meanwhile
        # waits (its reference to the patient needs the row) and then finds them gone,
        # so no key of theirs is made after the shred below.
        patient = await care.patient_in_org(uow, actor, patient_id, lock=True)
        conversation_ids = await _lock_conversations_about(uow, patient.id)
        files = await attachments.ids_in(uow, conversation_ids)
        shredded = 0
        for owner_type, owner_ids in (
            (care.OWNER_TYPE, [patient.id]),
            (messaging.OWNER_TYPE, conversation_ids),
        ):
            shredded += await rt.envelope.shred(
                uow.db, owner_type, owner_ids, after_commit=uow.on_commit.append
            )
        portal = await uow.db.scalar(select(User).where(User.patient_id == patient.id))
        if portal is not None:
            portal.patient_id, portal.is_active = None, False
            portal.deactivated_at = rt.clock.now()
            await revoke_sessions_of(uow, portal.id, "patient_erased", rt.clock.now())
        await uow.db.delete(patient)
        uow.audit(
            Action.DELETE,
            care.RESOURCE,
            patient.id,
            patient_id=patient.id,
            data_keys_destroyed=str(shredded),
            conversations=str(len(conversation_ids)),
            attachments=str(len(files)),
        )
    # Only ciphertext under a destroyed key: a file left behind by a crash here is
    # unreadable, just not reclaimed.
    await attachments.delete_blobs(rt, files)


async def _lock_conversations_about(uow: UnitOfWork, patient_id: uuid.UUID) -> list[uuid.UUID]:
    """The conversations the patient's delete cascades to, locked: a send or an upload
    into one (which locks or references its row) either commits first, so the shred
    sees its new key, or waits and then finds the conversation gone."""
    referrals = select(Referral.id).where(Referral.patient_id == patient_id)
    rows = await uow.db.scalars(
        select(Conversation.id)
        .where(or_(Conversation.patient_id == patient_id, Conversation.referral_id.in_(referrals)))
        .with_for_update()
    )
    return list(rows)
