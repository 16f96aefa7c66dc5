"""Reading a container's log as conmon writes it (the k8s-file format, log_format.py).

Lines are yielded with their stream, the time of their first part and their text; a log
is read in chunks and handed out in batches as it is parsed, never whole, so what a reader
holds does not grow with the log. `tail` starts from the end (log_tail.py). Following a
log survives conmon's size limit: when conmon replaces a full log with an empty file
(`--log-size-max`), the follower finishes the old file and goes on in the new one.
"""

from __future__ import annotations

import collections
import functools
import os
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

import trio

from .log_format import (
    DEFAULT_LIMITS,
    Limits,
    LogLine,
    Selection,
    Stream,
    TimeCache,
    parse_header,
    parse_time,
)
from .log_rotation import rotated_files
from .log_tail import BackwardRecords, tail_starts

__all__ = ["LogLine", "Selection", "Stream", "log_batches", "parse_time", "read_log"]

FOLLOW_POLL_S = 0.05
_NEVER = 1 << 62  # an offset past any file: a stream whose records are all skipped


class Parser:
    """Incremental: feed bytes, get complete lines; partial records held per stream.

    `starts[stream]` is the file offset of the first record of that stream to read (the
    earlier ones belong to lines outside what was asked for); streams not in it are
    skipped. `base` is the file offset of the first byte fed.
    """

    def __init__(
        self, starts: Mapping[Stream, int], base: int = 0, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self._starts = dict(starts)
        self._base = base
        self._limits = limits
        self._buffer = b""
        self._dropping = False  # inside a record longer than limits.max_record
        self._pending: dict[Stream, tuple[datetime, list[bytes], int]] = {}
        self._times = TimeCache()

    def restart(self, streams: frozenset[Stream]) -> None:
        """Go on with the start of another file (the log was replaced): every record of
        `streams` in it is new; a line left unfinished in the old file goes on."""
        self._starts = dict.fromkeys(streams, 0)
        self._base, self._buffer, self._dropping = 0, b"", False

    def feed(self, data: bytes) -> list[LogLine]:
        buf = self._buffer + data
        out: list[LogLine] = []
        pos = 0
        max_record = self._limits.max_record
        while (newline := buf.find(b"\n", pos)) >= 0:
            if not self._dropping and newline - pos <= max_record:
                self._record(buf, pos, newline, out)
            self._dropping = False
            pos = newline + 1
        self._buffer = buf[pos:]
        self._base += pos
        if len(self._buffer) > max_record:
            self._base += len(self._buffer)
            self._buffer, self._dropping = b"", True
        return out

    def _record(self, buf: bytes, start: int, end: int, out: list[LogLine]) -> None:
        header = parse_header(buf, start, end)
        if header is None:
            return
        raw_time, stream, partial, text_start = header
        if self._base + start < self._starts.get(stream, _NEVER):
            return
        time = self._times.parse(raw_time)
        if time is None:
            return
        text = buf[text_start:end]
        pending = self._pending.pop(stream, None)
        if pending is None:
            if not partial:  # the common case: a line in one record
                out.append(LogLine(stream, time, text))
                return
            pending = (time, [], 0)
        started, chunks, size = pending
        chunks.append(text)
        size += len(text)
        if size > self._limits.max_line:
            joined = b"".join(chunks)
            while len(joined) > self._limits.max_line:
                out.append(LogLine(stream, started, joined[: self._limits.max_line], True))
                joined = joined[self._limits.max_line :]
            chunks, size = [joined], len(joined)
        if partial:
            self._pending[stream] = (started, chunks, size)
        else:
            out.append(LogLine(stream, started, b"".join(chunks)))

    def flush(self) -> list[LogLine]:
        """At the end of the log: the unterminated rest of each stream, as partial lines."""
        out = [
            LogLine(stream, started, b"".join(chunks), partial=True)
            for stream, (started, chunks, _) in self._pending.items()
        ]
        self._pending.clear()
        return sorted(out, key=lambda line: line.time)


class LogReader:
    """One pass over an open log: `batch()` reads a chunk and returns the wanted lines in
    it. Blocking file I/O: async callers run it in a worker thread."""

    def __init__(
        self,
        handle: BinaryIO,
        selection: Selection,
        tail: int | None,
        *,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.handle = handle
        self.selection = selection
        self._limits = limits
        self.size = os.fstat(handle.fileno()).st_size  # a snapshot's end, for `logs`
        streams = selection.streams
        starts: Mapping[Stream, int] = dict.fromkeys(streams, 0)
        if tail is not None and tail >= 0:
            found = None
            if tail > 0 and streams:
                found = tail_starts(BackwardRecords(handle, self.size, limits), tail, selection)
            if tail == 0 or found is not None:
                starts = {s: (found or {}).get(s, self.size) for s in streams}
        self.position = min(starts.values(), default=self.size)
        handle.seek(self.position)
        self.parser = Parser(starts, self.position, limits)

    def batch(self, stop: int | None = None) -> tuple[list[LogLine], bool]:
        """The wanted lines of the next chunk (up to `stop`), and whether anything was read."""
        size = self._limits.chunk if stop is None else min(self._limits.chunk, stop - self.position)
        data = self.handle.read(size) if size > 0 else b""
        self.position += len(data)
        lines = self.parser.feed(data)  # of the selected streams only
        if self.selection.by_time:
            lines = [x for x in lines if self.selection.wants(x)]
        return lines, bool(data)

    def end(self) -> list[LogLine]:
        return [x for x in self.parser.flush() if self.selection.wants(x)]

    def replaced(self, path: Path) -> bool:
        """Whether `path` is now another file than the one being read (conmon's size limit
        renamed a new, empty log over it); if so, go on reading that one from its start."""
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            return False
        if current == os.fstat(self.handle.fileno()).st_ino:
            return False
        try:
            handle = open(path, "rb")  # noqa: SIM115 -- kept open across batches
        except FileNotFoundError:
            return False
        self.handle.close()
        self.handle, self.position = handle, 0
        self.parser.restart(self.selection.streams)
        return True


def start_log(path: Path, size_max: int | None) -> None:
    """Before a monitor starts writing `path`: a log already at its size limit starts
    again empty, as conmon does when a write would pass it (conmon counts only what it
    wrote itself). Replaced, not truncated, so that a follower moves on to the new file."""
    try:
        if size_max is None or os.path.getsize(path) < size_max:
            return
    except FileNotFoundError:
        return
    fresh = path.with_name(path.name + ".tmp")  # conmon's own name for it
    with open(fresh, "wb"):
        os.chmod(fresh, 0o600)
    os.replace(fresh, path)


class ContainerLogs(Protocol):
    """What a front-end may rely on to read a container's log, by the log's path.

    tests/fakes/logs.py keeps these promises in memory; tests/contracts/
    test_logs_contract.py holds it and `LogFiles` to them.
    """

    def batches(
        self,
        path: Path,
        selection: Selection,
        *,
        tail: int | None = None,
        until_exit: Callable[[], bool] | None = None,
    ) -> AsyncIterator[list[LogLine]]:
        """The log's lines, in the order written, in batches (never empty ones): those of
        the selected streams within its time bounds (both inclusive), then with `tail`
        only the last `tail` of them. A line written in parts is one line, stamped with
        the time of its first part; a last line with no end is `partial`. A missing log
        is an empty one. Without `until_exit`: what the log holds now. With it: then
        each new line as it is written, until `until_exit()` holds and every line written
        before that has been yielded, or until the first line after `selection.until`
        (which ends the stream rather than being skipped)."""
        ...


def _open(path: Path) -> BinaryIO | None:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def read_log(
    path: Path,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since: datetime | None = None,
    until: datetime | None = None,
    tail: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[LogLine]:
    """The log's lines as a list, filtered by stream and time (both bounds inclusive),
    then the last `tail` of them (None or negative: all). A missing log file is an empty
    log. Everything in memory: for tests and small logs; servers use `log_batches`."""
    handle = _open(Path(path))
    if handle is None:
        return []
    selection = Selection(stdout, stderr, since, until)
    with handle:
        reader = LogReader(handle, selection, tail, limits=limits)
        out: list[LogLine] = []
        while True:
            lines, more = reader.batch(reader.size)
            out += lines
            if not more:
                return out + reader.end()


async def log_batches(
    path: Path,
    selection: Selection,
    *,
    tail: int | None = None,
    until_exit: Callable[[], bool] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> AsyncIterator[list[LogLine]]:
    """The log's wanted lines in batches, read and parsed in a worker thread a chunk at a
    time: its rotated files first (log_rotation.py), oldest first. Without `until_exit`:
    what the log holds now (`logs`). With it (`logs -f`, attach): then new lines as they
    come, until `until_exit()` is true and the rest of the file has been read (pass a
    test that the container's monitor has exited, so that its last output is in the
    file), or until the first line after `selection.until`."""
    path = Path(path)
    older = await trio.to_thread.run_sync(rotated_files, path)
    if not older:
        async for batch in _file_batches(path, selection, tail, until_exit, limits):
            yield batch
        return
    if tail is None or tail < 0:
        for file in older:
            async for batch in _file_batches(file, selection, None, None, limits):
                yield batch
        async for batch in _file_batches(path, selection, None, until_exit, limits):
            yield batch
        return
    # The last `tail` lines may begin in any file: at most that many are held.
    kept: collections.deque[LogLine] = collections.deque(maxlen=tail)
    for file in [*older, path]:
        async for batch in _file_batches(file, selection, tail, None, limits):
            kept.extend(batch)
    if kept:
        yield list(kept)
    if until_exit is not None:
        async for batch in _file_batches(path, selection, 0, until_exit, limits):
            yield batch


async def _file_batches(
    path: Path,
    selection: Selection,
    tail: int | None,
    until_exit: Callable[[], bool] | None,
    limits: Limits,
) -> AsyncIterator[list[LogLine]]:
    """`log_batches` of one file."""
    follow = until_exit is not None
    while (handle := await trio.to_thread.run_sync(_open, path)) is None:
        if until_exit is None or until_exit():
            return
        await trio.sleep(FOLLOW_POLL_S)
    until = selection.until if follow else None
    if follow:  # `until` ends the stream rather than filtering it
        selection = Selection(selection.stdout, selection.stderr, selection.since)
    reader: LogReader | None = None
    try:
        reader = await trio.to_thread.run_sync(
            functools.partial(LogReader, handle, selection, tail, limits=limits)
        )
        stop = None if follow else reader.size
        while True:
            exited = until_exit() if until_exit is not None else True
            lines, more = await trio.to_thread.run_sync(reader.batch, stop)
            if not more and follow and await trio.to_thread.run_sync(reader.replaced, path):
                continue
            if not more and exited:
                lines += reader.end()
            if until is not None and any(line.time > until for line in lines):
                if lines := _before(lines, until):
                    yield lines
                return
            if lines:
                yield lines
            if not more:
                if exited:
                    return
                await trio.sleep(FOLLOW_POLL_S)
    finally:
        (reader.handle if reader is not None else handle).close()


class LogFiles:
    """The real `ContainerLogs`: the k8s-file logs conmon writes."""

    batches = staticmethod(log_batches)


def _before(lines: list[LogLine], until: datetime) -> list[LogLine]:
    out: list[LogLine] = []
    for line in lines:
        if line.time > until:
            break
        out.append(line)
    return out
