"""eventsourcing's SQLite persistence, with berth's connection settings (ADR/0002).

WAL with `synchronous=NORMAL`: a commit survives the engine being killed at any point;
only an operating-system crash or power loss can drop the last few commits, which the
reconcile pass then re-derives from what is running. FULL would fsync every commit and
cap single appends at ~2,000/s on this machine.

The views (projections.db, audit.db) and the reactors' positions are kept the same way:
each is derived from the log and re-derived from it (a view's position is in the same
transaction as its rows; a reactor acts again from an earlier position), so an fsync
per commit buys nothing there. SQLite's default, FULL, cost 6 ms per commit on this
machine, and every view update is serialized behind one lock.
"""

from __future__ import annotations

import sqlite3

from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteFactory,
)
from eventsourcing.utils import Environment

from .chain import ChainedSQLiteApplicationRecorder

STATEMENT_CACHE = 64
SYNCHRONOUS = "NORMAL"
#: How long a view's writer waits for another's lock.
VIEW_LOCK_TIMEOUT_S = 30


def tune_connections(pool: SQLiteConnectionPool, synchronous: str = SYNCHRONOUS) -> None:
    """Every connection `pool` makes from now on gets `synchronous` and a statement cache
    that holds all of a save's statements."""
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


def view_datastore(db_name: str) -> SQLiteDatastore:
    """The datastore of a view derived from the log (see above)."""
    datastore = SQLiteDatastore(
        db_name, lock_timeout=VIEW_LOCK_TIMEOUT_S, originator_id_type="text"
    )
    tune_connections(datastore.pool)
    return datastore


class BerthSQLiteFactory(SQLiteFactory):
    SYNCHRONOUS = "BERTH_SQLITE_SYNCHRONOUS"
    # Every stored event is hash-chained in its own transaction (ADR/0013).
    application_recorder_class = ChainedSQLiteApplicationRecorder

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        synchronous = (self.env.get(self.SYNCHRONOUS) or SYNCHRONOUS).upper()
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"{self.SYNCHRONOUS} must be OFF, NORMAL, FULL or EXTRA")
        tune_connections(self.datastore.pool, synchronous)
