"""Points in the log as users write them: a time (see `berth.domain.timestamps`: RFC 3339,
unix seconds, or a duration ago like docker's `--since 10m`) or a log position (`#1234`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from berth.domain.errors import InvalidParameter
from berth.domain.timestamps import parse_time


@dataclass(frozen=True)
class Moment:
    """Exactly one of `time` and `position` is set."""

    time: datetime | None = None
    position: int | None = None

    def __str__(self) -> str:
        return f"#{self.position}" if self.position is not None else str(self.time)


#: A log position is a SQLite rowid, an int64: 18 digits always fit.
MAX_POSITION_DIGITS = 18


def log_position(digits: str) -> int | None:
    """A log position (or an aggregate's version) written in ASCII digits; None if `digits`
    is not one that SQLite could hold."""
    if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_POSITION_DIGITS:
        return None
    return int(digits)


def parse_moment(text: str, now: datetime) -> Moment:
    """`#POSITION`, or a time; durations count back from `now`, and a time without a zone
    is in `now`'s zone."""
    value = text.strip()
    if value.startswith("#"):
        position = log_position(value[1:])
        if position is None:
            raise InvalidParameter(f"invalid log position {text!r}: expected #<number>")
        return Moment(position=position)
    try:
        return Moment(time=parse_time(value, now.tzinfo or UTC, now))
    except InvalidParameter:
        raise InvalidParameter(
            f"invalid time {text!r}: expected RFC 3339, unix seconds, a duration like 10m, "
            "or #POSITION"
        ) from None
