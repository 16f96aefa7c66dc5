"""The audit view: who did what, when, to which container or image, one row per event.

A table in `projections.db` with its own tracked position (application "berth-audit"),
applied exactly once in batches the way the other views are (ADR/0003), but caught up
only when it is queried: `ps` and `inspect` never pay for it. Indexed by time, by user
and time, by a fleet's host and time, and by subject, so that one user's or one host's day
or one container's trail is a range scan even on a log of millions of events. Entries are
made as JSON by SQLite. Name and network bookkeeping events are left
out: they repeat what the container's own `Created`, `Renamed` and `Removed` say.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.sqlite import SQLiteTrackingRecorder

from berth.adapters.private_files import private_database
from berth.domain.errors import InvalidParameter, space_for

from ..store.events import EventStore, LoggedEvent
from ..store.schema import create_table_retrying, retrying
from ..store.sqlite import view_datastore

if TYPE_CHECKING:
    from .projections import ProjectionStore
from .timefmt import docker_time
from .tracking import apply_new_events, claim_batch

TABLE = "audit_log"
APPLICATION = "berth-audit"
BATCH_SIZE = 5000
AUDITED_AGGREGATES = ("container", "image", "trust")

INDEXES = {
    "audit_by_time": "at_us",
    "audit_by_user": "uid, at_us",
    "audit_by_subject": "subject, position",
    "audit_by_host": "host, at_us",  # a fleet's host and day
}
CREATE_INDEXES = tuple(
    f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} ({columns})" for name, columns in INDEXES.items()
)
CREATE_STATEMENTS = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "position INTEGER PRIMARY KEY, at_us INTEGER NOT NULL, "
    "actor_kind TEXT NOT NULL, uid INTEGER, pid INTEGER, command TEXT, "
    "aggregate TEXT NOT NULL, subject TEXT NOT NULL, subject_name TEXT NOT NULL, "
    "action TEXT NOT NULL, correlation_id TEXT NOT NULL, details TEXT NOT NULL)",
)

# Docker's verbs for the events they record; `--action` takes these or event names.
ACTION_ALIASES: dict[str, tuple[str, ...]] = {
    "create": ("Created",),
    "start": ("StartRequested",),
    "stop": ("StopRequested",),
    "kill": ("KillRequested",),
    "pause": ("Paused",),
    "unpause": ("Unpaused",),
    "restart": ("RestartRequested",),
    "rename": ("Renamed",),
    "update": ("Updated",),
    "top": ("ProcessesListed",),
    "rm": ("RemovalRequested", "Removed"),
    "destroy": ("RemovalRequested", "Removed"),
    "die": ("Exited", "ExitCodeUnknown"),
    "pull": ("Pulled",),
    "load": ("Loaded", "Reloaded"),
    "tag": ("Tagged",),
    "untag": ("Untagged",),
    "rmi": ("Untagged", "Deleted"),
    "delete": ("Deleted",),
}

_HIDDEN = {"timestamp", "actor", "correlation_id", "originator_topic"}
# The fields every event has: an event with only these has no details.
_BARE = {"timestamp", "actor", "correlation_id"}
# Times are kept as integer microseconds since the epoch: exact, and cheap to write.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def microseconds(moment: datetime) -> int:
    return (moment - EPOCH) // MICROSECOND


def details(event: LoggedEvent) -> dict[str, Any]:
    """The event's own small fields (configs and layer lists stay in the log)."""
    shown: dict[str, Any] = {}
    if event.data.keys() == _BARE:
        return shown
    for key, value in event.data.items():
        if key in _HIDDEN:
            continue
        if isinstance(value, datetime):
            shown[key] = docker_time(value)
        elif value is None or isinstance(value, str | int | float | bool):
            shown[key] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            shown[key] = list(value)
    return shown


def _name_in(event: LoggedEvent) -> str | None:
    data = event.data
    if event.aggregate == "container":
        if event.name == "Created":
            return str(data["name"])
        if event.name == "Renamed":
            return str(data["new_name"])
        return None
    if "reference" in data:
        return str(data["reference"])
    tags = data.get("repo_tags")
    return str(tags[0]) if tags else None


def _last_name(cursor: Any, subject: str) -> str | None:
    cursor.execute(
        f"SELECT subject_name FROM {TABLE} WHERE subject = ? ORDER BY position DESC LIMIT 1",
        (subject,),
    )
    found = cursor.fetchone()
    return str(found[0]) if found else None


