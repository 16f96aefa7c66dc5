"""The event store: an eventsourcing Application on SQLite, read back as `LoggedEvent`s.

Everything berth knows is in `events.db` under the root directory. Projections and
history read the log through `read_log` and `aggregate_log`, which decode stored events
straight to dicts: building domain-event objects is only needed to rebuild aggregates.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent, Transcoder

from berth.adapters.private_files import private_database
from berth.domain.aggregate import AggregateSnapshot
from berth.domain.container import Container
from berth.domain.errors import disk_full, space_for
from berth.domain.image import Image
from berth.domain.name_claim import Name
from berth.domain.network import Network
from berth.domain.volume import Volume

from .integrity import DamagedEvent, ReadOnly, ReadOnlyLog
from .kept_aggregates import KeptAggregates
from .postgres import HOST_ID, once_more, postgres_env, store_unavailable, tuple_cursor
from .transcoder import MsgpackTranscoder

log = logging.getLogger(__name__)
SNAPSHOT_INTERVAL = 100
# A named volume's stream grows by four events per container that uses it and is read at
# its create, start, exit and removal: a snapshot every five such containers keeps each
# read to a few events (bench/storage.py).
VOLUME_SNAPSHOT_INTERVAL = 20
#: Aggregates the engine keeps decoded (ADR 0037): a `run` reads its container's some
#: thirty times, and rebuilding one from the log costs more than bringing a copy up to date.
CACHED_AGGREGATES = 256


class LogColumns(NamedTuple):
    """How a backend names the log's table and position, and marks a query parameter."""

    position: str
    mark: str
    table: str


SQLITE_LOG = LogColumns("rowid", "?", "stored_events")
# The library names PostgreSQL's tables after the application.
POSTGRES_LOG = LogColumns("notification_id", "%s", "berth_events")


class LoggedEvent(NamedTuple):
    """One stored event: its position in the log and its decoded fields.

    `aggregate` and `name` split the topic: "berth.container.Started" is event "Started"
    of a "container". A named tuple rather than a frozen dataclass: history builds a
    thousand of them per request, and a tuple is several times cheaper to make.
    """

    position: int
    originator_id: str
    version: int
    topic: str
    data: dict[str, Any]
    aggregate: str
    name: str

    @classmethod
    def of(
        cls, position: int, originator_id: str, version: int, topic: str, data: dict[str, Any]
    ) -> LoggedEvent:
        aggregate, name = _split_topic(topic)
        return cls(position, originator_id, version, topic, data, aggregate, name)

    @property
    def timestamp(self) -> datetime:
        stamp: datetime = self.data["timestamp"]
        return stamp


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's `project_aggregate` without its per-event runtime Protocol check
    (an isinstance against a Protocol, the larger part of reading an aggregate): every
    event in this store is a berth DomainEvent, which has `mutate`."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


@functools.lru_cache(maxsize=256)
def _split_topic(topic: str) -> tuple[str, str]:
    parts = topic.split(".")
    return (parts[1] if len(parts) > 2 else "", parts[-1])


