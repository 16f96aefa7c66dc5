"""The `ContainerLogs` contract (adapters/logs.py), for the fake and the real log reader."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from berth.adapters.logs import ContainerLogs, LogFiles, LogLine, Selection, Stream

from ..fakes.logs import FakeLogs
from .conftest import IMPLEMENTATIONS

T0 = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


class Subject:
    """A reader, and a writer of its log as a container's monitor would write it."""

    def __init__(self, logs: ContainerLogs, path: Path) -> None:
        self.logs = logs
        self.path = path

    def write(self, second: int, text: bytes, stream: Stream = "stdout") -> None:
        raise NotImplementedError

    def write_unended(self, second: int, text: bytes, stream: Stream = "stdout") -> None:
        """Output that no newline ends (yet)."""
        raise NotImplementedError

    async def read(
        self, selection: Selection | None = None, tail: int | None = None
    ) -> list[list[LogLine]]:
        return [
            batch
            async for batch in self.logs.batches(self.path, selection or Selection(), tail=tail)
        ]


class RealSubject(Subject):
    """conmon's k8s-file format: `<RFC 3339 nanoseconds> <stream> <F|P> <text>`."""

    def _append(self, second: int, stream: Stream, tag: str, text: bytes) -> None:
        stamp = at(second).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
        with self.path.open("ab") as log:
            log.write(f"{stamp} {stream} {tag} ".encode() + text + b"\n")

    def write(self, second: int, text: bytes, stream: Stream = "stdout") -> None:
        self._append(second, stream, "F", text)

    def write_unended(self, second: int, text: bytes, stream: Stream = "stdout") -> None:
        self._append(second, stream, "P", text)


class FakeSubject(Subject):
    def __init__(self, path: Path) -> None:
        self.fake = FakeLogs()
        super().__init__(self.fake, path)

    def write(self, second: int, text: bytes, stream: Stream = "stdout") -> None:
        self.fake.write(self.path, text, stream, at(second))

    def write_unended(self, second: int, text: bytes, stream: Stream = "stdout") -> None:
        self.fake.write(self.path, text, stream, at(second), partial=True)


@pytest.fixture(params=IMPLEMENTATIONS)
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    path = tmp_path / "container.log"
    return FakeSubject(path) if request.param == "fake" else RealSubject(LogFiles(), path)


def texts(batches: list[list[LogLine]]) -> list[bytes]:
    assert all(batches), "an empty batch"
    return [line.text for batch in batches for line in batch]


def written(subject: Subject) -> None:
    for second, text, stream in [
        (1, b"out1", "stdout"),
        (2, b"err1", "stderr"),
        (3, b"out2", "stdout"),
        (4, b"err2", "stderr"),
        (5, b"out3", "stdout"),
    ]:
        subject.write(second, text, stream)  # type: ignore[arg-type]


async def test_a_missing_log_is_an_empty_log(subject: Subject) -> None:
    assert await subject.read() == []


async def test_lines_come_in_the_order_written_with_their_stream_and_time(
    subject: Subject,
) -> None:
    written(subject)
    lines = [line for batch in await subject.read() for line in batch]
    assert [(x.stream, x.time, x.text, x.partial) for x in lines] == [
        ("stdout", at(1), b"out1", False),
        ("stderr", at(2), b"err1", False),
        ("stdout", at(3), b"out2", False),
        ("stderr", at(4), b"err2", False),
        ("stdout", at(5), b"out3", False),
    ]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(stderr=False), [b"out1", b"out2", b"out3"]),
        (Selection(stdout=False), [b"err1", b"err2"]),
        (Selection(stdout=False, stderr=False), []),
        (Selection(since=at(2), until=at(4)), [b"err1", b"out2", b"err2"]),
        (Selection(stderr=False, since=at(3)), [b"out2", b"out3"]),
    ],
    ids=["stdout", "stderr", "neither", "since and until, inclusive", "stdout since"],
)
async def test_a_selection_takes_streams_and_times(
    subject: Subject, selection: Selection, expected: list[bytes]
) -> None:
    written(subject)
    assert texts(await subject.read(selection)) == expected


@pytest.mark.parametrize(
    ("selection", "tail", "expected"),
    [
        (Selection(), 2, [b"err2", b"out3"]),
        (Selection(), 0, []),
        (Selection(), -1, [b"out1", b"err1", b"out2", b"err2", b"out3"]),
        (Selection(), 10, [b"out1", b"err1", b"out2", b"err2", b"out3"]),
        (Selection(stdout=False), 1, [b"err2"]),
        (Selection(until=at(3)), 2, [b"err1", b"out2"]),
    ],
    ids=["last two", "none", "negative: all", "more than there are", "of a stream", "of a time"],
)
async def test_tail_is_the_last_lines_of_those_selected(
    subject: Subject, selection: Selection, tail: int, expected: list[bytes]
) -> None:
    written(subject)
    assert texts(await subject.read(selection, tail)) == expected


async def test_an_unended_last_line_is_partial(subject: Subject) -> None:
    subject.write(1, b"whole")
    subject.write_unended(2, b"no newline")
    lines = [line for batch in await subject.read() for line in batch]
    assert [(x.text, x.partial) for x in lines] == [(b"whole", False), (b"no newline", True)]


async def follow(
    subject: Subject, selection: Selection, exited: Callable[[], bool], into: list[bytes]
) -> None:
    async for batch in subject.logs.batches(subject.path, selection, tail=1, until_exit=exited):
        assert batch
        into.extend(line.text for line in batch)


async def until_read(got: list[bytes], count: int) -> None:
    with trio.fail_after(10):
        while len(got) < count:
            await trio.sleep(0.01)


async def test_following_gives_the_tail_then_every_line_until_the_exit(subject: Subject) -> None:
    subject.write(1, b"old")
    subject.write(2, b"last before")
    state = {"exited": False}
    got: list[bytes] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow, subject, Selection(), lambda: state["exited"], got)
        await until_read(got, 1)
        subject.write(3, b"new")
        await until_read(got, 2)
        subject.write(4, b"written just before the exit")
        state["exited"] = True
    assert got == [b"last before", b"new", b"written just before the exit"]


async def test_following_ends_at_the_first_line_past_until(subject: Subject) -> None:
    subject.write(1, b"in")
    got: list[bytes] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow, subject, Selection(until=at(2)), lambda: False, got)
        await until_read(got, 1)
        subject.write(2, b"at until")
        subject.write(3, b"past until")
        subject.write(4, b"never read")
    assert got == [b"in", b"at until"]
