"""The hash chain kept alongside the stored events (ADR/0013).

Every stored event gets a row in `event_chain`, written in the same SQLite transaction as
the event itself: its chain hash, SHA-256 over (previous chain hash, position, originator
id, version, topic, stored state bytes). An edit, a delete, a reorder or an insert done
behind berth's back breaks the chain at that position. Every `CHECKPOINT_INTERVAL`
positions the chain hash is also copied to `event_chain_checkpoints`, so verification can
run segment by segment.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from .schema import create_table_retrying

log = logging.getLogger(__name__)

GENESIS = bytes(32)
CHECKPOINT_INTERVAL = 10_000
BACKFILL_BATCH = 5_000

CREATE_STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS event_chain ("
    "position INTEGER PRIMARY KEY, chain_hash BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS event_chain_checkpoints ("
    "position INTEGER PRIMARY KEY, chain_hash BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS event_chain_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

_POSITION_AND_LENGTH = struct.Struct(">qI")


class ChainBroken(PersistenceError):
    """The chain cannot be extended: the log was changed outside berth."""


def link(
    previous: bytes, position: int, originator_id: bytes, version: int, topic: bytes, state: bytes
) -> bytes:
    """The chain hash of one event: its stored columns' bytes after the previous hash and
    its position, each variable field length-prefixed so none can bleed into the next (the
    state, last, takes the rest)."""
    return hashlib.sha256(
        b"".join(
            (
                previous,
                _POSITION_AND_LENGTH.pack(position, len(originator_id)),
                originator_id,
                _POSITION_AND_LENGTH.pack(version, len(topic)),
                topic,
                state,
            )
        )
    ).digest()


def is_checkpoint(previous_position: int, position: int) -> bool:
    """True when `position` is the first one at or past a multiple of the interval."""
    return position // CHECKPOINT_INTERVAL > previous_position // CHECKPOINT_INTERVAL


def chain_head(cursor: Any) -> tuple[int, bytes]:
    """The last chained position and its hash; (0, GENESIS) for an empty chain."""
    cursor.execute("SELECT position, chain_hash FROM event_chain ORDER BY position DESC LIMIT 1")
    found = cursor.fetchone()
    return (int(found[0]), bytes(found[1])) if found else (0, GENESIS)


def extend(
    cursor: Any, rows: Iterable[tuple[int, str, int, str, bytes]], head: tuple[int, bytes]
) -> tuple[int, bytes]:
    """Chain `rows` (position, originator id, version, topic, state), oldest first, after
    `head`; returns the new head. Positions must rise past the head. (A fleet's
    PostgreSQL log chains in the server: postgres_recorders.py's berth_append.)"""
    position, previous = head
    links: list[tuple[int, bytes]] = []
    checkpoints: list[tuple[int, bytes]] = []
    for row_position, originator_id, version, topic, state in rows:
        if row_position <= position:
            raise ChainBroken(
                f"event log position {row_position} is already chained: the log was changed "
                "outside berth; run `berth audit verify`"
            )
        current = link(
            previous, row_position, originator_id.encode(), version, topic.encode(), state
        )
        links.append((row_position, current))
        if is_checkpoint(position, row_position):
            checkpoints.append((row_position, current))
        position, previous = row_position, current
    cursor.executemany("INSERT INTO event_chain VALUES (?, ?)", links)
    if checkpoints:
        cursor.executemany("INSERT INTO event_chain_checkpoints VALUES (?, ?)", checkpoints)
    return position, previous


def text_id(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, chaining each event as it is inserted."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *CREATE_STATEMENTS]

    def create_table(self) -> None:
        create_table_retrying(super())

    def _create_table(self, c: SQLiteCursor) -> None:
        super()._create_table(c)
        # A write first: the check below and any backfill then run under the write lock.
        c.execute("UPDATE event_chain_meta SET value = value WHERE 0")
        head_position, _ = chain_head(c)
        c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name}")
        last_event = c.fetchone()[0] or 0
        if head_position == 0 and last_event > 0:
            backfill(c, self.events_table_name, last_event)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        if positions:
            # The insert above holds the write lock, so the head read here is final.
            extend(
                c,
                (
                    (p, text_id(s.originator_id), s.originator_version, s.topic, s.state)
                    for p, s in zip(positions, stored_events, strict=True)
                ),
                chain_head(c),
            )
        return positions


def backfill(c: Any, events_table: str, last_event: int) -> None:
    """Chain a log written before the chain existed, from its first event."""
    log.warning(
        "event log has no hash chain yet: chaining its %d existing positions (backfill); "
        "changes made to them before now cannot be detected",
        last_event,
    )
    head = (0, GENESIS)
    while True:
        c.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {events_table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (head[0], BACKFILL_BATCH),
        )
        rows = [(r[0], r[1], r[2], r[3], bytes(r[4])) for r in c.fetchall()]
        if not rows:
            break
        head = extend(c, rows, head)
    c.executemany(
        "INSERT OR REPLACE INTO event_chain_meta VALUES (?, ?)",
        [
            ("backfilled_through", str(head[0])),
            ("backfilled_at", datetime.now(UTC).isoformat(timespec="seconds")),
        ],
    )


def backfill_note(cursor: Any) -> str | None:
    """What verify should say about a chain that began with a backfill, if it did."""
    cursor.execute("SELECT key, value FROM event_chain_meta")
    meta = {str(row[0]): str(row[1]) for row in cursor.fetchall()}
    through = meta.get("backfilled_through")
    if through is None:
        return None
    return (
        f"positions 1-{through} were chained on first open at {meta.get('backfilled_at')} "
        "(backfill): changes made to them before then cannot be detected"
    )
