"""Rebuilding projections from the log, telling how far it has read (for a progress bar).

`berth projections rebuild` and `berth audit rebuild` ask berthd's
`POST /berth/projections/rebuild`; the rebuild opens the root's projections on their own
connection, as a separate process would, so whoever keeps serving from them meanwhile
(berthd's views and their follower) is never cut short: every batch is applied exactly
once, whoever applies it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from berth.domain.errors import InvalidParameter

from ..store.events import EventStore, LoggedEvent
from .audit import AuditView
from .projections import ProjectionStore

#: `views`: what ps, inspect and images read; `audit`: the audit trail; `all`: both, in
#: one pass over the log.
NAMES = ("all", "views", "audit")


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


def check_name(name: str) -> str:
    if name not in NAMES:
        raise InvalidParameter(f"invalid projections {name!r}: expected all, views or audit")
    return name


def rebuild(root: Path, store: EventStore, name: str, on_read: Callable[[int], None]) -> int:
    """Drop the `name`d projections of the root and apply the whole log again; the log
    position they were rebuilt up to."""
    reading = ReportingStore(store, on_read).as_store()
    views = ProjectionStore(root / "projections.db", store.host_id)
    try:
        if check_name(name) == "views":
            return views.rebuild(reading)
        audit = AuditView(root / "projections.db")
        try:
            return audit.rebuild(reading, None if name == "audit" else views)
        finally:
            audit.close()
    finally:
        views.datastore.close()
