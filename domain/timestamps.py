"""Times as users write them: `since`, `until` and `--at`, for every front-end.

One reading of moby's `timetypes.GetTimestamp` (the docker CLI's `--since`/`--until`)
and `ParseTimestamps` (dockerd's `since`/`until`), in this order:

* a Go duration (`10m`, `1h30m`, `1.5s`, `-5m`) counts back from `now`, when the caller
  has one (dockerd's API takes none; the CLI turns durations into times before asking);
* unix seconds with an optional fraction (`1700000000`, `1700000000.5`, `-5`), or a
  float in exponent form as Python clients send it (`1.7e9`): refused outside int64,
  as dockerd does, and clamped to `EARLIEST`/`LATEST` beyond what a datetime holds;
* an RFC 3339 or ISO 8601 date or time (`2024-01-01`, `2024-01-01T10:00`,
  `2024-01-01T10:00:00.5Z`, `...+01:00`); one without a zone is read in `zone` (the
  local zone for the CLI, as the docker CLI does; UTC for the API).

Only ASCII digits count, as in Go: Python's own parsers would take `٣`, `1_0` or ` 5`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

from .errors import InvalidParameter

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Python's datetimes end at years 1 and 9999; a bound beyond them means "no bound".
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Go's time.ParseDuration: a sign, then numbers each with a unit; "0" alone is no
# duration here, as GetTimestamp reads it as unix second 0.
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION = re.compile(rf"([+-]?)((?:{_PART})+)")
_DURATION_PART = re.compile(_PART)
# Go's durations are int64 nanoseconds: about 292 years.
_LONGEST_DURATION_S = INT64_MAX / 1e9
_UNIX = re.compile(r"([+-]?[0-9]+)(?:\.([0-9]*))?")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_duration(text: str) -> timedelta | None:
    """Go duration syntax (`1h30m`, `10m`, `1.5s`, `-2h`); None if `text` is not one."""
    found = _DURATION.fullmatch(text)
    if not found:
        return None
    parts = _DURATION_PART.findall(found.group(2))
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds > _LONGEST_DURATION_S:
        return None
    return timedelta(seconds=-seconds if found.group(1) == "-" else seconds)


def parse_time(text: str, zone: tzinfo, now: datetime | None = None) -> datetime:
    """The moment `text` names (see the module's doc); InvalidParameter if none."""
    ago = parse_duration(text) if now is not None else None
    if now is not None and ago is not None:
        return _clamped(lambda: now - ago, later=ago < timedelta(0))
    unix = _UNIX.fullmatch(text)
    if unix:
        seconds = int(unix.group(1))
        micros = int(((unix.group(2) or "") + "000000")[:6])
        return _from_epoch(text, seconds, -micros if text.startswith("-") else micros)
    if _FLOAT.fullmatch(text):
        number = float(text)
        if not math.isfinite(number):
            raise _not_a_time(text)
        whole = int(number)
        return _from_epoch(text, whole, int((number - whole) * 1_000_000))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _not_a_time(text) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def unix_seconds(moment: datetime) -> str:
    """`moment` as `parse_time` reads unix seconds back, to the microsecond."""
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    whole, fraction = divmod(abs(micros), 1_000_000)
    return f"{'-' if micros < 0 else ''}{whole}.{fraction:06d}"


def _from_epoch(text: str, seconds: int, micros: int) -> datetime:
    if not INT64_MIN <= seconds <= INT64_MAX:
        raise _not_a_time(text)
    return _clamped(
        lambda: EPOCH + timedelta(seconds=seconds, microseconds=micros), later=seconds > 0
    )


def _clamped(moment: Callable[[], datetime], later: bool) -> datetime:
    """`moment()`, or the end of time it ran past."""
    try:
        return moment()
    except OverflowError:
        return LATEST if later else EARLIEST


def _not_a_time(text: str) -> InvalidParameter:
    # The docker CLI's message for a --since or --until it cannot read.
    return InvalidParameter(f"failed to parse value as time or duration: {text!r}")
