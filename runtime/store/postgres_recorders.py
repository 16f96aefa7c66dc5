"""eventsourcing's PostgreSQL recorders for a fleet of hosts sharing one log (ADR/0043).

Every host chains its own events (ADR/0045): `event_chain` holds, for each stored event,
the host that wrote it and the chain hash over that host's previous hash. The chain's head
read is per host, so hosts never wait on each other for the chain; the positions
themselves stay in commit order through the library's table lock, which every reader of
the log relies on to never pass over a gap filled later.

The schema is versioned: `berth_schema` records each migration applied, in its own
transaction with the tables it makes, so a start against an older database brings it up
to date once, whichever host starts first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InternalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.utils import Environment
from psycopg import Cursor
from psycopg.rows import DictRow

from .chain import CHECKPOINT_INTERVAL, GENESIS, ChainBroken, text_id
from .postgres import HOST_ID, once_more

CHAIN_BROKEN = "BCHAI"  # the SQLSTATE of berth_append's ChainBroken

#: The migrations, in order: the nth is schema version n + 1. Never edit one; append.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE IF NOT EXISTS event_chain ("
        "position BIGINT PRIMARY KEY, host_id TEXT NOT NULL, chain_hash BYTEA NOT NULL)",
        "CREATE INDEX IF NOT EXISTS event_chain_by_host ON event_chain (host_id, position)",
        "CREATE TABLE IF NOT EXISTS event_chain_checkpoints ("
        "position BIGINT PRIMARY KEY, host_id TEXT NOT NULL, chain_hash BYTEA NOT NULL)",
        "CREATE TABLE IF NOT EXISTS reactor_positions ("
        "host_id TEXT NOT NULL, reactor TEXT NOT NULL, position BIGINT NOT NULL, "
        "PRIMARY KEY (host_id, reactor))",
    ),
    (
        # Inserts a host's events and chains them, in one statement of its own transaction:
        # the table lock (the library's, ADR/0045) is taken in the server and let go at
        # the statement's commit, so it is held for the server's work alone, never for a
        # round trip to a client that may be waiting for a CPU. The hash is chain.link's:
        # SHA-256 over the previous hash, the position and the originator id's length
        # (8 + 4 bytes, big-endian), the id, the version and the topic's length, the
        # topic, the state.
        "CREATE OR REPLACE FUNCTION berth_append(lock_wait TEXT, "
        "host TEXT, ids TEXT[], versions BIGINT[], topics TEXT[], states BYTEA[]) "
        "RETURNS SETOF BIGINT LANGUAGE plpgsql AS $$ "
        "DECLARE positions BIGINT[]; hashes BYTEA[] := '{}'; "
        "marks BIGINT[] := '{}'; mark_hashes BYTEA[] := '{}'; "
        "head BIGINT; previous BYTEA; id BYTEA; topic BYTEA; "
        "BEGIN "
        "PERFORM set_config('lock_timeout', lock_wait, true); "
        "LOCK TABLE berth_events IN EXCLUSIVE MODE; "
        "NOTIFY berth_events; "
        "WITH inserted AS (INSERT INTO berth_events "
        "(originator_id, originator_version, topic, state) "
        "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id) "
        "SELECT array_agg(notification_id ORDER BY notification_id) INTO positions "
        "FROM inserted; "
        "SELECT c.position, c.chain_hash INTO head, previous FROM event_chain c "
        "WHERE c.host_id = host ORDER BY c.position DESC LIMIT 1; "
        f"IF NOT FOUND THEN head := 0; previous := '\\x{GENESIS.hex()}'::bytea; END IF; "
        "FOR i IN 1 .. cardinality(positions) LOOP "
        f"IF positions[i] <= head THEN RAISE EXCEPTION USING ERRCODE = '{CHAIN_BROKEN}', "
        "MESSAGE = format('event log position %s is already chained: the log was changed "
        "outside berth; run `berth audit verify`', positions[i]); "
        "END IF; "
        "id := convert_to(ids[i], 'UTF8'); topic := convert_to(topics[i], 'UTF8'); "
        "previous := sha256(previous || int8send(positions[i]) "
        "|| int4send(octet_length(id)) || id || int8send(versions[i]) "
        "|| int4send(octet_length(topic)) || topic || states[i]); "
        "hashes := hashes || previous; "
        f"IF positions[i] / {CHECKPOINT_INTERVAL} > head / {CHECKPOINT_INTERVAL} THEN "
        "marks := marks || positions[i]; mark_hashes := mark_hashes || previous; END IF; "
        "head := positions[i]; "
        "END LOOP; "
        "INSERT INTO event_chain (position, host_id, chain_hash) "
        "SELECT p, host, h FROM unnest(positions, hashes) AS r (p, h); "
        "INSERT INTO event_chain_checkpoints (position, host_id, chain_hash) "
        "SELECT p, host, h FROM unnest(marks, mark_hashes) AS r (p, h); "
        "RETURN QUERY SELECT unnest(positions); "
        "END $$",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


# The library tries a failed statement ten times, each waiting up to the connect
# timeout for the pool: a request would wait a minute for its 503 while PostgreSQL is
# down. Once more is enough, after the pool has dropped every connection the server
# reset (the pool checks one connection at a time, backing off between them, so a pool
# of dead connections would outlast the timeout); the caller's unit of work decides again
# on a conflict.
Method = TypeVar("Method", bound=Callable[..., Any])


def _once_more(method: Method) -> Method:
    @functools.wraps(method)
    def again(self: Any, *args: Any, **kwargs: Any) -> Any:
        return once_more(self.datastore, lambda: method(self, *args, **kwargs))

    return again  # type: ignore[return-value]


#: Held by whoever makes the schema: the library's CREATE TYPE and CREATE OR REPLACE
#: FUNCTION fail when two hosts run them at once (no IF NOT EXISTS makes them safe).
SCHEMA_LOCK = 0x62657274  # "bert"
SCHEMA_ATTEMPTS = 5


class OneSchemaMaker(PostgresAggregateRecorder):
    """Hosts starting at once make the schema one after another; a host that lost the
    race for a type (made in its own transaction, before the lock) tries again, and then
    finds it made."""

    def create_table(self) -> None:
        for attempt in range(1, SCHEMA_ATTEMPTS + 1):
            try:
                super().create_table()
                return
            except (IntegrityError, InternalError, ProgrammingError):
                # A composite type made at once by two hosts: "duplicate key" or, as
                # often, "relation … already exists" (DuplicateTable).
                if attempt == SCHEMA_ATTEMPTS:
                    raise

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        curs.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        super()._create_table(curs)


class FailFastSnapshotRecorder(OneSchemaMaker):
    """The library's snapshot recorder, trying a statement at most twice."""

    @_once_more
    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresAggregateRecorder.select_events.__wrapped__(self, *args, **kwargs)


