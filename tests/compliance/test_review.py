"""The review rules on their own: clinic hours, denied bursts, many patients outside the
care team, and how flags are ordered."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from huddle.compliance import review
from huddle.compliance.review import FlagKind, after_hours_spans, is_after_hours
from tests.compliance.entries import MONDAY_NOON, entry

FRIDAY = datetime(2026, 11, 27, tzinfo=UTC)
ACTOR = uuid.uuid4()
OTHER_ACTOR = uuid.uuid4()


def at(hours: float) -> datetime:
    return MONDAY_NOON + timedelta(hours=hours)


def test_clinic_hours_are_seven_to_nineteen_utc_on_weekdays() -> None:
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert not is_after_hours(monday.replace(hour=7))
    assert not is_after_hours(monday.replace(hour=18, minute=59, second=59))
    assert is_after_hours(monday.replace(hour=6, minute=59, second=59))
    assert is_after_hours(monday.replace(hour=19))
    assert is_after_hours(monday.replace(hour=2))
    assert is_after_hours(datetime(2026, 11, 28, 12, tzinfo=UTC))  # Saturday
    assert is_after_hours(datetime(2026, 11, 29, 12, tzinfo=UTC))  # Sunday


def test_after_hours_spans_merge_nights_and_weekends() -> None:
    friday_evening, monday_morning = FRIDAY.replace(hour=18), FRIDAY + timedelta(days=3, hours=8)
    assert after_hours_spans(friday_evening, monday_morning) == [
        (FRIDAY.replace(hour=19), FRIDAY + timedelta(days=3, hours=7))
    ]
    assert after_hours_spans(MONDAY_NOON, MONDAY_NOON + timedelta(hours=1)) == []


def test_after_hours_spans_agree_with_is_after_hours_minute_by_minute() -> None:
    since = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)  # a Friday
    until = since + timedelta(days=9)
    spans = after_hours_spans(since, until)
    moment = since
    while moment < until:
        inside = any(start <= moment < end for start, end in spans)
        assert inside == is_after_hours(moment), moment
        moment += timedelta(minutes=15)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def denied(minutes: float, actor: uuid.UUID = ACTOR, patient: uuid.UUID | None = None) -> object:
    return entry(
        at=MONDAY_NOON + timedelta(minutes=minutes),
        actor_user_id=actor,
        outcome="denied",
        reason="not_on_care_team",
        **({"patient_id": patient} if patient else {}),
    )


def test_five_denials_within_ten_minutes_are_one_burst() -> None:
    events = [denied(m) for m in (0, 2, 4, 6, 9.5)]
    (burst,) = review.denied_bursts(events)
    assert burst.kind is FlagKind.DENIED_BURST
    assert len(burst.events) == 5
    assert burst.newest is events[-1]
    assert burst.first_at == events[0].at


def test_four_denials_or_five_spread_out_are_no_burst() -> None:
    assert review.denied_bursts([denied(m) for m in (0, 1, 2, 3)]) == []
    assert review.denied_bursts([denied(m) for m in (0, 3, 6, 9, 10.5)]) == []


def test_a_sustained_run_is_reported_once_and_separate_runs_separately() -> None:
    sustained = [denied(m) for m in range(0, 24, 2)]  # 12 denials, one every 2 minutes
    later = [denied(120 + m) for m in range(5)]
    bursts = review.denied_bursts(sustained + later)
    assert [len(b.events) for b in bursts] == [12, 5]


def test_bursts_are_counted_per_user() -> None:
    mixed = [denied(m, ACTOR if m % 2 else OTHER_ACTOR) for m in range(8)]
    assert review.denied_bursts(mixed) == []


def outside(hours: float, patient: uuid.UUID, actor: uuid.UUID = ACTOR) -> object:
    return entry(
        at=at(hours), actor_user_id=actor, patient_id=patient, detail={"flagged": "break_glass"}
    )


def test_many_patients_outside_the_care_team_within_a_day() -> None:
    patients = [uuid.uuid4() for _ in range(5)]
    events = [outside(hours, p) for hours, p in zip((0, 3, 6, 12, 23), patients, strict=True)]
    (flag,) = review.many_patients_outside_care_team(events)
    assert flag.kind is FlagKind.MANY_PATIENTS_OUTSIDE_CARE_TEAM
    assert flag.patients == 5
    spread = [outside(hours, p) for hours, p in zip((0, 10, 20, 30, 40), patients, strict=True)]
    assert review.many_patients_outside_care_team(spread) == []
    same_patient = [outside(hours, patients[0]) for hours in range(6)]
    assert review.many_patients_outside_care_team(same_patient) == []


def test_care_team_reads_never_count_as_outside() -> None:
    reads = [entry(at=at(h), actor_user_id=ACTOR) for h in range(6)]
    assert review.many_patients_outside_care_team(reads) == []


def test_flags_come_newest_first_with_a_break_glass_flag_per_event() -> None:
    grant = entry(at=at(1), action="break_glass", reason="Crisis call, PCP away")
    read_under_grant = entry(at=at(2), detail={"via": "break_glass", "flagged": "break_glass"})
    night_read = entry(at=at(-6))
    found = review.flags([read_under_grant, grant], [night_read])
    assert [(f.kind, f.newest) for f in found] == [
        (FlagKind.BREAK_GLASS, read_under_grant),
        (FlagKind.BREAK_GLASS, grant),
        (FlagKind.AFTER_HOURS, night_read),
    ]
