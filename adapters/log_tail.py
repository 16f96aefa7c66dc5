"""`logs --tail N` from the end of the file: where to start reading, without reading it all.

A line's place in the log is that of its last record (the F that ends it; for a line the
container never ended, its last P). The tail is the N wanted lines nearest the end. The
file is read backwards in blocks, record by record; a line is known once the record
before its first part is found (the stream's previous F, or the file's start), because
its time (that of its first part) decides whether `since`/`until` want it. The answer,
per stream, is the offset where the first line of that stream in the tail begins: reading
forwards from there (records of a stream before its offset skipped) gives exactly the
tail, each line whole, in the usual order.

Memory is a few blocks plus one small entry per line still undecided (at most N + 2).
When only one stream matters, records of the other are skipped by searching the block
for the stream's name, without parsing them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from .log_format import DEFAULT_LIMITS, Header, Limits, Selection, Stream, TimeCache, parse_header


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    stream: Stream
    partial: bool
    time: datetime


class BackwardRecords:
    """The records of `handle[0:end]`, last first; the unfinished record after the last
    newline and records longer than `limits.max_record` are skipped, as forwards."""

    def __init__(self, handle: BinaryIO, end: int, limits: Limits = DEFAULT_LIMITS) -> None:
        self._handle = handle
        self._limits = limits
        self._pos = end  # file offset of _buf[0]
        self._buf = b""
        self._lim = 0  # _buf[:_lim] is not consumed yet; _buf[_lim - 1] ends a record
        self._dropping = True  # until a newline: bytes of a record not taken
        self._times = TimeCache()

    def previous(self, streams: frozenset[Stream]) -> Record | None:
        """The next record (going backwards) of one of `streams`, or None at the start."""
        pattern = b" " + next(iter(streams)).encode() + b" " if len(streams) == 1 else None
        while True:
            if pattern is not None:
                self._skip_to(pattern)
            taken = self._take()
            if taken is None:
                return None
            offset, header = taken
            if header is None or header[1] not in streams:
                continue
            time = self._times.parse(header[0])
            if time is not None:
                return Record(offset, header[1], header[2], time)

    def _skip_to(self, pattern: bytes) -> None:
        """Drop the records after the last one that could be of the stream in `pattern`
        (every such record has it in its header)."""
        found = self._buf.rfind(pattern, 0, self._lim)
        if found >= 0:
            self._lim = self._buf.find(b"\n", found, self._lim) + 1
            return
        first = self._buf.find(b"\n", 0, self._lim)
        if first >= 0:  # keep the first segment: it may begin in the previous block
            self._lim = first + 1

    def _take(self) -> tuple[int, Header | None] | None:
        """The record ending at _lim (its offset and header), or None at the file's start."""
        while True:
            if self._lim == 0:
                if self._pos == 0:
                    return None
                self._load()
                continue
            newline = self._buf.rfind(b"\n", 0, self._lim - 1)
            if newline < 0 and self._pos > 0:
                if self._lim - 1 > self._limits.max_record:
                    self._buf, self._lim, self._dropping = b"", 0, True  # too long: skipped
                else:
                    self._load()
                continue
            start, end = newline + 1, self._lim - 1
            self._lim = start
            if end - start > self._limits.max_record:
                continue
            return self._pos + start, parse_header(self._buf, start, end)

    def _load(self) -> None:
        size = min(self._limits.chunk, self._pos)
        self._pos -= size
        self._handle.seek(self._pos)
        block = self._handle.read(size)
        if self._dropping:
            newline = block.rfind(b"\n")
            if newline < 0:
                return  # all of it inside the record being dropped
            self._dropping = False
            block, self._lim = block[: newline + 1], 0
        self._buf = block + self._buf[: self._lim]
        self._lim = len(self._buf)


@dataclass(slots=True)
class _Line:
    stream: Stream
    start: int  # offset of its earliest record found so far
    time: datetime  # that record's time
    wanted: bool | None  # None: not known until its first record is found
    known: bool = False  # its first record has been found


def tail_starts(
    records: BackwardRecords, count: int, selection: Selection
) -> dict[Stream, int] | None:
    """Per wanted stream, the offset of the first record of its first line in the last
    `count` (> 0) wanted lines; a stream with no line there is absent. None when the log
    has no more than `count` wanted lines (read all of it)."""
    open_lines: dict[Stream, _Line] = {}
    pending: deque[_Line] = deque()  # in the log's order, last first; the front undecided
    starts: dict[Stream, int] = {}
    found = 0  # wanted lines taken off the front of `pending`
    sure = 0  # lines in `pending` known to be wanted

    def settle() -> bool:
        nonlocal found, sure
        while pending and pending[0].known:
            line = pending.popleft()
            if line.wanted:
                sure -= 1
                found += 1
                starts[line.stream] = line.start
                if found == count:
                    return True
        return False

    def close(line: _Line) -> None:
        nonlocal sure
        line.known = True
        if line.wanted is None:
            line.wanted = selection.wants_time(line.time)
            sure += line.wanted

    while True:
        # Once `pending` holds the count, no earlier line can be in the tail: only the
        # beginnings of the open lines are still looked for.
        growing = found + sure < count
        streams = selection.streams if growing else frozenset(open_lines)
        record = records.previous(streams) if streams else None
        if record is None:
            for line in open_lines.values():
                close(line)
            return starts if settle() else None
        current = open_lines.get(record.stream)
        if current is not None:
            if record.partial:  # an earlier part of the same line
                current.start, current.time = record.offset, record.time
                continue
            close(current)
            del open_lines[record.stream]
            if settle():
                return starts
        if growing:
            wanted = None if selection.by_time else True
            opened = _Line(record.stream, record.offset, record.time, wanted)
            sure += wanted is True
            pending.append(opened)
            open_lines[record.stream] = opened
