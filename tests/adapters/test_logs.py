"""Reading k8s-file logs in bounded memory: the tail read from the end, chunked parsing,
long lines in pieces, and a follower that survives conmon replacing a full log."""

from __future__ import annotations

import io
import os
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.adapters.log_format import Limits, LogLine, Selection
from berth.adapters.logs import LogReader, log_batches, read_log, start_log

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
BIG = Limits(max_line=1 << 30)


def stamp(second: int) -> bytes:
    return (T0 + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S.%f123Z").encode()


# -- a reference reader: the whole file at once, as simply as it can be said ----------------


def reference(
    data: bytes, selection: Selection, tail: int | None, max_record: int
) -> list[LogLine]:
    """Every wanted line in the order a forward read gives them (lines the container never
    ended last, by time); with `tail`, those among the last `tail` by the place of their
    last record in the file."""
    *segments, _unfinished = data.split(b"\n")
    ended: list[tuple[int, LogLine]] = []
    open_lines: dict[str, tuple[datetime, list[bytes], int]] = {}
    offset = 0
    for segment in segments:
        at, offset = offset, offset + len(segment) + 1
        parts = segment.split(b" ", 3)
        if len(segment) > max_record or len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
            continue
        try:
            time = datetime.fromisoformat(parts[0].decode().replace("123Z", "+00:00"))
        except ValueError:
            continue
        stream = parts[1].decode()
        started, texts, _ = open_lines.pop(stream, (time, [], at))
        texts.append(parts[3] if len(parts) == 4 else b"")
        if parts[2] == b"P":
            open_lines[stream] = (started, texts, at)
        else:
            ended.append((at, LogLine(stream, started, b"".join(texts))))  # type: ignore[arg-type]
    unfinished = sorted(
        (
            (at, LogLine(stream, started, b"".join(texts), partial=True))  # type: ignore[arg-type]
            for stream, (started, texts, at) in sorted(open_lines.items(), key=lambda x: x[1][2])
        ),
        key=lambda x: x[1].time,
    )
    in_order = [x for x in ended + unfinished if selection.wants(x[1])]
    if tail is None or tail < 0:
        return [line for _, line in in_order]
    chosen = {at for at, _ in sorted(in_order)[max(0, len(in_order) - tail) :]} if tail else set()
    return [line for at, line in in_order if at in chosen]


def record(second: int, stream: str, tag: str, text: bytes) -> bytes:
    return stamp(second) + f" {stream} {tag} ".encode() + text + b"\n"


texts = st.one_of(
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b" ")),
    st.sampled_from([b"", b" ", b"x stdout F y", b"z stderr P ", b"2026 stdout  "]),
)
entries = st.one_of(
    st.tuples(
        st.integers(0, 12), st.sampled_from(["stdout", "stderr"]), st.sampled_from("FFP"), texts
    ).map(lambda x: record(*x)),
    st.sampled_from(
        [
            b"\n",
            b"garbage\n",
            b"not-a-time stdout F x\n",
            stamp(3) + b" stdin F x\n",
            stamp(4) + b" stdout\n",
            record(5, "stderr", "F", b"a rather long record that some limits refuse"),
        ]
    ),
)


@dataclass(frozen=True)
class Case:
    data: bytes
    selection: Selection
    block: int
    max_record: int


cases = st.builds(
    lambda body, end, out, err, since, until, block, max_record: Case(
        b"".join(body) + end,
        Selection(
            out,
            err,
            None if since is None else T0 + timedelta(seconds=since),
            None if until is None else T0 + timedelta(seconds=until),
        ),
        block,
        max_record,
    ),
    st.lists(entries, max_size=30),
    st.sampled_from([b"", stamp(9) + b" stdout F unfinished record"]),
    st.booleans(),
    st.booleans(),
    st.none() | st.integers(0, 12),
    st.none() | st.integers(0, 12),
    st.integers(1, 80),
    st.sampled_from([60, 1 << 20]),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases)
def test_tail_read_from_the_end_is_the_last_lines_of_the_whole_log(
    tmp_path: Path, case: Case
) -> None:
    path = tmp_path / "log"
    path.write_bytes(case.data)
    limits = Limits(chunk=case.block, max_record=case.max_record, max_line=1 << 30)
    sel = case.selection
    bounds = {"stdout": sel.stdout, "stderr": sel.stderr, "since": sel.since, "until": sel.until}
    whole = reference(case.data, sel, None, case.max_record)
    assert read_log(path, **bounds, limits=limits) == whole  # type: ignore[arg-type]
    for tail in range(-1, len(whole) + 2):
        expected = reference(case.data, sel, tail, case.max_record)
        assert read_log(path, **bounds, tail=tail, limits=limits) == expected  # type: ignore[arg-type]


# -- what is read, and held ---------------------------------------------------------------


