"""`berth audit verify`: recompute the hash chain and name the first position that breaks it.

The log is cut into segments at the checkpoints. Each segment starts from its checkpoint's
hash and must end on the next checkpoint's hash, so segments are independent: they run in
parallel worker processes, and `start_after` skips the ones wholly before a position. By
default every segment is checked, so an edit anywhere is found.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from .chain import GENESIS, backfill_note, link

# A row's columns as the bytes the digest covers, whatever type a raw SQL write left there.
STORED_FIELDS = (
    "COALESCE(CAST(originator_id AS BLOB), x''), "
    "COALESCE(CAST(originator_version AS INTEGER), -1), "
    "COALESCE(CAST(topic AS BLOB), x''), COALESCE(CAST(state AS BLOB), x'')"
)

# Logs shorter than this are not worth worker processes.
PARALLEL_MIN_EVENTS = 50_000


@dataclass(frozen=True)
class Problem:
    """The first thing wrong, at a log position.

    kind is one of: edited, missing, inserted, reordered, chain-altered, checkpoint-altered,
    truncated.
    """

    position: int
    kind: str
    detail: str


@dataclass(frozen=True)
class Segment:
    after: int
    anchor: bytes
    through: int
    expected_end: bytes | None  # the checkpoint hash the segment must end on


@dataclass(frozen=True)
class SegmentResult:
    events: int
    problem: Problem | None


@dataclass
class Report:
    events: int = 0
    first_position: int = 0
    head_position: int = 0
    head_hash: str = ""
    checkpoints: int = 0
    segments: int = 0
    seconds: float = 0.0
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.problem is None


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)


def has_chain(db_path: Path) -> bool:
    with closing(connect_read_only(db_path)) as db:
        found = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_chain'"
        ).fetchone()
    return found is not None


def verify(db_path: Path, *, jobs: int | None = None, start_after: int = 0) -> Report:
    """Check the chain of the log at `db_path`; `start_after` limits the check to the
    segments from the last checkpoint at or before that position."""
    started = time.perf_counter()
    report = Report()
    with closing(connect_read_only(db_path)) as db:
        db.execute("BEGIN")
        bound = max(
            db.execute("SELECT COALESCE(MAX(rowid), 0) FROM stored_events").fetchone()[0],
            db.execute("SELECT COALESCE(MAX(position), 0) FROM event_chain").fetchone()[0],
        )
        checkpoints = [
            (int(p), bytes(h))
            for p, h in db.execute(
                "SELECT position, chain_hash FROM event_chain_checkpoints ORDER BY position"
            )
        ]
        note = backfill_note(db.cursor())
        db.execute("COMMIT")
    if note:
        report.notes.append(note)
    report.checkpoints = len(checkpoints)
    beyond = [p for p, _ in checkpoints if p > bound]
    segments = _segments([c for c in checkpoints if c[0] <= bound], bound, start_after)
    report.segments = len(segments)
    results = _run(db_path, segments, jobs, bound)
    for result in results:
        report.events += result.events
        if result.problem is not None and report.problem is None:
            report.problem = result.problem
    if report.problem is None and beyond:
        report.problem = Problem(
            bound + 1,
            "truncated",
            f"the log ends at position {bound} but a checkpoint was recorded at {beyond[0]}: "
            f"the events after position {bound} were deleted",
        )
    if report.problem is not None and report.problem.kind == "edited":
        report.problem = _explain_edit(db_path, report.problem)
    report.first_position = segments[0].after + 1 if segments else 0
    report.head_position, report.head_hash = _head(db_path, bound)
    report.seconds = time.perf_counter() - started
    return report


def _segments(checkpoints: list[tuple[int, bytes]], bound: int, start_after: int) -> list[Segment]:
    anchors = [(0, GENESIS), *checkpoints]
    segments = []
    for i, (after, anchor) in enumerate(anchors):
        if i + 1 < len(anchors):
            through, expected = anchors[i + 1][0], anchors[i + 1][1]
            segments.append(Segment(after, anchor, through, expected))
        elif after < bound:
            segments.append(Segment(after, anchor, bound, None))
    if start_after:
        segments = [s for s in segments if s.through > start_after]
    return segments


def _run(
    db_path: Path, segments: list[Segment], jobs: int | None, bound: int
) -> list[SegmentResult]:
    workers = min(jobs or os.cpu_count() or 1, len(segments))
    if workers <= 1 or bound < PARALLEL_MIN_EVENTS:
        return [verify_segment(db_path, s) for s in segments]
    # Imported here: berthd and every in-process command import this module for the
    # check at start, which never needs a worker.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # Spawned, not forked: the caller may hold SQLite connections and threads.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(verify_segment, [db_path] * len(segments), segments))


def verify_segment(db_path: Path, segment: Segment) -> SegmentResult:
    """Check one segment's links; the first problem in it, if any."""
    with closing(connect_read_only(db_path)) as db:
        db.execute("BEGIN")
        events = db.execute(
            f"SELECT rowid, {STORED_FIELDS} FROM stored_events "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (segment.after, segment.through + 1),
        )
        links = db.cursor().execute(
            "SELECT position, chain_hash FROM event_chain "
            "WHERE position > ? AND position <= ? ORDER BY position",
            (segment.after, segment.through + 1),
        )
        result = _walk(segment, events, links)
        db.execute("COMMIT")
    return result


