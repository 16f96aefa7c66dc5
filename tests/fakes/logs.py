"""An in-memory `ContainerLogs`: lines by log path, written by a test or a FakeRuntime."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import trio

from berth.adapters.logs import LogLine, Selection, Stream

from .faults import Faults

#: A follower looks again when a line is written or a log closed (`close`), and also
#: this often by trio's clock, for an `until_exit` that came true some other way.
FOLLOW_POLL_S = 0.05


class FakeLogs:
    def __init__(self) -> None:
        self.faults = Faults()
        self.lines: dict[Path, list[LogLine]] = {}
        self._changed = trio.Event()

    def write(
        self, path: Path, text: bytes, stream: Stream = "stdout", time: datetime | None = None,
        *, partial: bool = False,
    ) -> None:  # fmt: skip
        """A line of output (`partial`: not ended by a newline)."""
        assert time is not None, "a line needs its time"
        self.lines.setdefault(Path(path), []).append(LogLine(stream, time, text, partial))
        self.close(path)

    def close(self, path: Path) -> None:
        """The writer of `path` is done for now (its process exited): followers look."""
        self._changed.set()
        self._changed = trio.Event()

    def start(self, path: Path, size_max: int | None) -> None:
        """What a monitor does before it writes: a log at its size limit starts again."""
        lines = self.lines.setdefault(Path(path), [])
        if size_max is not None and sum(len(line.text) for line in lines) >= size_max:
            lines.clear()

    async def batches(
        self,
        path: Path,
        selection: Selection,
        *,
        tail: int | None = None,
        until_exit: Callable[[], bool] | None = None,
    ) -> AsyncIterator[list[LogLine]]:
        self.faults.check("batches")
        end = datetime.max.replace(tzinfo=UTC)  # where a follower stops
        if until_exit is not None and selection.until is not None:
            # `until` ends the stream rather than filtering it
            end, selection = selection.until, replace(selection, until=None)
        seen = 0
        first = True
        while True:
            # Whether it has exited is asked before the lines are taken: every line written
            # before the exit is among them.
            exited = until_exit() if until_exit is not None else True
            written = self.lines.get(Path(path), [])
            batch = [line for line in written[seen:] if selection.wants(line)]
            seen = len(written)
            if first and tail is not None and tail >= 0:
                batch = batch[len(batch) - tail :] if tail else []
            first = False
            past_end = any(line.time > end for line in batch)
            batch = list(itertools.takewhile(lambda line: line.time <= end, batch))
            if batch:
                yield batch
            if exited or past_end:
                return
            with trio.move_on_after(FOLLOW_POLL_S):
                await self._changed.wait()
