"""eventsourcing's SQLite persistence, with berth's connection settings (ADR/0002).

WAL with `synchronous=NORMAL`: a commit survives the engine being killed at any point;
only an operating-system crash or power loss can drop the last few commits, which the
reconcile pass then re-derives from what is running. FULL would fsync every commit and
cap single appends at ~2,000/s on this machine.
"""

from __future__ import annotations

import sqlite3

from eventsourcing.sqlite import SQLITE3_DEFAULT_LOCK_TIMEOUT, SQLiteConnection, SQLiteFactory
from eventsourcing.utils import Environment

from .chain import ChainedSQLiteApplicationRecorder

STATEMENT_CACHE = 64


class BerthSQLiteFactory(SQLiteFactory):
    SYNCHRONOUS = "BERTH_SQLITE_SYNCHRONOUS"
    # Every stored event is hash-chained in its own transaction (ADR/0013).
    application_recorder_class = ChainedSQLiteApplicationRecorder

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        synchronous = (self.env.get(self.SYNCHRONOUS) or "NORMAL").upper()
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"{self.SYNCHRONOUS} must be OFF, NORMAL, FULL or EXTRA")
        pool = self.datastore.pool
        create_connection = pool._create_connection

        def create_tuned_connection() -> SQLiteConnection:
            connection = create_connection()
            # The library's connection caches one prepared statement; a save runs several
            # (BEGIN, the event insert, the chain's head read and insert), so each would be
            # prepared again every time. Same settings, a cache that holds them all.
            connection._sqlite_conn.close()
            connection._sqlite_conn = sqlite3.connect(
                pool.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                cached_statements=STATEMENT_CACHE,
                timeout=pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
            connection._sqlite_conn.row_factory = sqlite3.Row
            connection._sqlite_conn.execute(f"PRAGMA synchronous={synchronous}")
            return connection

        pool._create_connection = create_tuned_connection  # type: ignore[method-assign]