class ChainedPostgresApplicationRecorder(OneSchemaMaker, PostgresApplicationRecorder):
    """The library's PostgreSQL application recorder, chaining each event per host and
    trying a statement at most twice."""

    host_id = ""

    @_once_more
    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int]:
        """berth_append, in a transaction of its own (the pool's connections commit each
        statement): the events go as four arrays of plain types in binary, since psycopg
        dumps an array of the library's composite type as text, escaping each byte."""
        if not stored_events:
            return []
        try:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(
                    "SELECT berth_append(%s, %s, %b::text[], %b::bigint[], %b::text[], "
                    "%b::bytea[]) AS p",
                    (
                        f"{self.datastore.lock_timeout}s",
                        self.host_id,
                        [text_id(s.originator_id) for s in stored_events],
                        [s.originator_version for s in stored_events],
                        [s.topic for s in stored_events],
                        [s.state for s in stored_events],
                    ),
                    prepare=True,
                )
                positions = [int(row["p"]) for row in curs.fetchall()]
        except PersistenceError as error:
            cause = error.__cause__
            if isinstance(cause, psycopg.Error) and cause.sqlstate == CHAIN_BROKEN:
                raise ChainBroken(cause.diag.message_primary or str(cause)) from None
            raise
        if len(positions) != len(stored_events):
            raise ProgrammingError(f"{len(positions)} positions for {len(stored_events)} events")
        return positions

    @_once_more
    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresAggregateRecorder.select_events.__wrapped__(self, *args, **kwargs)

    @_once_more
    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        return PostgresApplicationRecorder.select_notifications.__wrapped__(self, *args, **kwargs)

    @_once_more
    def max_notification_id(self) -> int | None:
        found: int | None = PostgresApplicationRecorder.max_notification_id.__wrapped__(self)
        return found

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        super()._create_table(curs)
        migrate(curs)


def migrate(curs: Any) -> None:
    """Bring the schema to `SCHEMA_VERSION`, one migration per transaction step."""
    curs.execute(
        "CREATE TABLE IF NOT EXISTS berth_schema ("
        "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    # Two hosts starting at once: the second waits here, then finds the work done.
    curs.execute("LOCK TABLE berth_schema IN EXCLUSIVE MODE")
    curs.execute("SELECT COALESCE(MAX(version), 0) AS version FROM berth_schema")
    found = curs.fetchone()
    current = int(found["version"]) if found else 0
    for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
        for statement in statements:
            curs.execute(statement)
        curs.execute("INSERT INTO berth_schema (version) VALUES (%s)", (version,))


class BerthPostgresFactory(PostgresFactory):
    aggregate_recorder_class = FailFastSnapshotRecorder
    application_recorder_class = ChainedPostgresApplicationRecorder

    def __init__(self, env: Environment) -> None:
        super().__init__(env)
        self.host_id = self.env.get(HOST_ID) or ""

    def application_recorder(self) -> ChainedPostgresApplicationRecorder:
        recorder = super().application_recorder()
        if not isinstance(recorder, ChainedPostgresApplicationRecorder):
            raise TypeError("berth's fleet store needs its chained PostgreSQL recorder")
        recorder.host_id = self.host_id
        return recorder
