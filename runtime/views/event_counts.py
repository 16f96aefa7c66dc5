"""Events in the log by type, counted incrementally: each call reads only the events
stored since the previous one."""

from __future__ import annotations

import threading
from collections import Counter

from eventsourcing.sqlite import SQLiteApplicationRecorder

from ..store.events import EventStore


class EventCounts:
    """Events in the log by type (`container.Created`), advanced from the last count."""

    def __init__(self, store: EventStore) -> None:
        recorder = store.recorder
        if not isinstance(recorder, SQLiteApplicationRecorder):
            raise TypeError("event counts need the SQLite event store")
        self._recorder = recorder
        self._lock = threading.Lock()
        self._counted_to = 0
        self.by_type: Counter[str] = Counter()

    def advance(self) -> tuple[int, dict[str, int]]:
        """Count the events stored since the last call; (log head, counts by type)."""
        with self._lock, self._recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT COALESCE(MAX(rowid), 0) FROM stored_events")
            head = int(cursor.fetchone()[0])
            if head > self._counted_to:
                cursor.execute(
                    "SELECT topic, COUNT(*) FROM stored_events "
                    "WHERE rowid > ? AND rowid <= ? GROUP BY topic",
                    (self._counted_to, head),
                )
                for topic, count in cursor.fetchall():
                    self.by_type[event_type(str(topic))] += int(count)
                self._counted_to = head
            return head, dict(self.by_type)


def event_type(topic: str) -> str:
    """`berth.container.Created` → `container.Created`."""
    return topic.removeprefix("berth.")