def record(cursor: Any, events: Iterable[LoggedEvent], names: dict[str, str]) -> None:
    """Add the audited events' rows. `names` holds the subjects' last known names, and
    is added to; a subject missing from it is looked up in the rows already written."""
    rows = []
    for event in events:
        if event.aggregate not in AUDITED_AGGREGATES:
            continue
        subject = event.originator_id
        name = _name_in(event)
        if name is None:
            name = names.get(subject) or _last_name(cursor, subject) or subject
        names[subject] = name
        data = event.data
        actor = data["actor"]
        shown = details(event)
        rows.append(
            (
                event.position,
                microseconds(data["timestamp"]),
                actor.kind.value,
                actor.uid,
                actor.pid,
                actor.command,
                event.aggregate,
                subject,
                name,
                event.name,
                data["correlation_id"],
                json.dumps(shown, separators=(",", ":")) if shown else "{}",
                actor.host,
            )
        )
    # A plain insert: a batch only ever applies events past the tracked position.
    cursor.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join('?' * 13)})", rows)


def add_host_column(cursor: Any) -> None:
    """The fleet host of each row (NULL on a lone host), added to an older view."""
    cursor.execute(f"PRAGMA table_info({TABLE})")
    if "host" not in {str(found[1]) for found in cursor.fetchall()}:
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN host TEXT")


def resolve_actions(wanted: Iterable[str]) -> tuple[str, ...]:
    """Event names for `--action` values: Docker verbs or event names, any case."""
    known = {name for names in ACTION_ALIASES.values() for name in names}
    by_lower = {name.lower(): name for name in known}
    found: list[str] = []
    for value in wanted:
        key = value.strip().lower()
        if key in ACTION_ALIASES:
            found.extend(ACTION_ALIASES[key])
        elif key in by_lower:
            found.append(by_lower[key])
        elif value.strip():
            found.append(value.strip())  # any other event name, e.g. Prepared
        else:
            raise InvalidParameter("an action cannot be empty")
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class AuditQuery:
    """`berth audit`'s filters; None or empty means any."""

    since: datetime | None = None
    until: datetime | None = None
    after_position: int | None = None
    through_position: int | None = None
    uids: Sequence[int] = ()
    actions: Sequence[str] = ()
    subjects: Sequence[str] = ()
    actor_kinds: Sequence[str] = ()
    hosts: Sequence[str] = ()  # a fleet's hosts (ADR/0043)
    limit: int | None = None


def _docker_time(column: str) -> str:
    """SQL for `timefmt.docker_time` of a count of microseconds since 1970."""
    micro = f"((({column} % 1000000) + 1000000) % 1000000)"  # also before 1970
    # datetime() is twice as fast as strftime() with a format
    whole = f"replace(datetime(({column} - {micro}) / 1000000, 'unixepoch'), ' ', 'T')"
    return (
        f"CASE WHEN {micro} = 0 THEN {whole} || 'Z' "
        f"ELSE rtrim({whole} || printf('.%06d', {micro}), '0') || 'Z' END"
    )


_ACTOR = "'kind', actor_kind, 'uid', uid, 'pid', pid, 'command', command"
# An entry as `berth audit --format json` prints it, made by SQLite: an answer of
# thousands of entries is never decoded and encoded again in Python.
ENTRY = (
    f"json_object('position', position, 'time', {_docker_time('at_us')}, "
    "'action', action, 'type', aggregate, 'id', subject, 'name', subject_name, "
    f"'actor', CASE WHEN host IS NULL THEN json_object({_ACTOR}) "
    f"ELSE json_object({_ACTOR}, 'host', host) END, "
    "'correlation_id', correlation_id, 'details', json(details))"
)


def select(cursor: Any, query: AuditQuery) -> list[str]:
    """Matching entries as JSON texts, oldest first."""
    clauses: list[str] = []
    params: list[Any] = []

    def among(column: str, values: Sequence[Any]) -> None:
        if values:
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)

    if query.since is not None:
        clauses.append("at_us >= ?")
        params.append(microseconds(query.since))
    if query.until is not None:
        clauses.append("at_us <= ?")
        params.append(microseconds(query.until))
    if query.after_position is not None:
        clauses.append("position > ?")
        params.append(query.after_position)
    if query.through_position is not None:
        clauses.append("position <= ?")
        params.append(query.through_position)
    among("uid", query.uids)
    among("action", query.actions)
    among("subject", query.subjects)
    among("actor_kind", query.actor_kinds)
    among("host", query.hosts)
    sql = f"SELECT {ENTRY} FROM {TABLE}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY position"
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    cursor.execute(sql, params)
    return [found[0] for found in cursor.fetchall()]


