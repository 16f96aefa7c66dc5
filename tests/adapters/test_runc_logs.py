"""Container logs as conmon writes them: read, filtered, and followed until the container exits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

from berth.adapters.log_format import Selection
from berth.adapters.logs import LogLine, log_batches, read_log

from .runc_harness import NEEDS_RUNC, Harness, stdout_texts

pytestmark = NEEDS_RUNC


SAMPLE = (
    b"2026-11-28T12:00:00.000000001+00:00 stdout F one\n"
    b"2026-11-28T12:00:01.5Z stderr P e-a\n"
    b"2026-11-28T12:00:02.000000000+00:00 stdout P tw\n"
    b"2026-11-28T12:00:02.100000000+00:00 stderr F -b\n"
    b"2026-11-28T12:00:02.200000000+00:00 stdout F o\n"
    b"2026-11-28T12:00:03.000000000+00:00 stdout F \n"
    b"2026-11-28T12:00:04.000000000+00:00 stdout F four has spaces\n"
)


def at(seconds: float) -> datetime:
    return datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def test_read_log_joins_partials_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(SAMPLE)
    lines = read_log(path)
    assert [(x.stream, x.text) for x in lines] == [
        ("stdout", b"one"),
        ("stderr", b"e-a-b"),
        ("stdout", b"two"),
        ("stdout", b""),
        ("stdout", b"four has spaces"),
    ]
    assert lines[1].time == at(1.5) and lines[2].time == at(2)
    assert stdout_texts(read_log(path, stderr=False)) == [b"one", b"two", b"", b"four has spaces"]
    assert [x.text for x in read_log(path, stdout=False)] == [b"e-a-b"]
    assert [x.text for x in read_log(path, since=at(2))] == [b"two", b"", b"four has spaces"]
    assert [x.text for x in read_log(path, until=at(1.5))] == [b"one", b"e-a-b"]
    assert [x.text for x in read_log(path, since=at(1), until=at(3))] == [b"e-a-b", b"two", b""]
    assert [x.text for x in read_log(path, tail=2)] == [b"", b"four has spaces"]
    assert [x.text for x in read_log(path, tail=1, stderr=False)] == [b"four has spaces"]
    assert read_log(path, tail=0) == []
    assert read_log(tmp_path / "missing") == []


async def test_following_a_log_yields_lines_as_written_and_stops_at_exit(
    harness: Harness,
) -> None:
    script = "echo first; sleep 0.8; echo second >&2; sleep 0.8; echo third"
    cid, _ = await harness.run(["sh", "-c", script])
    got: list[tuple[float, LogLine]] = []
    with trio.fail_after(20):
        async for batch in log_batches(
            harness.log_path(cid),
            Selection(),
            until_exit=lambda: harness.rt.monitor_pid(cid) is None,
        ):
            got.extend((time.monotonic(), line) for line in batch)
    ended = time.monotonic()
    assert [(x.stream, x.text) for _, x in got] == [
        ("stdout", b"first"),
        ("stderr", b"second"),
        ("stdout", b"third"),
    ]
    assert ended - got[0][0] > 1.0  # the first line arrived well before the container ended
    assert (await harness.rt.wait_exited(cid)).exit_code == 0
    # following an exited container's log returns what is there, with tail and filters
    done = [
        x.text
        async for batch in log_batches(
            harness.log_path(cid), Selection(stderr=False), tail=1, until_exit=lambda: True
        )
        for x in batch
    ]
    assert done == [b"third"]
    await harness.rt.delete(cid)


async def test_following_a_missing_log_after_exit_is_empty(tmp_path: Path) -> None:
    seen = [b async for b in log_batches(tmp_path / "none", Selection(), until_exit=lambda: True)]
    assert seen == []
