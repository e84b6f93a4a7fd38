"""Which audit events a compliance officer should look at, and why. Pure: the service
loads a bounded window of candidate events and these rules pick the flags.

- `break_glass`: a break-glass grant (or refusal) and every read under a grant.
- `denied_burst`: a user refused at least DENIED_BURST_SIZE times within
  DENIED_BURST_WINDOW; a sustained run is reported once, with its count.
- `after_hours`: a successful read of a patient's data outside clinic hours.
- `many_patients_outside_care_team`: a user whose break-glass or refused reads touch at
  least MANY_PATIENTS distinct patients within MANY_PATIENTS_WINDOW.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from huddle.compliance.query import AuditEntry
from huddle.protect.audit import Action, Outcome

# Clinic hours, the same for every organization until organizations can set their own:
# 07:00-19:00 UTC, Monday to Friday.
CLINIC_OPENS = time(7, 0)
CLINIC_CLOSES = time(19, 0)
CLINIC_WEEKDAYS = frozenset({0, 1, 2, 3, 4})  # date.weekday(): Monday is 0

DENIED_BURST_SIZE = 5
DENIED_BURST_WINDOW = timedelta(minutes=10)
MANY_PATIENTS = 5
MANY_PATIENTS_WINDOW = timedelta(hours=24)


class FlagKind(StrEnum):
    BREAK_GLASS = "break_glass"
    DENIED_BURST = "denied_burst"
    AFTER_HOURS = "after_hours"
    MANY_PATIENTS_OUTSIDE_CARE_TEAM = "many_patients_outside_care_team"


@dataclass(frozen=True, slots=True)
class Flag:
    """One thing to review: a single event, or a run of one user's events."""

    kind: FlagKind
    events: tuple[AuditEntry, ...]  # newest first

    @property
    def newest(self) -> AuditEntry:
        return self.events[0]

    @property
    def first_at(self) -> datetime:
        return self.events[-1].at

    @property
    def patients(self) -> int:
        return len({e.patient_id for e in self.events if e.patient_id is not None})


def flags(suspicious: Iterable[AuditEntry], after_hours_reads: Iterable[AuditEntry]) -> list[Flag]:
    """Every flag, newest first. `suspicious` holds break-glass and denied events (any
    order), `after_hours_reads` the patient reads already found outside clinic hours."""
    oldest_first = sorted(suspicious, key=_moment)
    found = [Flag(FlagKind.BREAK_GLASS, (e,)) for e in oldest_first if e.is_break_glass]
    found += [Flag(FlagKind.AFTER_HOURS, (e,)) for e in after_hours_reads]
    found += denied_bursts(oldest_first)
    found += many_patients_outside_care_team(oldest_first)
    return sorted(found, key=lambda flag: _moment(flag.newest), reverse=True)


def denied_bursts(oldest_first: Sequence[AuditEntry]) -> list[Flag]:
    denied = [e for e in oldest_first if e.outcome == Outcome.DENIED]
    return [
        Flag(FlagKind.DENIED_BURST, run)
        for events in _by_actor(denied)
        for run in dense_runs(events, DENIED_BURST_WINDOW, lambda w: len(w) >= DENIED_BURST_SIZE)
    ]


def many_patients_outside_care_team(oldest_first: Sequence[AuditEntry]) -> list[Flag]:
    outside = [e for e in oldest_first if e.patient_id is not None and _outside_care_team(e)]

    def enough(window: Sequence[AuditEntry]) -> bool:
        return len({e.patient_id for e in window}) >= MANY_PATIENTS

    return [
        Flag(FlagKind.MANY_PATIENTS_OUTSIDE_CARE_TEAM, run)
        for events in _by_actor(outside)
        for run in dense_runs(events, MANY_PATIENTS_WINDOW, enough)
    ]


def _outside_care_team(entry: AuditEntry) -> bool:
    refused_read = entry.action == Action.READ and entry.outcome == Outcome.DENIED
    return entry.is_break_glass or refused_read


def dense_runs(
    oldest_first: Sequence[AuditEntry],
    window: timedelta,
    enough: Callable[[Sequence[AuditEntry]], bool],
) -> list[tuple[AuditEntry, ...]]:
    """Runs of events (newest first within each run) in which every event lies in some
    stretch of `window` whose events are `enough`. A run ends where the next such event
    is more than `window` later, so a sustained burst is one run, reported once.
    `enough` must hold for any superset of a window it holds for (a count, say)."""
    in_dense_window = [False] * len(oldest_first)
    start = 0
    for end, event in enumerate(oldest_first):
        while event.at - oldest_first[start].at > window:
            start += 1
        # The longest window ending here contains every window ending here.
        if enough(oldest_first[start : end + 1]):
            in_dense_window[start : end + 1] = [True] * (end + 1 - start)
    runs: list[list[AuditEntry]] = []
    previous: AuditEntry | None = None
    for event, dense in zip(oldest_first, in_dense_window, strict=True):
        if not dense:
            continue
        if previous is None or event.at - previous.at > window:
            runs.append([])
        runs[-1].append(event)
        previous = event
    return [tuple(reversed(run)) for run in runs]


def is_after_hours(moment: datetime) -> bool:
    moment = moment.astimezone(UTC)
    if moment.weekday() not in CLINIC_WEEKDAYS:
        return True
    return not CLINIC_OPENS <= moment.time() < CLINIC_CLOSES


def after_hours_spans(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """The stretches of [since, until) outside clinic hours, as half-open (start, end)
    pairs in order, adjoining stretches merged: a query can then find after-hours
    events with plain time comparisons on both databases."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    spans: list[tuple[datetime, datetime]] = []
    day = datetime.combine(since.date(), time(0), UTC)
    while day < until:
        next_day = day + timedelta(days=1)
        if day.weekday() in CLINIC_WEEKDAYS:
            closed = [
                (day, datetime.combine(day.date(), CLINIC_OPENS, UTC)),
                (datetime.combine(day.date(), CLINIC_CLOSES, UTC), next_day),
            ]
        else:
            closed = [(day, next_day)]
        for start, end in closed:
            start, end = max(start, since), min(end, until)
            if start >= end:
                continue
            if spans and spans[-1][1] == start:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
        day = next_day
    return spans


def _by_actor(events: Iterable[AuditEntry]) -> list[list[AuditEntry]]:
    grouped: dict[object, list[AuditEntry]] = defaultdict(list)
    for event in events:
        grouped[event.actor_user_id].append(event)
    return list(grouped.values())


def _moment(entry: AuditEntry) -> tuple[datetime, int]:
    return entry.at, entry.seq
