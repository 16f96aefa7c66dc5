"""An event store seen through a callback: how far a rebuild has read, for a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from ..store.events import EventStore, LoggedEvent


class ReportingStore:
    """Passes everything to the store; tells `on_read` the last position each read reached."""

    def __init__(self, store: EventStore, on_read: Callable[[int], None]) -> None:
        self._store = store
        self._on_read = on_read

    def read_log(self, after: int, limit: int = 1000, stop: int | None = None) -> list[LoggedEvent]:
        batch = self._store.read_log(after, limit, stop)
        if batch:
            self._on_read(batch[-1].position)
        return batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def as_store(self) -> EventStore:
        return cast(EventStore, self)
