"""Docker's ways of printing times: RFC 3339 with trimmed fractions, and human durations."""

from __future__ import annotations

from datetime import UTC, datetime

ZERO_TIME = "0001-01-01T00:00:00Z"


def docker_time(moment: datetime | None) -> str:
    """RFC 3339 in UTC with the fraction's trailing zeros trimmed, as Go's RFC3339Nano."""
    if moment is None:
        return ZERO_TIME
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # isoformat is several times cheaper than strftime, and history formats every event;
    # [:19] drops the offset that an aware time's isoformat adds.
    whole = utc.isoformat(timespec="seconds")[:19]
    if utc.microsecond:
        return f"{whole}.{utc.microsecond:06d}".rstrip("0") + "Z"
    return whole + "Z"


def parse_docker_time(text: str) -> datetime | None:
    if not text or text == ZERO_TIME:
        return None
    trimmed = text.rstrip("Z")
    whole, _, fraction = trimmed.partition(".")
    micro = (fraction + "000000")[:6] if fraction else "000000"
    return datetime.fromisoformat(f"{whole}.{micro}+00:00")


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, which `docker ps` uses for its Status column."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"
