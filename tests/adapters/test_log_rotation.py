"""Rotation alongside conmon (log_rotation.py): the file being written stays linked as
`.1`, so conmon's replacement of a full log keeps it; at most `max_file` files exist, and
readers go through the rotated ones, oldest first, then the log."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.adapters.log_format import Selection
from berth.adapters.log_rotation import keep_rotated, plan_rotation, rotate_noted, rotated_files
from berth.adapters.logs import log_batches

T0 = datetime(2026, 12, 7, 9, 0, 0, tzinfo=UTC)


def record(n: int) -> bytes:
    at = (T0 + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    return f"{at} stdout F line {n}\n".encode()


def replace_as_conmon(log: Path) -> None:
    """What conmon does when a write would pass --log-size-max."""
    fresh = log.with_name(log.name + ".tmp")
    fresh.write_bytes(b"")
    os.replace(fresh, log)


def files_of(log: Path) -> set[int]:
    return {
        os.stat(p).st_ino for p in log.parent.iterdir() if p.name.startswith(log.name + ".")
    } | {os.stat(log).st_ino}


def read_all(log: Path, tail: int | None = None) -> list[bytes]:
    async def main() -> list[bytes]:
        return [
            line.text async for batch in log_batches(log, Selection(), tail=tail) for line in batch
        ]

    return trio.run(main)


@settings(max_examples=40, deadline=None)
@given(max_file=st.integers(1, 5), per_file=st.lists(st.integers(1, 4), min_size=1, max_size=9))
def test_rotation_keeps_at_most_max_file_files_and_reading_loses_no_line_between_them(
    tmp_path_factory: pytest.TempPathFactory, max_file: int, per_file: list[int]
) -> None:
    log = tmp_path_factory.mktemp("logs") / "container.log"
    log.write_bytes(b"")
    written: list[list[int]] = []
    n = 0
    for i, count in enumerate(per_file):
        if i:
            replace_as_conmon(log)
        keep_rotated(log, max_file)  # berthd sees each new file before it fills
        with open(log, "ab") as out:
            for _ in range(count):
                out.write(record(n))
                n += 1
        written.append(list(range(n - count, n)))
    assert len(files_of(log)) <= max_file
    kept = [f"line {k}".encode() for file in written[-max_file:] for k in file]
    assert read_all(log) == kept
    assert read_all(log, tail=3) == kept[-3:]
    assert len(rotated_files(log)) == min(max_file, len(per_file)) - 1


def test_the_file_being_written_is_linked_once(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    log.write_bytes(record(0))
    assert keep_rotated(log, 3)
    assert not keep_rotated(log, 3)
    assert os.stat(log.with_name("container.log.1")).st_ino == os.stat(log).st_ino
    assert rotated_files(log) == []  # `.1` is still the log itself
    assert not keep_rotated(log, 1)


def test_the_noted_count_is_what_a_later_round_uses(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    log.write_bytes(record(0))
    assert not rotate_noted(log)  # nothing noted: one file, conmon's own limit
    plan_rotation(log, 2)
    assert rotate_noted(log)
    assert log.with_name("container.log.1").exists()
    replace_as_conmon(log)
    assert rotate_noted(log)
    assert [p.name for p in rotated_files(log)] == ["container.log.2"]
    plan_rotation(log, 1)
    assert not log.with_name("container.log.max-file").exists()
