"""Where each reactor stands in the log: one row per reactor, in the log's own file.

A reactor saves the position up to which it has fully acted; after a crash it resumes
there and sees again every event it may not have finished acting on. Kept beside the
events (not with the views, which can be dropped and rebuilt) so that a rebuild never
makes reactors act on the whole history again.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Protocol

from berth.domain.errors import space_for

from .events import EventStore
from .postgres import once_more
from .sqlite import SYNCHRONOUS

LOCK_TIMEOUT_S = 30


class ReactorPositions(Protocol):
    def get(self, reactor: str) -> int | None: ...

    def put(self, reactor: str, position: int) -> None: ...

    def close(self) -> None: ...


def positions_of(store: EventStore) -> ReactorPositions:
    """Where the reactors of the host writing `store` stand, kept beside its log."""
    if store.url is None:
        return Positions(store.db_path)
    return HostPositions(store.datastore, store.host_id)


class HostPositions:
    """One host's reactor positions in a shared PostgreSQL log: a host that starts again
    under the same identity resumes from its own, whatever the others have done."""

    def __init__(self, datastore: Any, host_id: str) -> None:
        self._datastore = datastore
        self.host_id = host_id

    def get(self, reactor: str) -> int | None:
        def read() -> int | None:
            with self._datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    "SELECT position FROM reactor_positions WHERE host_id = %s AND reactor = %s",
                    (self.host_id, reactor),
                )
                found = cursor.fetchone()
            return int(found["position"]) if found else None

        return once_more(self._datastore, read)

    def put(self, reactor: str, position: int) -> None:
        def write() -> None:
            with self._datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    "INSERT INTO reactor_positions VALUES (%s, %s, %s) ON CONFLICT (host_id, "
                    "reactor) DO UPDATE SET position = excluded.position",
                    (self.host_id, reactor, position),
                )

        once_more(self._datastore, write)

    def close(self) -> None:
        """The store's pool closes with the store."""


class Positions:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._db = sqlite3.connect(
            db_path, timeout=LOCK_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
        self._db.execute(f"PRAGMA synchronous={SYNCHRONOUS}")  # as the views (sqlite.py)
        with space_for(db_path):
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS reactor_positions "
                "(reactor TEXT PRIMARY KEY, position INTEGER NOT NULL)"
            )

    def get(self, reactor: str) -> int | None:
        found = self._db.execute(
            "SELECT position FROM reactor_positions WHERE reactor = ?", (reactor,)
        ).fetchone()
        return int(found[0]) if found else None

    def put(self, reactor: str, position: int) -> None:
        with space_for(self.db_path):
            self._db.execute(
                "INSERT INTO reactor_positions VALUES (?, ?) "
                "ON CONFLICT (reactor) DO UPDATE SET position = excluded.position",
                (reactor, position),
            )

    def close(self) -> None:
        self._db.close()
