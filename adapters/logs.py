"""Reading a container's log as conmon writes it (the k8s-file format).

Each record is one line `<RFC3339Nano time> <stdout|stderr> <F|P> <text>\\n`: F ends a
line of the container's output, P is a part of a longer line (or of output not ended by a
newline) continued by the following records of the same stream. Lines are yielded with
their stream, the time of their first part and their text without the newline;
`partial` says the container never ended the line (only possible for a stream's last one).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import trio

Stream = Literal["stdout", "stderr"]

FOLLOW_POLL_S = 0.05
_TIME = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$")


@dataclass(frozen=True, slots=True)
class LogLine:
    stream: Stream
    time: datetime
    text: bytes
    partial: bool = False


def parse_time(raw: bytes) -> datetime:
    """RFC 3339 with nanoseconds (truncated to Python's microseconds)."""
    match = _TIME.match(raw)
    if match is None:
        raise ValueError(f"bad log timestamp: {raw!r}")
    base, fraction, zone = match.groups()
    micro = (fraction or b"0")[:6].ljust(6, b"0")
    tz = b"+00:00" if zone == b"Z" else zone
    return datetime.fromisoformat((base + b"." + micro + tz).decode())


class _Parser:
    """Incremental: feed bytes, get complete lines; partial records held per stream."""

    def __init__(self) -> None:
        self._buffer = b""
        self._pending: dict[Stream, tuple[datetime, list[bytes]]] = {}

    def feed(self, data: bytes) -> list[LogLine]:
        self._buffer += data
        records = self._buffer.split(b"\n")
        self._buffer = records.pop()
        out: list[LogLine] = []
        for record in records:
            line = self._record(record)
            if line is not None:
                out.append(line)
        return out

    def _record(self, record: bytes) -> LogLine | None:
        parts = record.split(b" ", 3)
        if len(parts) < 3:
            return None
        raw_time, raw_stream, tag = parts[0], parts[1], parts[2]
        text = parts[3] if len(parts) == 4 else b""
        if raw_stream not in (b"stdout", b"stderr"):
            return None
        try:
            time = parse_time(raw_time)
        except ValueError:
            return None
        stream: Stream = "stdout" if raw_stream == b"stdout" else "stderr"
        started, chunks = self._pending.pop(stream, (time, []))
        chunks.append(text)
        if tag == b"P":
            self._pending[stream] = (started, chunks)
            return None
        return LogLine(stream, started, b"".join(chunks))

    def flush(self) -> list[LogLine]:
        """At the end of the log: the unterminated rest of each stream, as partial lines."""
        out = [
            LogLine(stream, started, b"".join(chunks), partial=True)
            for stream, (started, chunks) in self._pending.items()
        ]
        self._pending.clear()
        return sorted(out, key=lambda line: line.time)


def _wanted(
    line: LogLine, stdout: bool, stderr: bool, since: datetime | None, until: datetime | None
) -> bool:
    if line.stream == "stdout" and not stdout:
        return False
    if line.stream == "stderr" and not stderr:
        return False
    if since is not None and line.time < since:
        return False
    return not (until is not None and line.time > until)


def _tail(lines: Iterable[LogLine], tail: int | None) -> list[LogLine]:
    if tail is None or tail < 0:
        return list(lines)
    if tail == 0:
        return []
    return list(deque(lines, maxlen=tail))


def read_log(
    path: Path,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since: datetime | None = None,
    until: datetime | None = None,
    tail: int | None = None,
) -> list[LogLine]:
    """The log's lines, filtered by stream and time (both bounds inclusive), then the last
    `tail` of them (None or negative: all). A missing log file is an empty log."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    parser = _Parser()
    lines = parser.feed(data) + parser.flush()
    return _tail((x for x in lines if _wanted(x, stdout, stderr, since, until)), tail)


async def follow_log(
    path: Path,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since: datetime | None = None,
    until: datetime | None = None,
    tail: int | None = None,
    until_exit: Callable[[], bool],
) -> AsyncIterator[LogLine]:
    """`logs -f`: the lines already written (with `tail`), then new ones as they come.

    Stops once `until_exit()` is true and the rest of the file has been read (pass a test
    that the container's monitor has exited, so that its last output is in the file), or at
    the first line after `until`.
    """
    path = Path(path)
    parser = _Parser()
    while True:
        try:
            handle = await trio.open_file(path, "rb")
            break
        except FileNotFoundError:
            if until_exit():
                return
            await trio.sleep(FOLLOW_POLL_S)
    async with handle:
        first = parser.feed(await handle.read())
        for line in _tail((x for x in first if _wanted(x, stdout, stderr, since, None)), tail):
            if until is not None and line.time > until:
                return
            yield line
        while True:
            exited = until_exit()
            data = await handle.read()
            lines = parser.feed(data)
            if exited and not data:
                lines += parser.flush()
            for line in lines:
                if until is not None and line.time > until:
                    return
                if _wanted(line, stdout, stderr, since, None):
                    yield line
            if exited and not data:
                return
            if not data:
                await trio.sleep(FOLLOW_POLL_S)
