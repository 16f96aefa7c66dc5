"""`berth store copy`: one host's SQLite log moved into a fleet's PostgreSQL store.

The source's chain is verified first (a log changed behind berth's back is not carried
into the fleet). Events are appended in their positions' order, in batches, each with its
actor as it was plus the host it now belongs to, so that the host's views and reactors
take them as its own; the target chains them as that host's (ADR/0045) and its chain is
verified after. Snapshots are not copied: they are caches, taken again as aggregates are
saved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eventsourcing.persistence import StoredEvent

from berth.domain.errors import InvalidParameter

from .events import EventStore
from .verify import verify
from .verify_fleet import verify_fleet

BATCH = 1000


@dataclass(frozen=True)
class Copied:
    events: int
    first_position: int
    last_position: int


def copy_log(
    source_root: Path,
    target_url: str,
    host_id: str,
    on_batch: Callable[[int], None] | None = None,
) -> Copied:
    """Copy the log under `source_root` to `target_url` as `host_id`'s."""
    db_path = source_root / "events.db"
    if not db_path.is_file():
        raise InvalidParameter(f"no event log at {db_path}")
    checked = verify(db_path, jobs=1)
    if checked.problem is not None:
        raise InvalidParameter(
            f"the source log does not verify (position {checked.problem.position}: "
            f"{checked.problem.detail}); nothing copied"
        )
    source = EventStore(db_path, snapshots=False)
    target = EventStore(db_path, url=target_url, host_id=host_id)
    try:
        mine = target.datastore
        with mine.transaction(commit=False) as cursor:
            cursor.execute("SELECT 1 FROM event_chain WHERE host_id = %s LIMIT 1", (host_id,))
            if cursor.fetchone() is not None:
                raise InvalidParameter(f"the store already holds host {host_id}'s events")
        encode = target.mapper.transcoder.encode
        after, copied, first, last = 0, 0, 0, 0
        while batch := source.read_log(after, BATCH):
            stored = []
            for event in batch:
                data = dict(event.data)
                data["actor"] = dataclasses.replace(data["actor"], host=host_id)
                stored.append(
                    StoredEvent(event.originator_id, event.version, event.topic, encode(data))
                )
            positions = target.recorder.insert_events(stored) or []
            first = first or (positions[0] if positions else 0)
            last = positions[-1] if positions else last
            copied += len(batch)
            after = batch[-1].position
            if on_batch is not None:
                on_batch(copied)
        report = verify_fleet(mine, host_id)
        if report.problem is not None or report.events != copied:
            raise InvalidParameter(f"the copy does not verify: {report.problem}")
        return Copied(copied, first, last)
    finally:
        source.close()
        target.close()
