"""The k8s-file log format as conmon writes it, and what a reader of it asks for.

Each record is one line `<RFC3339Nano time> <stdout|stderr> <F|P> <text>\\n`: F ends a
line of the container's output, P is a part of a longer line (or of output not ended by a
newline) continued by the following records of the same stream. A record that does not
parse (a bad time, an unknown stream, fewer than three fields) or is longer than
`Limits.max_record` is skipped, the same way whichever direction the file is read in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

Stream = Literal["stdout", "stderr"]

_TIME = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$")
_STREAM_NAMES: dict[bytes, Stream] = {b"stdout": "stdout", b"stderr": "stderr"}


class LogLine(NamedTuple):  # a tuple: millions are made while a log streams
    """A line of a container's output: its stream, the time of its first part, its text
    without the newline. `partial`: no newline follows the text — the container never
    ended the line (a stream's last line only), or the line was longer than
    `Limits.max_line` and this is one of its pieces (all but its last)."""

    stream: Stream
    time: datetime
    text: bytes
    partial: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """How much a reader holds at once: the bytes read per step, the longest record it
    accepts (conmon writes at most 8 KiB of text per record), the longest line it joins
    before handing it out in pieces."""

    chunk: int = 64 * 1024
    max_record: int = 1024 * 1024
    max_line: int = 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Selection:
    """Which lines a reader wants: streams, and times (both bounds inclusive)."""

    stdout: bool = True
    stderr: bool = True
    since: datetime | None = None
    until: datetime | None = None

    @property
    def streams(self) -> frozenset[Stream]:
        chosen: tuple[tuple[Stream, bool], ...] = (("stdout", self.stdout), ("stderr", self.stderr))
        return frozenset(stream for stream, on in chosen if on)

    @property
    def by_time(self) -> bool:
        return self.since is not None or self.until is not None

    def wants_time(self, time: datetime) -> bool:
        if self.since is not None and time < self.since:
            return False
        return not (self.until is not None and time > self.until)

    def wants(self, line: LogLine) -> bool:
        on = self.stdout if line.stream == "stdout" else self.stderr
        return on and self.wants_time(line.time)


def parse_time(raw: bytes) -> datetime:
    """RFC 3339 with nanoseconds (truncated to Python's microseconds)."""
    match = _TIME.match(raw)
    if match is None:
        raise ValueError(f"bad log timestamp: {raw!r}")
    base, fraction, zone = match.groups()
    micro = (fraction or b"0")[:6].ljust(6, b"0")
    tz = b"+00:00" if zone == b"Z" else zone
    return datetime.fromisoformat((base + b"." + micro + tz).decode())


class TimeCache:
    """parse_time remembering its last answer: conmon stamps every record of one read
    from the container's pipe with the same time, so most records repeat the last one."""

    def __init__(self) -> None:
        self._raw = b""
        self._time: datetime | None = None

    def parse(self, raw: bytes) -> datetime | None:
        """The time, or None when it does not parse."""
        if raw != self._raw:
            self._raw = raw
            try:
                self._time = parse_time(raw)
            except ValueError:
                self._time = None
        return self._time


#: A record's header: its raw time, its stream, whether it is a P record, and where its
#: text begins in the buffer it was read from.
Header = tuple[bytes, Stream, bool, int]


def parse_header(buf: bytes, start: int, end: int) -> Header | None:
    """The header of the record `buf[start:end]` (its newline excluded), fields split on
    single spaces as `record.split(b" ", 3)` would; None when it is no record."""
    first = buf.find(b" ", start, end)
    if first < 0:
        return None
    second = buf.find(b" ", first + 1, end)
    if second < 0:
        return None
    stream = _STREAM_NAMES.get(buf[first + 1 : second])
    if stream is None:
        return None
    third = buf.find(b" ", second + 1, end)
    if third < 0:
        return buf[start:first], stream, buf[second + 1 : end] == b"P", end
    return buf[start:first], stream, buf[second + 1 : third] == b"P", third + 1