_END = (1 << 63, b"")
Row = tuple[int, bytes, int, bytes, bytes]


def _walk(segment: Segment, events: sqlite3.Cursor, links: sqlite3.Cursor) -> SegmentResult:
    """Each event's link must follow from the stored link before it: a changed event breaks
    its own link only, a changed link breaks the next one too."""
    previous = segment.anchor
    count = 0
    event: Row | None = next(events, None)
    chained: tuple[int, bytes] = next(links, _END)
    # One row past the segment on each side is read, to tell an edit from a changed link.
    while True:
        event_position = event[0] if event is not None else _END[0]
        if event_position > segment.through:
            event_position = _END[0]
        chained_position = chained[0] if chained[0] <= segment.through else _END[0]
        position = min(event_position, chained_position)
        if position == _END[0]:
            break
        assert event is not None or chained_position < event_position
        if chained_position < event_position:
            return SegmentResult(
                count, Problem(position, "missing", f"the event at position {position} was deleted")
            )
        assert event is not None
        if chained_position > event_position:
            return SegmentResult(
                count,
                Problem(
                    position,
                    "inserted",
                    f"position {position} holds an event that was never chained "
                    f"({_describe(event)}): written outside berth",
                ),
            )
        expected = link(previous, *event)
        following: Row | None = next(events, None)
        after: tuple[int, bytes] = next(links, _END)
        if expected != chained[1]:
            return SegmentResult(count, _mismatch(event, expected, following, after))
        previous = chained[1]
        count += 1
        event, chained = following, after
    if segment.expected_end is not None and previous != segment.expected_end:
        return SegmentResult(
            count,
            Problem(
                segment.through,
                "checkpoint-altered",
                f"the checkpoint at position {segment.through} does not match the chain",
            ),
        )
    return SegmentResult(count, None)


def _mismatch(
    event: Row, expected: bytes, following: Row | None, after: tuple[int, bytes]
) -> Problem:
    """An event whose link does not match: if the next link follows from the link this
    event should have, the event is intact and its stored link was changed."""
    position = event[0]
    if (
        following is not None
        and following[0] == after[0] == position + 1
        and link(expected, *following) == after[1]
    ):
        return Problem(
            position, "chain-altered", f"the chain record at position {position} was changed"
        )
    return Problem(
        position,
        "edited",
        f"the event at position {position} ({_describe(event)}) differs from what was recorded",
    )


def _explain_edit(db_path: Path, problem: Problem) -> Problem:
    """An edited position holding an event that links in at another position was reordered.

    One pass over the chain, run only once something is already known to be wrong."""
    with closing(connect_read_only(db_path)) as db:
        found = db.execute(
            f"SELECT rowid, {STORED_FIELDS} FROM stored_events WHERE rowid = ?",
            (problem.position,),
        ).fetchone()
        previous = GENESIS
        for position, stored in db.execute(
            "SELECT position, chain_hash FROM event_chain ORDER BY position"
        ):
            if position != problem.position and link(previous, position, *found[1:]) == stored:
                return Problem(
                    problem.position,
                    "reordered",
                    f"position {problem.position} holds the event recorded at position "
                    f"{position} ({_describe(found)})",
                )
            previous = stored
    return problem


def _head(db_path: Path, bound: int) -> tuple[int, str]:
    with closing(connect_read_only(db_path)) as db:
        found = db.execute(
            "SELECT position, chain_hash FROM event_chain WHERE position <= ? "
            "ORDER BY position DESC LIMIT 1",
            (bound,),
        ).fetchone()
    return (int(found[0]), bytes(found[1]).hex()) if found else (0, GENESIS.hex())


def _describe(row: Row) -> str:
    _, originator_id, version, topic, _ = row
    return (
        f"{originator_id.decode(errors='replace')} version {version}, "
        f"{topic.decode(errors='replace')}"
    )