class EventStore(Application[str]):
    """berth's eventsourcing application: SQLite (WAL) under the root, or a PostgreSQL
    database shared by a fleet (`url`); msgpack, stable topics."""

    name = "berth"
    env: ClassVar[dict[str, str]] = {
        "PERSISTENCE_MODULE": "berth.runtime.store.sqlite:BerthSQLiteFactory",
        "ORIGINATOR_ID_TYPE": "text",
        "SQLITE_LOCK_TIMEOUT": "30",
    }
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Container: SNAPSHOT_INTERVAL,
        Image: SNAPSHOT_INTERVAL,
        Name: SNAPSHOT_INTERVAL,
        Network: SNAPSHOT_INTERVAL,
        Volume: VOLUME_SNAPSHOT_INTERVAL,
    }

    def __init__(
        self,
        db_path: Path,
        env: dict[str, str] | None = None,
        *,
        snapshots: bool = True,
        keep_aggregates: bool = False,
        url: str | None = None,
        host_id: str = "",
        sole_writer: bool = False,
    ) -> None:
        """`keep_aggregates`: keep decoded aggregates between reads (the engine's), each
        read bringing its copy up to date with the events after it. `url`: a
        postgresql:// store instead of the SQLite file `db_path`, written as `host_id`.
        `sole_writer`: nothing but this store writes the log while it is open (its
        engine holds the root's lock, ADR/0021): kept aggregates are read without a query
        when at the version this store last saved or read (ADR/0052)."""
        self.db_path = db_path
        self.sole_writer = sole_writer and url is None
        self.url = url
        self.host_id = host_id
        if not snapshots:
            self.snapshotting_intervals = {}  # type: ignore[misc]
        cache = {"AGGREGATE_CACHE_MAXSIZE": str(CACHED_AGGREGATES)} if keep_aggregates else {}
        if url is None:
            private_database(db_path)
            where = {"SQLITE_DBNAME": str(db_path)}
        else:
            where = {**postgres_env(url), HOST_ID: host_id}
        with space_for(db_path):  # a new log, or the chain's first backfill, on a full disk
            super().__init__(env={**cache, **(env or {}), **where})
        self.datastore: Any = getattr(self.recorder, "datastore")  # noqa: B009
        self._log = SQLITE_LOG if url is None else POSTGRES_LOG
        # Set when the log failed verification and is served for recovery (ADR/0019).
        self.read_only: ReadOnly | None = None

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Append, unless the log is read-only; a full disk is `DiskFull` naming the file,
        and the transaction is rolled back (nothing is written half)."""
        if self.read_only is not None:
            raise ReadOnlyLog(self.read_only.message)
        with space_for(self.db_path):
            try:
                recordings = super().save(*objs, **kwargs)
            except IntegrityError:
                # Someone else saved one of these first: what was noted of them is old.
                if isinstance(self.repository, KeptAggregates):
                    self.repository.forget(getattr(o, "id", None) for o in objs)
                raise
            except Exception as error:
                # The transaction was rolled back (or never began): a clear 503.
                unavailable = store_unavailable(error)
                if unavailable is None:
                    raise
                raise unavailable from None
        if isinstance(self.repository, KeptAggregates):
            recorded = {r.domain_event.originator_id for r in recordings}
            self.repository.saved(o for o in objs if getattr(o, "id", None) in recorded)
        return recordings

    def seen(self, event: LoggedEvent) -> None:
        """`event` was read from the log: a later read of its aggregate is at least as
        new (ADR/0052's kept copies may not know of its save yet)."""
        if isinstance(self.repository, KeptAggregates):
            self.repository.seen(event.originator_id, event.version)

    def construct_repository(self) -> Repository[str]:
        """For the log's sole writer keeping aggregates, one that trusts its own saves
        (ADR/0052); otherwise the library's (a fleet's log has other writers)."""
        base = super().construct_repository()
        if base.cache is None or not self.sole_writer:
            return base
        return KeptAggregates(
            event_store=base.event_store,
            snapshot_store=base.snapshot_store,
            cache_maxsize=CACHED_AGGREGATES,
            fastforward=base.fastforward,
            fastforward_skipping=base.fastforward_skipping,
            deepcopy_from_cache=base.deepcopy_from_cache,
        )

    def construct_mapper(self) -> Mapper[str]:
        return _NamingMapper(self.construct_transcoder(), self._locate)

    def _locate(self, stored: StoredEvent) -> int | None:
        """The log position of a stored event; None for a snapshot (not in the log)."""
        column, mark, table = self._log
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT {column} AS position FROM {table} "
                f"WHERE originator_id = {mark} AND originator_version = {mark} "
                f"AND topic = {mark}",
                (str(stored.originator_id), stored.originator_version, stored.topic),
            )
            found = cursor.fetchone()
        return int(found["position"]) if found else None

    def _readable(self, stop: int | None) -> int | None:
        """The last position a read may return: a read-only log is read up to the position
        before its first problem, which is all that verified."""
        if self.read_only is None:
            return stop
        bound = self.read_only.readable_through
        return bound if stop is None else min(stop, bound)

    def _take_snapshots(self, processing_event: ProcessingEvent[str]) -> None:
        """Snapshot an aggregate whose save crossed a multiple of its interval.

        The library re-reads the aggregate from the store to snapshot it at exactly that
        version; the aggregate just saved is already in memory and at least as new, so
        snapshot it as it is, which keeps batch appends at the speed of plain appends.
        """
        if self.snapshots is None or not self.snapshotting_intervals:
            return
        first_new: dict[str, int] = {}
        for event in processing_event.events:
            first_new.setdefault(event.originator_id, event.originator_version)
        for aggregate_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            first = first_new.get(aggregate_id)
            if not interval or first is None:
                continue
            if aggregate.version // interval > (first - 1) // interval:
                snapshot_class: type[AggregateSnapshot] = type(aggregate).Snapshot  # type: ignore[attr-defined]
                try:
                    self.snapshots.put([snapshot_class.take(aggregate)])
                except Exception as error:
                    # The events are saved; a snapshot is only a cache of them, so a
                    # full disk must not turn a recorded change into a failed request.
                    if disk_full(error, self.db_path) is None:
                        raise
                    log.warning("snapshot of %s skipped: %s", aggregate_id, error)

    def construct_transcoder(self) -> Transcoder:
        return MsgpackTranscoder()

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read_log(self, after: int, limit: int = 1000, stop: int | None = None) -> list[LoggedEvent]:
        """Events after position `after` (exclusive), oldest first, at most `limit`.

        Read straight from the table (positions are its rowids) rather than through the
        library's notifications: rebuilds read every event, and the objects in between
        cost a third of the read.
        """
        stop = self._readable(stop)
        column, mark, table = self._log
        sql = (
            f"SELECT {column}, originator_id, originator_version, topic, state "
            f"FROM {table} WHERE {column} > {mark} "
            + (f"AND {column} <= {mark} " if stop is not None else "")
        ) + f"ORDER BY {column} LIMIT {mark}"
        params = (after, stop, limit) if stop is not None else (after, limit)
        decode = self.mapper.transcoder.decode
        rows = self._rows(sql, params)
        try:
            return [LoggedEvent.of(r[0], r[1], r[2], r[3], decode(r[4])) for r in rows]
        except Exception:
            self._find_damage((r[0], r[1], r[2], r[3], r[4]) for r in rows)
            raise

    def topics_between(self, after: int, through: int) -> list[tuple[str, int]]:
        """How many events of each topic the log has at positions after..through."""
        column, mark, table = self._log
        rows = self._rows(
            f"SELECT topic, COUNT(*) FROM {table} "
            f"WHERE {column} > {mark} AND {column} <= {mark} GROUP BY topic",
            (after, through),
        )
        return [(str(topic), int(count)) for topic, count in rows]

    def aggregate_log(
        self, originator_id: str, until_version: int | None = None
    ) -> list[LoggedEvent]:
        """Every event of one aggregate with its log position, oldest first."""
        column, mark, table = self._log
        sql = (
            f"SELECT {column}, originator_version, topic, state FROM {table} "
            f"WHERE originator_id = {mark} AND originator_version <= {mark} "
            f"AND {column} <= {mark} ORDER BY originator_version"
        )
        bound = until_version if until_version is not None else 2**62
        readable = self._readable(None)
        decode = self.mapper.transcoder.decode
        rows = self._rows(sql, (originator_id, bound, 2**62 if readable is None else readable))
        try:
            return [LoggedEvent.of(r[0], originator_id, r[1], r[2], decode(r[3])) for r in rows]
        except Exception:
            self._find_damage((r[0], originator_id, r[1], r[2], r[3]) for r in rows)
            raise

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows of one read, each indexable by column number (the library's psycopg
        cursors answer dicts, so PostgreSQL's are read with a tuple cursor)."""
        if self.url is None:
            with self.datastore.transaction(commit=False) as cursor:
                cursor.execute(sql, params)
                found: list[Any] = cursor.fetchall()
            return found

        def read() -> list[tuple[Any, ...]]:
            with tuple_cursor(self.datastore) as cursor:
                cursor.execute(sql, params)
                rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows

        return once_more(self.datastore, read)

    def _find_damage(self, rows: Iterable[tuple[int, str, int, Any, bytes]]) -> None:
        """Once a read failed: the first row that does not decode to an event was changed
        outside berth, and is named by its position instead of the decoder's traceback.
        (Checked only after a failure: reads stay at the speed of the decoder.)"""
        for position, originator_id, version, topic, state in rows:
            try:
                data = self.mapper.transcoder.decode(state)
                if not isinstance(data, dict) or not isinstance(data.get("timestamp"), datetime):
                    raise ValueError("not an event's fields")
                if not isinstance(topic, str):
                    raise ValueError("its topic is not text")
            except Exception as error:
                what = f"{originator_id!s:.64} version {version}"
                raise DamagedEvent(f"the event at position {position} ({what})", error) from None


class _NamingMapper(Mapper[str]):
    """The library's mapper, naming the event's position when a stored event (or a
    snapshot) cannot be turned back into a domain event."""

    def __init__(self, transcoder: Transcoder, locate: Callable[[StoredEvent], int | None]) -> None:
        super().__init__(transcoder)
        self._locate = locate

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[str]:
        try:
            return super().to_domain_event(stored_event)
        except Exception as error:
            position = self._locate(stored_event)
            where = (
                f"the event at position {position}"
                if position is not None
                else f"the snapshot of {stored_event.originator_id!s:.64} at version "
                f"{stored_event.originator_version}"
            )
            reason = error.__cause__ or error
            raise DamagedEvent(where, reason) from None
