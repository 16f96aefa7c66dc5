"""Query-string values as dockerd reads them, refused with a 400 when they cannot be.

dockerd parses integers with Go's `strconv.Atoi` (an int64: anything longer is an
error) and times with `timetypes.ParseTimestamps` (`seconds[.fraction]`). Python's own
parsers accept more (`1_000`, `٣`, ` 5`, `1e30`, numbers past any clock) and then fail
deep inside a handler with a 500; these functions are the only place query numbers and
times are read.
"""

from __future__ import annotations

import platform
import re
from datetime import UTC, datetime

from berth.domain.errors import InvalidParameter
from berth.domain.timestamps import INT64_MAX, INT64_MIN, parse_time

_GO_INT = re.compile(r"[+-]?[0-9]+")


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


def strconv_atoi(text: str) -> int:
    """`strconv.Atoi` where dockerd answers its error as it is (resize's `h` and `w`)."""
    try:
        return go_int("", text)
    except InvalidParameter:
        reason = "value out of range" if _GO_INT.fullmatch(text) else "invalid syntax"
        raise InvalidParameter(f'strconv.Atoi: parsing "{text}": {reason}') from None


def unix_time(name: str, text: str) -> datetime:
    """A `since`/`until` moment: unix seconds (fractions allowed) or RFC 3339, a zoneless
    one in UTC (see `berth.domain.timestamps`); no durations, as dockerd takes none."""
    try:
        return parse_time(text, UTC)
    except InvalidParameter:
        raise invalid(name, text) from None


_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}  # uname's names, OCI's names
HOST_ARCHITECTURE = _ARCHITECTURES.get(platform.machine(), platform.machine())


def host_platform_only(text: str) -> None:
    """A `platform` parameter (`docker pull|create|run --platform`): berth pulls and runs
    the host's platform only, so any other is refused rather than ignored."""
    if not text:
        return
    os_name, _, rest = text.lower().partition("/")
    architecture = rest.partition("/")[0]
    if os_name != "linux" or architecture not in ("", HOST_ARCHITECTURE):
        raise InvalidParameter(
            f'platform "{text}" is not supported by berth: it pulls and runs '
            f"linux/{HOST_ARCHITECTURE} images only"
        )
