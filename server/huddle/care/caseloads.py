"""Caseloads: how many patients' care teams each clinician sits on, and moving one
clinician's care-team memberships to a colleague (someone leaves or changes post).

For administrators, who manage accounts but never see patient records: the answers
carry counts only, never a patient's name or id. Each patient whose team changes is
still audited under its own id, as every care-team change is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from huddle.actor import CLINICAL_ROLES, Actor, Role
from huddle.care.models import CareTeamMember
from huddle.errors import Conflict, Invalid, NotFound
from huddle.identity.models import User
from huddle.protect.audit import Action
from huddle.protect.policy import require_role
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work


@dataclass(frozen=True, slots=True)
class Caseload:
    user_id: uuid.UUID
    display_name: str
    role: Role
    is_active: bool
    care_teams: int  # patients whose care team this person is on


@dataclass(frozen=True, slots=True)
class Transfer:
    transferred: int  # teams the receiver joined in the leaver's place
    already_on_team: int  # teams the receiver was on already: the leaver just left
    source: Caseload
    target: Caseload


async def list_caseloads(rt: Runtime, actor: Actor) -> list[Caseload]:
    """Admin: every clinician of the organization (deactivated ones too) with the number
    of care teams they are on."""
    require_role(actor, Role.ADMIN)
    async with unit_of_work(rt, actor=actor) as uow:
        return await _caseloads(uow, actor, None)


async def transfer_caseload(
    rt: Runtime, actor: Actor, source_id: uuid.UUID, target_id: uuid.UUID
) -> Transfer:
    """Admin: put `target` on every care team `source` is on, in `source`'s place, in one
    transaction. Safe to repeat: a team that has both keeps one membership (target's),
    and a second call finds nothing left to move. Audited once per patient affected.

    Both must be clinicians of the caller's organization (NotFound otherwise) with the
    same role; the target must be active. The source may be deactivated (a leaver)."""
    require_role(actor, Role.ADMIN)
    if source_id == target_id:
        raise Invalid("Choose two different people.", code="same_user")
    async with unit_of_work(rt, actor=actor) as uow:
        source = await _clinician(uow, actor, source_id)
        target = await _clinician(uow, actor, target_id)
        if target.role != source.role:
            raise Invalid(
                "A caseload moves to someone with the same role.", code="incompatible_role"
            )
        if not target.is_active:
            raise Invalid(
                "A caseload cannot move to a deactivated account.", code="user_deactivated"
            )
        leaving = (
            await uow.db.scalars(
                select(CareTeamMember)
                .where(CareTeamMember.user_id == source.id)
                .order_by(CareTeamMember.patient_id)
                .with_for_update()
            )
        ).all()
        already = set(
            await uow.db.scalars(
                select(CareTeamMember.patient_id).where(
                    CareTeamMember.user_id == target.id,
                    CareTeamMember.patient_id.in_([m.patient_id for m in leaving]),
                )
            )
        )
        now = rt.clock.now()
        for membership in leaving:
            shared = membership.patient_id in already
            if shared:
                await uow.db.delete(membership)
            else:  # the same seat on the team, now held by the target
                membership.user_id, membership.added_at = target.id, now
                membership.added_by = actor.user_id
            uow.audit(
                Action.UPDATE,
                "care_team",
                membership.patient_id,
                patient_id=membership.patient_id,
                change="caseload_transfer",
                from_user_id=str(source.id),
                to_user_id=str(target.id),
                to_already_on_team="yes" if shared else "no",
            )
        try:
            await uow.db.flush()
        except IntegrityError:  # the target joined one of these teams meanwhile
            raise Conflict(
                "A care team changed during the transfer; try again.", code="concurrent_change"
            ) from None
        counts = {c.user_id: c for c in await _caseloads(uow, actor, (source.id, target.id))}
        return Transfer(
            transferred=len(leaving) - len(already),
            already_on_team=len(already),
            source=counts[source.id],
            target=counts[target.id],
        )


async def _clinician(uow: UnitOfWork, actor: Actor, user_id: uuid.UUID) -> User:
    user = await uow.db.scalar(
        select(User).where(User.id == user_id, User.organization_id == actor.organization_id)
    )
    if user is None:
        raise NotFound("No such user.")
    if Role(user.role) not in CLINICAL_ROLES:
        raise Invalid("Only clinicians sit on care teams.", code="not_clinical_staff")
    return user


async def _caseloads(
    uow: UnitOfWork, actor: Actor, only: tuple[uuid.UUID, ...] | None
) -> list[Caseload]:
    statement = (
        select(User, func.count(CareTeamMember.id))
        .outerjoin(CareTeamMember, CareTeamMember.user_id == User.id)
        .where(
            User.organization_id == actor.organization_id,
            User.role.in_([role.value for role in CLINICAL_ROLES]),
        )
        .group_by(User.id)
        .order_by(User.display_name, User.email)
    )
    if only is not None:
        statement = statement.where(User.id.in_(only))
    return [
        Caseload(user.id, user.display_name, Role(user.role), user.is_active, count)
        for user, count in await uow.db.execute(statement)
    ]
