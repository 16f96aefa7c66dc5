"""Events in the log by type, counted incrementally: each call reads only the events
stored since the previous one."""

from __future__ import annotations

import threading
from collections import Counter

from ..store.events import EventStore


class EventCounts:
    """Events in the log by type (`container.Created`), advanced from the last count."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._counted_to = 0
        self.by_type: Counter[str] = Counter()

    def advance(self) -> tuple[int, dict[str, int]]:
        """Count the events stored since the last call; (log head, counts by type)."""
        with self._lock:
            head = self._store.max_position()
            if head > self._counted_to:
                for topic, count in self._store.topics_between(self._counted_to, head):
                    self.by_type[event_type(topic)] += count
                self._counted_to = head
            return head, dict(self.by_type)


def event_type(topic: str) -> str:
    """`berth.container.Created` → `container.Created`."""
    return topic.removeprefix("berth.")
