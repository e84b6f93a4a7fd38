"""A patient's accounting of disclosures (in the style of HIPAA §164.528): who reached
their record, when, how often and how, one line per person. The database counts the
events per person, action and outcome (`grouped_accesses`); `per_person` makes lines."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, case, func, select

from huddle.compliance.query import AuditFilter, actor_name, break_glass_condition, event_actor
from huddle.identity.models import User
from huddle.protect.audit import Action, Outcome
from huddle.protect.models import AuditEvent

# What counts as access to a patient's data.
ACCESS_ACTIONS = (
    Action.READ,
    Action.CREATE,
    Action.UPDATE,
    Action.DELETE,
    Action.EXPORT,
    Action.BREAK_GLASS,
)


@dataclass(frozen=True, slots=True)
class AccessGroup:
    """One person's events of one action and outcome about the patient."""

    actor_user_id: uuid.UUID | None
    actor_role: str | None
    actor_name: str | None
    action: str
    outcome: str
    first_at: datetime
    last_at: datetime
    count: int
    flagged: int  # how many of them are flagged break-glass

    @classmethod
    def of(cls, row: Row[Any]) -> AccessGroup:
        """From a row of `grouped_accesses`."""
        user_id, role, display_name, action, outcome, first, last, count, flagged = row
        name = actor_name(role, display_name)
        return cls(user_id, role, name, action, outcome, first, last, count, int(flagged))


@dataclass(frozen=True, slots=True)
class PersonAccess:
    actor_user_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    first_at: datetime
    last_at: datetime
    accesses: int  # successful
    denied: int  # refused attempts
    kinds: tuple[str, ...]  # the actions of the successful accesses
    flagged: bool  # any break-glass access among them


def grouped_accesses(organization_id: uuid.UUID, window: AuditFilter) -> Select[Any]:
    """The organization's access events matching `window` (which names the patient),
    counted per person, action and outcome."""
    person = (AuditEvent.actor_user_id, AuditEvent.actor_role, User.display_name)
    kind = (AuditEvent.action, AuditEvent.outcome)
    return (
        select(
            *person,
            *kind,
            func.min(AuditEvent.at),
            func.max(AuditEvent.at),
            func.count(),
            func.sum(case((break_glass_condition(), 1), else_=0)),
        )
        .outerjoin(User, event_actor())
        .where(
            AuditEvent.organization_id == organization_id,
            AuditEvent.action.in_([a.value for a in ACCESS_ACTIONS]),
            AuditEvent.outcome.in_([Outcome.SUCCESS.value, Outcome.DENIED.value]),
            *window.conditions(),
        )
        .group_by(*person, *kind)
    )


def per_person(groups: Iterable[AccessGroup]) -> list[PersonAccess]:
    """One line per person, the most recent access first."""
    people: dict[uuid.UUID | None, list[AccessGroup]] = {}
    for group in groups:
        people.setdefault(group.actor_user_id, []).append(group)
    lines = [_line(person_groups) for person_groups in people.values()]
    return sorted(lines, key=lambda line: line.last_at, reverse=True)


def _line(groups: list[AccessGroup]) -> PersonAccess:
    latest = max(groups, key=lambda g: g.last_at)
    succeeded = [g for g in groups if g.outcome == Outcome.SUCCESS]
    return PersonAccess(
        actor_user_id=latest.actor_user_id,
        actor_name=latest.actor_name,
        actor_role=latest.actor_role,
        first_at=min(g.first_at for g in groups),
        last_at=latest.last_at,
        accesses=sum(g.count for g in succeeded),
        denied=sum(g.count for g in groups if g.outcome == Outcome.DENIED),
        kinds=tuple(sorted({g.action for g in succeeded})),
        flagged=any(g.flagged for g in groups),
    )
