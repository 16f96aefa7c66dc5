"""Whether the log may be served: the check at start, and what a damaged log answers.

berthd, and the in-process CLI, check the hash chain's tail before they serve or act
(ADR/0019): every event after the last checkpoint, linked from that checkpoint's hash,
and every checkpoint against the chain row at its position. A full check of every
segment is `berth audit verify`. A log that fails is not served, unless the operator asks
for it read-only (`--ignore-log-verification`): then no event can be appended, and the
log is read only up to the position before the first problem.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from berth.domain.errors import BerthError, Unavailable

from .chain import GENESIS, link
from .verify import (
    STORED_FIELDS,
    Problem,
    Report,
    connect_read_only,
    has_chain,
    verify,
)

VERIFY_HINT = "see `berth audit verify`"
IGNORE_FLAG = "--ignore-log-verification"


class LogVerificationFailed(BerthError):
    """The log's chain does not verify: berthd will not serve it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(
            f"the event log failed verification at position {problem.position}: "
            f"{problem.kind}: {problem.detail}; {VERIFY_HINT} ({IGNORE_FLAG} serves it "
            "read-only, for recovery)"
        )
        self.problem = problem


class ReadOnlyLog(Unavailable):
    """A request that would append an event, while the log is served read-only (503)."""


class DamagedEvent(BerthError):
    """A stored event that cannot be read back: the log was changed outside berth (500)."""

    def __init__(self, where: str, reason: BaseException) -> None:
        why = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        super().__init__(f"the event log is damaged: {where} cannot be read ({why}); {VERIFY_HINT}")


@dataclass(frozen=True)
class ReadOnly:
    """How a log that failed verification is served: the message every append gets, and
    the last position that is read (the one before the first problem)."""

    message: str
    readable_through: int


def read_only(problem: Problem, server: str) -> ReadOnly:
    return ReadOnly(
        f"{server} is serving read-only: the event log failed verification at position "
        f"{problem.position}; {VERIFY_HINT}",
        problem.position - 1,
    )


def verify_tail(db_path: Path) -> Report:
    """Check the chain from the last checkpoint to the head, and every checkpoint.

    A log without a chain yet has nothing to check (the store chains it when it opens).
    """
    if not db_path.is_file() or not has_chain(db_path):
        return Report()
    with closing(connect_read_only(db_path)) as db:
        db.execute("BEGIN")
        bound = max(
            db.execute("SELECT COALESCE(MAX(rowid), 0) FROM stored_events").fetchone()[0],
            db.execute("SELECT COALESCE(MAX(position), 0) FROM event_chain").fetchone()[0],
        )
        checkpoint_problem, last = _check_checkpoints(db, bound)
        db.execute("COMMIT")
    report = verify(db_path, jobs=1, start_after=last)
    if checkpoint_problem is not None and (
        report.problem is None or checkpoint_problem.position <= report.problem.position
    ):
        report.problem = checkpoint_problem
    return report


def _check_checkpoints(db: sqlite3.Connection, bound: int) -> tuple[Problem | None, int]:
    """The first checkpoint within the log that is not the chain's hash at its position,
    and why; and the last checkpoint's position, whose own link is checked too (the tail
    is checked from its hash)."""
    rows = db.execute(
        "SELECT k.position, k.chain_hash, c.chain_hash, e.rowid IS NOT NULL "
        "FROM event_chain_checkpoints k "
        "LEFT JOIN event_chain c ON c.position = k.position "
        "LEFT JOIN stored_events e ON e.rowid = k.position "
        "WHERE k.position <= ? ORDER BY k.position",
        (bound,),
    ).fetchall()
    for n, (position, checkpoint, chained, has_event) in enumerate(rows):
        if chained is None:
            return Problem(
                position,
                "chain-altered",
                f"the chain record at checkpoint position {position} was deleted",
            ), position
        if not has_event:
            return Problem(
                position, "missing", f"the event at position {position} was deleted"
            ), position
        if bytes(checkpoint) != bytes(chained) or n == len(rows) - 1:
            problem = _check_link(db, position, bytes(checkpoint), bytes(chained))
            if problem is not None:
                return problem, position
    return None, rows[-1][0] if rows else 0


def _check_link(
    db: sqlite3.Connection, position: int, checkpoint: bytes, chained: bytes
) -> Problem | None:
    """Recompute the link at `position` from the chain row before it: whichever of the
    checkpoint and the chain row it matches is intact, and the other was changed."""
    previous = db.execute(
        "SELECT chain_hash FROM event_chain WHERE position < ? ORDER BY position DESC LIMIT 1",
        (position,),
    ).fetchone()
    event = db.execute(
        f"SELECT {STORED_FIELDS} FROM stored_events WHERE rowid = ?", (position,)
    ).fetchone()
    expected = link(bytes(previous[0]) if previous else GENESIS, position, *event)
    if expected == chained == checkpoint:
        return None
    if expected == chained:
        return Problem(
            position,
            "checkpoint-altered",
            f"the checkpoint at position {position} does not match the chain",
        )
    if expected == checkpoint:
        return Problem(
            position, "chain-altered", f"the chain record at position {position} was changed"
        )
    return Problem(
        position,
        "edited",
        f"the event at position {position} matches neither its chain record nor its checkpoint",
    )