class AuditView(SQLiteTrackingRecorder):
    """The audit table and the log position it reflects."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        datastore = view_datastore(str(private_database(db_path)))
        super().__init__(datastore)
        create_table_retrying(self)
        retrying(self._add_host_column_and_indexes)
        self._catch_up_lock = threading.Lock()

    def _add_host_column_and_indexes(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            add_host_column(cursor)  # before the indexes: one is on it
            for statement in CREATE_INDEXES:
                cursor.execute(statement)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *CREATE_STATEMENTS]

    def close(self) -> None:
        self.datastore.close()

    def position(self) -> int:
        return self.max_tracking_id(APPLICATION) or 0

    def catch_up(self, store: EventStore) -> int:
        """Apply every event the log has beyond our position; returns the new position."""
        with self._catch_up_lock, space_for(self.db_path):
            return self._catch_up(store, None)

    def _catch_up(self, store: EventStore, names: dict[str, str] | None) -> int:
        known = {} if names is None else names
        return apply_new_events(
            store, self.position, lambda batch, after: self._apply(batch, known, after), BATCH_SIZE
        )

    def _apply(self, batch: list[LoggedEvent], names: dict[str, str], after: int) -> None:
        """Apply a batch read after position `after`, if the view is still there."""
        with self.datastore.transaction(commit=True) as cursor:
            claim_batch(cursor, self.select_max_tracking_id_statement, APPLICATION, after)
            record(cursor, batch, names)
            self._insert_tracking(cursor, Tracking(APPLICATION, batch[-1].position))

    def rebuild(self, store: EventStore, views: ProjectionStore | None = None) -> int:
        """Drop every row and the position, then apply the whole log again; with `views`,
        rebuild those in the same pass, so the log is read and decoded once for both.

        The indexes are dropped meanwhile and made again at the end: building one from
        sorted rows costs a fraction of keeping it up to date row by row. A query made
        during a rebuild scans instead; one made after a crashed rebuild re-creates them.
        """
        with self._catch_up_lock:
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(f"DELETE FROM {TABLE}")
                cursor.execute("DELETE FROM tracking WHERE application_name = ?", (APPLICATION,))
                for name in INDEXES:
                    cursor.execute(f"DROP INDEX IF EXISTS {name}")
            # Names are remembered across batches: without the index, a lookup scans.
            names: dict[str, str] = {}
            try:
                if views is not None:
                    views.rebuild(cast(EventStore, _SharedRead(store, self, names)))
                return self._catch_up(store, names)
            finally:
                with self.datastore.transaction(commit=True) as cursor:
                    for statement in CREATE_INDEXES:
                        cursor.execute(statement)

    def lines(self, query: AuditQuery) -> list[str]:
        """The matching entries as JSON texts, as berthd answers them."""
        with self.datastore.transaction(commit=False) as cursor:
            return select(cursor, query)

    def entries(self, query: AuditQuery) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines(query)]

    def dump(self) -> list[tuple[Any, ...]]:
        """Every row, sorted; for comparing a rebuild with the incremental view."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {TABLE} ORDER BY position")
            return [tuple(found) for found in cursor.fetchall()]


class _SharedRead:
    """The store as the views' rebuild reads it, handing each batch to the audit view too.

    A batch that does not follow on from the audit view's position (the views skipped
    ahead after another process applied events) is not handed on; the audit view's own
    catch-up afterwards reads whatever it missed."""

    def __init__(self, store: EventStore, view: AuditView, names: dict[str, str]) -> None:
        self.store = store
        self.view = view
        self.names = names

    def read_log(self, after: int, limit: int = 1000, stop: int | None = None) -> list[LoggedEvent]:
        batch = self.store.read_log(after, limit, stop)
        if batch and self.view.position() == after:
            with contextlib.suppress(IntegrityError):
                self.view._apply(batch, self.names, after)
        return batch
