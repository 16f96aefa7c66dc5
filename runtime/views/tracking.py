"""Applying the log to a view exactly once, shared by the views and the audit trail.

A view keeps its log position in the `tracking` table of its own file, in the same
transaction as its rows. Several processes may apply the log at once (berthd, the CLI, a
rebuild swapping views in), so a batch is applied only if the position is still the
one it was read after; otherwise the batch is read again from the new position.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError

from ..store.events import EventStore, LoggedEvent


def apply_new_events(
    store: EventStore,
    position: Callable[[], int],
    apply: Callable[[list[LoggedEvent], int], None],
    batch_size: int,
) -> int:
    """Apply every event after `position()`, batch by batch; returns the final position."""
    while True:
        after = position()
        batch = store.read_log(after=after, limit=batch_size)
        if not batch:
            return after
        try:
            apply(batch, after)
        except IntegrityError:
            if position() == after:
                # Not another process's batch but a row this view refuses (a constraint):
                # re-reading the same batch would refuse it again, forever.
                raise
            continue  # another process moved the position first; re-read


def claim_batch(cursor: Any, select_position: str, application: str, after: int) -> None:
    """Inside the batch's transaction: take the write lock, and refuse the batch if the
    view's position is no longer `after` (moved on by another process, or back by a
    rebuild), so that no event is applied twice or skipped."""
    # A write first, so this transaction holds the write lock from here on.
    cursor.execute("UPDATE tracking SET notification_id = notification_id WHERE 0")
    cursor.execute(select_position, (application,))
    found = cursor.fetchone()
    if ((found[0] if found else None) or 0) != after:
        raise IntegrityError(f"the position of {application} moved")


# How many times a view file's position was set back in this process (by a rebuild),
# by the file's resolved path: whoever remembers a view's position trusts it only while
# this count is what it was (ADR/0052).
_set_back: dict[str, int] = {}
_set_back_lock = threading.Lock()


def set_back(db_path: Path) -> None:
    """Note that the position of the view file `db_path` is being set back."""
    with _set_back_lock:
        key = str(db_path.resolve())
        _set_back[key] = _set_back.get(key, 0) + 1


def times_set_back(resolved_path: str) -> int:
    """How many times the view file at `resolved_path` (`Path.resolve()`d) was set back."""
    return _set_back.get(resolved_path, 0)
