"""What a task is and how it may move: kinds, priorities, statuses and the legal
transitions between them (anything else is a 409 `illegal_transition`)."""

from __future__ import annotations

from enum import StrEnum

from huddle.errors import Conflict


class Kind(StrEnum):
    FOLLOW_UP = "follow_up"
    CALL_PATIENT = "call_patient"
    SCHEDULE = "schedule"
    MED_REVIEW = "med_review"
    SCREENING = "screening"
    PSYCH_CONSULT_REVIEW = "psych_consult_review"
    WARM_HANDOFF = "warm_handoff"
    OTHER = "other"


class Priority(StrEnum):
    ROUTINE = "routine"
    HIGH = "high"
    URGENT = "urgent"


class Status(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"
    DECLINED = "declined"


class Change(StrEnum):
    """An entry in a task's history; `last_change` picks the real-time frame."""

    CREATED = "created"
    ASSIGNED = "assigned"
    CLAIMED = "claimed"
    STATUS = "status"
    REOPENED = "reopened"
    EDITED = "edited"
    COMMENTED = "commented"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    # A warm handoff no consultant took, back with the PCP who asked (flagged overdue).
    RETURNED = "returned"


# Reopening a finished task is its own, explicit action (`reopen`), never a status change.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.ACCEPTED, Status.DECLINED, Status.CANCELLED}),
    Status.ACCEPTED: frozenset(
        {Status.IN_PROGRESS, Status.DONE, Status.DECLINED, Status.CANCELLED}
    ),
    Status.IN_PROGRESS: frozenset({Status.DONE, Status.CANCELLED}),
    Status.DONE: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.DECLINED: frozenset(),
}
ACTIVE = frozenset({Status.OPEN, Status.ACCEPTED, Status.IN_PROGRESS})
FINISHED = frozenset({Status.DONE, Status.CANCELLED, Status.DECLINED})
# These need a reason, kept sealed in the task and its history.
NEEDS_REASON = frozenset({Status.DECLINED, Status.CANCELLED})


def check_transition(current: Status, wanted: Status) -> None:
    """Raise Conflict unless `current → wanted` is a legal status change."""
    if wanted not in ALLOWED[current]:
        hint = " Reopen it first." if current in FINISHED else ""
        raise Conflict(
            f"A task that is {current.value} cannot become {wanted.value}.{hint}",
            code="illegal_transition",
        )


def frame_for(change: Change) -> str:
    """The real-time frame a change is announced with."""
    if change is Change.CREATED:
        return "task.created"
    if change in (Change.ASSIGNED, Change.CLAIMED, Change.ESCALATED, Change.RETURNED):
        return "task.assigned"
    return "task.updated"