class CountingFile(io.FileIO):
    """A file that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def write_big_log(path: Path, lines: int) -> None:
    with open(path, "wb") as out:
        for block in range(0, lines, 1000):
            out.write(
                b"".join(
                    record(
                        i // 1000,
                        "stderr" if i % 7 == 0 else "stdout",
                        "F",
                        b"%08d " % i + b"x" * 90,
                    )
                    for i in range(block, min(block + 1000, lines))
                )
            )


def test_the_tail_of_a_large_log_reads_only_its_end(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_big_log(path, 200_000)  # ~27 MB
    size = os.path.getsize(path)
    for selection in (Selection(), Selection(stdout=False), Selection(stderr=False)):
        with CountingFile(path, "rb") as handle:
            reader = LogReader(handle, selection, 5)  # type: ignore[arg-type]
            lines: list[LogLine] = []
            while True:
                batch, more = reader.batch(reader.size)
                lines += batch
                if not more:
                    break
            lines += reader.end()
            assert len(lines) == 5
            assert all(selection.wants(line) for line in lines)
            assert lines[-1].text.startswith(b"%08d" % (199_999 if selection.stdout else 199_997))
            assert handle.read_bytes <= 3 * 64 * 1024 < size // 100
    # and the same tail as a whole read gives
    assert read_log(path, tail=5) == read_log(path)[-5:]


async def test_what_a_reader_holds_does_not_grow_with_the_log(tmp_path: Path) -> None:
    path = tmp_path / "log"
    write_big_log(path, 200_000)  # ~27 MB
    tracemalloc.start()
    try:
        assert len(read_log(path, tail=5)) == 5
        assert tracemalloc.get_traced_memory()[1] < 1024 * 1024
        tracemalloc.reset_peak()
        count = 0
        async for batch in log_batches(path, Selection()):
            count += len(batch)  # and dropped, as a client that reads and discards
        assert count == 200_000
        assert tracemalloc.get_traced_memory()[1] < 4 * 1024 * 1024
    finally:
        tracemalloc.stop()


def test_a_log_is_parsed_in_chunks_and_long_lines_come_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "log"
    parts = [record(1, "stdout", "P", b"a" * 50) for _ in range(5)]
    path.write_bytes(
        b"".join(parts) + record(2, "stderr", "F", b"between") + record(3, "stdout", "F", b"end")
    )
    limits = Limits(chunk=16, max_record=1 << 20, max_line=64)
    lines = read_log(path, limits=limits)
    whole = b"a" * 250 + b"end"
    assert [(x.stream, x.partial) for x in lines] == [
        ("stdout", True), ("stdout", True), ("stdout", True), ("stderr", False), ("stdout", False),
    ]  # fmt: skip
    assert b"".join(x.text for x in lines if x.stream == "stdout") == whole
    assert all(len(x.text) <= 64 for x in lines)
    assert {x.time for x in lines if x.stream == "stdout"} == {T0 + timedelta(seconds=1)}
    # the tail counts lines, not pieces: the last line is all of the long one
    assert read_log(path, tail=1, limits=limits) == [x for x in lines if x.stream == "stdout"]


def test_a_record_without_end_is_not_held_whole(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(
        record(1, "stdout", "F", b"before")
        + b"y" * 5000
        + b"\n"
        + record(2, "stdout", "F", b"after")
    )
    limits = Limits(chunk=100, max_record=1000, max_line=1000)
    assert [x.text for x in read_log(path, limits=limits)] == [b"before", b"after"]
    assert [x.text for x in read_log(path, tail=2, limits=limits)] == [b"before", b"after"]


# -- following ------------------------------------------------------------------------------


async def test_follow_goes_on_in_the_new_file_when_the_log_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(record(1, "stdout", "F", b"one") + record(1, "stdout", "P", b"tw"))
    exited = False
    seen: list[bytes] = []

    async def writer() -> None:
        nonlocal exited
        await trio.sleep(0.2)
        with open(path, "ab") as old:
            old.write(record(2, "stdout", "F", b"o"))
        replacement = tmp_path / "log.tmp"  # as conmon's --log-size-max does
        replacement.write_bytes(record(3, "stdout", "F", b"three"))
        replacement.rename(path)
        await trio.sleep(0.2)
        with open(path, "ab") as new:
            new.write(record(4, "stderr", "F", b"four"))
        await trio.sleep(0.2)
        exited = True

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            async for batch in log_batches(path, Selection(), until_exit=lambda: exited):
                seen.extend(line.text for line in batch)
    assert seen == [b"one", b"two", b"three", b"four"]


async def test_log_batches_of_a_running_log_stop_at_what_it_held(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"".join(record(1, "stdout", "F", b"%d" % i) for i in range(3)))
    batches = log_batches(path, Selection())
    first = await batches.__anext__()
    with open(path, "ab") as more:  # written after the read began: not part of it
        more.write(record(2, "stdout", "F", b"later"))
    rest = [line async for batch in batches for line in batch]
    assert [x.text for x in first + rest] == [b"0", b"1", b"2"]


def test_a_log_at_its_size_limit_starts_again_empty_when_its_container_does(
    tmp_path: Path,
) -> None:
    path = tmp_path / "container.log"
    path.write_bytes(record(1, "stdout", "F", b"x" * 100))
    size = path.stat().st_size
    before = path.stat().st_ino
    start_log(path, None)
    start_log(path, size + 1)
    assert path.stat().st_size == size and path.stat().st_ino == before
    start_log(path, size)  # conmon counts from zero: what is there is dropped first
    assert path.stat().st_size == 0 and path.stat().st_ino != before
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["container.log"]
    start_log(tmp_path / "missing.log", 10)
    assert not (tmp_path / "missing.log").exists()
