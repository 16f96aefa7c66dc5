"""Points in the log as users write them: a time (RFC 3339, unix seconds, or a duration
ago like docker's `--since 10m`) or a log position (`#1234`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from berth.domain.errors import InvalidParameter

# Go's time.ParseDuration units, which docker's --since uses.
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIX = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Moment:
    """Exactly one of `time` and `position` is set."""

    time: datetime | None = None
    position: int | None = None

    def __str__(self) -> str:
        return f"#{self.position}" if self.position is not None else str(self.time)


def parse_duration(text: str) -> timedelta | None:
    """Go duration syntax (`1h30m`, `10m`, `1.5s`); None if `text` is not one."""
    if not text or _DURATION.sub("", text) != "":
        return None
    seconds = sum(float(number) * _UNITS[unit] for number, unit in _DURATION.findall(text))
    return timedelta(seconds=seconds)


def parse_moment(text: str, now: datetime) -> Moment:
    """`#POSITION`, a duration before `now`, unix seconds, or an RFC 3339 date or time."""
    value = text.strip()
    if value.startswith("#"):
        digits = value[1:]
        if not digits.isdigit():
            raise InvalidParameter(f"invalid log position {text!r}: expected #<number>")
        return Moment(position=int(digits))
    try:
        ago = parse_duration(value)
        if ago is not None:
            return Moment(time=now - ago)
        if _UNIX.fullmatch(value):
            return Moment(time=datetime.fromtimestamp(float(value), UTC))
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        # A time without a zone is the local time, as docker reads it.
        return Moment(time=moment if moment.tzinfo else moment.astimezone())
    except (ValueError, OverflowError, OSError):  # not a time, or none a datetime can hold
        raise InvalidParameter(
            f"invalid time {text!r}: expected RFC 3339, unix seconds, a duration like 10m, "
            "or #POSITION"
        ) from None
