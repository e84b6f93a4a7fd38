"""When a clinic is open, in its own time zone: drives after-hours replies."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from huddle.errors import Invalid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_AFTER_HOURS_REPLY = (
    "Thank you for your message. The clinic is closed right now; your care team will "
    "answer on the next working day. If this is an emergency, call 911. For a mental "
    "health crisis, call or text 988."
)


def is_open(timezone: str, opens: str, closes: str, days: str, when: datetime) -> bool:
    local = when.astimezone(ZoneInfo(timezone))
    if DAYS[local.weekday()] not in days.split(","):
        return False
    return _clock(opens) <= local.time() < _clock(closes)


def check_hours(timezone: str, opens: str, closes: str, days: str) -> None:
    """Raise Invalid (naming the field) unless these describe real opening hours."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            "Unknown time zone (use an IANA name such as America/Chicago).", code="invalid_timezone"
        ) from None
    try:
        if _clock(opens) >= _clock(closes):
            raise Invalid("The clinic must open before it closes.", code="invalid_hours")
    except ValueError:
        raise Invalid("Times are HH:MM, 24-hour.", code="invalid_hours") from None
    chosen = days.split(",")
    if not chosen or any(day not in DAYS for day in chosen):
        raise Invalid(
            "Days are a comma-separated list of mon, tue, wed, thu, fri, sat, sun.",
            code="invalid_days",
        )


def _clock(text: str) -> time:
    # "24:00" closes at the very end of the day: with "00:00", open around the clock.
    return time.max if text == "24:00" else time.fromisoformat(text)
