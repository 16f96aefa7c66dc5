"""Query-string values as dockerd reads them, refused with a 400 when they cannot be.

dockerd parses integers with Go's `strconv.Atoi` (an int64: anything longer is an
error) and times with `timetypes.ParseTimestamps` (`seconds[.fraction]`). Python's own
parsers accept more (`1_000`, `٣`, ` 5`, `1e30`, numbers past any clock) and then fail
deep inside a handler with a 500; these functions are the only place query numbers and
times are read.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from berth.domain.errors import InvalidParameter

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_GO_INT = re.compile(r"[+-]?[0-9]+")
_UNIX_TIME = re.compile(r"(-?[0-9]+)(?:\.([0-9]*))?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Python's datetimes end at years 1 and 9999; a bound beyond them means "no bound".
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def invalid(name: str, text: str) -> InvalidParameter:
    return InvalidParameter(f"invalid value for {name}: {text!r}")


def go_int(name: str, text: str) -> int:
    """`strconv.Atoi`: an optional sign and ASCII digits, within int64."""
    if not _GO_INT.fullmatch(text):
        raise invalid(name, text)
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise invalid(name, text)
    return value


def unix_time(name: str, text: str) -> datetime:
    """A moment given as unix seconds (`1700000000`, `1700000000.5`, a float) or RFC 3339.

    Seconds outside int64 are refused, as dockerd does; moments beyond what a datetime
    holds are clamped to its ends, which select the same (no or every) log line.
    """
    found = _UNIX_TIME.fullmatch(text)
    if found:
        seconds = go_int(name, found.group(1))
        fraction = found.group(2) or "0"
        sign = -1 if text.startswith("-") else 1
        return _from_epoch(seconds, sign * int((fraction + "000000")[:6]))
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    else:
        if not math.isfinite(number) or not INT64_MIN <= number <= INT64_MAX:
            raise invalid(name, text)
        return _from_epoch(int(number), int((number - int(number)) * 1_000_000))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, text) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _from_epoch(seconds: int, micros: int) -> datetime:
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=micros)
    except OverflowError:
        return LATEST if seconds > 0 else EARLIEST
