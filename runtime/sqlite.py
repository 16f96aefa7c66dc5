"""eventsourcing's SQLite persistence, with berth's connection settings (ADR/0002).

WAL with `synchronous=NORMAL`: a commit survives the engine being killed at any point;
only an operating-system crash or power loss can drop the last few commits, which the
reconcile pass then re-derives from what is running. FULL would fsync every commit and
cap single appends at ~2,000/s on this machine.
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteConnection, SQLiteFactory
from eventsourcing.utils import Environment


class BerthSQLiteFactory(SQLiteFactory):
    SYNCHRONOUS = "BERTH_SQLITE_SYNCHRONOUS"

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        synchronous = (self.env.get(self.SYNCHRONOUS) or "NORMAL").upper()
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"{self.SYNCHRONOUS} must be OFF, NORMAL, FULL or EXTRA")
        pool = self.datastore.pool
        create_connection = pool._create_connection

        def create_tuned_connection() -> SQLiteConnection:
            connection = create_connection()
            connection._sqlite_conn.execute(f"PRAGMA synchronous={synchronous}")
            return connection

        pool._create_connection = create_tuned_connection  # type: ignore[method-assign]
