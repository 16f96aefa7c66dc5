"""Materialised views of the log, kept in `projections.db` with exactly-once tracking.

Each batch of events is applied in one SQLite transaction together with the tracking
row, so a view is never ahead of or behind its recorded position. The transaction
starts with a write, which takes SQLite's write lock first: the position read next is
then final, and two processes catching up at once apply each event exactly once.

Queries call `catch_up()` first, so a reader sees every event saved before its query
(read-your-writes) without the library's 100 ms polling `wait()`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteTrackingRecorder

from berth.adapters.private_files import private_database
from berth.domain.container import ContainerState
from berth.domain.errors import space_for

from ..store.events import EventStore, LoggedEvent
from ..store.schema import create_table_retrying
from ..store.sqlite import view_datastore
from . import container_list, containers, execs, fleet, images, networks, volumes
from .tracking import apply_new_events, claim_batch, set_back

APPLICATION = "berth"
BATCH_SIZE = 2000
#: The shape of the view tables: views of another shape are dropped when opened, and
#: folded again from the log (2: each container's `ps` entry kept beside its row; 3: the
#: entry's Command quotes an argument with a space, the HostConfig shows the default
#: masked and read-only paths, as dockerd's).
VIEWS_VERSION = 3
VIEW_TABLES = (
    "containers", "images", "image_tags", "volumes", "execs", "networks", fleet.TABLE,
)  # fmt: skip

Folder = Callable[[dict[str, Any] | None, LoggedEvent], dict[str, Any] | None]


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


# A network's events that change what a container's inspect shows of its networks.
CONTAINER_NETWORK_EVENTS = ("EndpointJoined", "EndpointLeft", "EndpointAttached")


def _container_key(event: LoggedEvent) -> str | None:
    if event.aggregate == "container":
        return event.originator_id
    if event.aggregate == "network" and event.name in CONTAINER_NETWORK_EVENTS:
        return str(event.data["container_id"])
    return None


class ProjectionStore(SQLiteTrackingRecorder):
    """The container and image views, and the log position they reflect."""

    def __init__(self, db_path: Path, host_id: str = "") -> None:
        """`host_id`: the fleet host whose views these are ("" on a lone host)."""
        self.db_path = db_path
        self.host_id = host_id
        datastore = view_datastore(str(private_database(db_path)))
        super().__init__(datastore)
        with space_for(db_path):
            create_table_retrying(self)
        self._catch_up_lock = threading.Lock()

    def create_table(self) -> None:
        super().create_table()
        self._fold_again_if_older()

    def _fold_again_if_older(self) -> None:
        """Views of another VIEWS_VERSION (a root made by an older berth) are emptied and
        their position set back to the start, in one transaction: the next catch-up folds
        the whole log into tables of this version's shape."""
        with self.datastore.transaction(commit=True) as cursor:
            # A write first, so that no other process changes the views until this is done.
            cursor.execute("UPDATE view_versions SET version = version WHERE 0")
            cursor.execute("SELECT version FROM view_versions WHERE name = ?", (APPLICATION,))
            found = cursor.fetchone()
            if found is not None and found[0] == VIEWS_VERSION:
                return
            for table in VIEW_TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in self._view_statements():
                cursor.execute(statement)
            cursor.execute("DELETE FROM tracking WHERE application_name = ?", (APPLICATION,))
            cursor.execute(
                "INSERT OR REPLACE INTO view_versions VALUES (?, ?)", (APPLICATION, VIEWS_VERSION)
            )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS view_versions ("
            "name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
            *self._view_statements(),
        ]

    @staticmethod
    def _view_statements() -> list[str]:
        return [
            # The entry before the row: a listing reads no page of the larger row.
            "CREATE TABLE IF NOT EXISTS containers ("
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, "
            "created TEXT NOT NULL, position INTEGER NOT NULL, "
            f"{container_list.ENTRY_COLUMNS_SQL}, row TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS containers_by_name ON containers (name)",
            "CREATE INDEX IF NOT EXISTS containers_by_position ON containers (position)",
            "CREATE TABLE IF NOT EXISTS images ("
            "id TEXT PRIMARY KEY, created TEXT NOT NULL, position INTEGER NOT NULL, "
            "row TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS image_tags ("
            "reference TEXT PRIMARY KEY, image_id TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS volumes ("
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, row TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS execs ("
            "id TEXT PRIMARY KEY, container_id TEXT NOT NULL, ended INTEGER NOT NULL, "
            "row TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS execs_by_container ON execs (container_id)",
            "CREATE TABLE IF NOT EXISTS networks ("
            "id TEXT PRIMARY KEY, name TEXT NOT NULL, row TEXT NOT NULL)",
            *fleet.CREATE_STATEMENTS,
        ]

    # Applying the log ----------------------------------------------------------------------

    def position(self) -> int:
        return self.max_tracking_id(APPLICATION) or 0

    def catch_up(self, store: EventStore) -> int:
        """Apply every event the log has beyond our position; returns the new position."""
        with self._catch_up_lock, space_for(self.db_path):
            return apply_new_events(store, self.position, self._apply, BATCH_SIZE)

    def _apply(self, batch: list[LoggedEvent], after: int) -> None:
        """Apply a batch read after position `after`, if the views are still there."""
        with self.datastore.transaction(commit=True) as cursor:
            claim_batch(cursor, self.select_max_tracking_id_statement, APPLICATION, after)
            own = fleet.own_events(batch, self.host_id)
            self._fold_into(cursor, "containers", containers.fold, own, _container_key)
            # Images are content-addressed: one record for the fleet (ADR/0043).
            self._fold_into(cursor, "images", images.fold, batch, "image")
            self._fold_into(cursor, "volumes", volumes.fold, own, "volume")
            self._fold_into(cursor, "execs", execs.fold, own, "exec")
            self._fold_into(cursor, "networks", networks.fold, own, "network")
            if self.host_id:
                fleet.fold_fleet(cursor, batch)
            self._insert_tracking(cursor, Tracking(APPLICATION, batch[-1].position))

    def _fold_into(
        self,
        cursor: SQLiteCursor,
        table: str,
        fold: Folder,
        events: Iterable[LoggedEvent],
        aggregate: str | Callable[[LoggedEvent], str | None],
    ) -> None:
        """Fold the events of one kind of aggregate into its table, by originator; or
        those `aggregate` gives a row key for."""
        rows: dict[str, dict[str, Any] | None] = {}
        for event in events:
            if isinstance(aggregate, str):
                key = event.originator_id if event.aggregate == aggregate else None
            else:
                key = aggregate(event)
            if key is None:
                continue
            if key not in rows:
                rows[key] = self._load_row(cursor, table, key)
            rows[key] = fold(rows[key], event)
        for key, row in rows.items():
            if row is None:
                cursor.execute(f"DELETE FROM {table} WHERE id = ?", (key,))
            elif table == "containers":
                cursor.execute(
                    "INSERT OR REPLACE INTO containers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        row["name"],
                        row["state"],
                        row["doc"]["Created"],
                        row["created_position"],
                        *container_list.entry_columns(row),
                        json.dumps(row, separators=(",", ":")),
                    ),
                )
            elif table == "execs":
                cursor.execute(
                    "INSERT OR REPLACE INTO execs VALUES (?, ?, ?, ?)",
                    (key, row["container_id"], int(row["ended"]), json.dumps(row)),
                )
            elif table in ("volumes", "networks"):
                cursor.execute(
                    f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)",
                    (key, row["name"], json.dumps(row, separators=(",", ":"))),
                )
            else:
                cursor.execute(
                    "INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?)",
                    (key, row["created"], row["position"], json.dumps(row, separators=(",", ":"))),
                )
            if table == "images":
                cursor.execute("DELETE FROM image_tags WHERE image_id = ?", (key,))
                for reference in row["tags"] if row else ():
                    cursor.execute(
                        "INSERT OR REPLACE INTO image_tags VALUES (?, ?)", (reference, key)
                    )

    @staticmethod
    def _load_row(cursor: SQLiteCursor, table: str, key: str) -> dict[str, Any] | None:
        cursor.execute(f"SELECT row FROM {table} WHERE id = ?", (key,))
        found = cursor.fetchone()
        if found is None:
            return None
        row: dict[str, Any] = json.loads(found[0])
        return row

    def rebuild(self, store: EventStore) -> int:
        """Apply the whole log to empty views, then put them in place of these.

        The new views are built in a file of their own while this one keeps serving
        (berthd answers from it, and catches it up, meanwhile); one short transaction
        then swaps the rows and sets the position back to where the new views stopped,
        and the catch-up that follows applies whatever was appended since.
        """
        shadow_path = self.db_path.with_name(f"{self.db_path.name}.rebuild-{os.getpid()}")
        _remove_database(shadow_path)
        shadow = ProjectionStore(shadow_path, self.host_id)
        try:
            position = shadow.catch_up(store)
            rebuilt = shadow.dump()
        finally:
            shadow.datastore.close()
            _remove_database(shadow_path)
        set_back(self.db_path)
        with self._catch_up_lock, self.datastore.transaction(commit=True) as cursor:
            for table, rows in rebuilt.items():
                cursor.execute(f"DELETE FROM {table}")
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            cursor.execute("DELETE FROM tracking WHERE application_name = ?", (APPLICATION,))
            if position:
                self._insert_tracking(cursor, Tracking(APPLICATION, position))
        return self.catch_up(store)

    # Reading ---------------------------------------------------------------------------------

    def _select_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(sql, params)
            return [json.loads(found[0]) for found in cursor.fetchall()]

    def container_rows(self) -> list[dict[str, Any]]:
        """Every container not removed, newest first (as `docker ps -a`)."""
        return self._select_rows("SELECT row FROM containers ORDER BY position DESC")

    def container_listing(
        self, states: Iterable[str] | None = None, limit: int | None = None
    ) -> list[container_list.Listed]:
        """The list entries (container_list.LISTED) of the containers in `states` (berth's),
        or of all, newest first; the first `limit` of them when given."""
        wanted = () if states is None else tuple(sorted(states))
        where = f"WHERE state IN ({', '.join('?' * len(wanted))}) " if states is not None else ""
        last = " LIMIT ?" if limit else ""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT {container_list.LISTED} FROM containers {where}"
                f"ORDER BY position DESC{last}",
                (*wanted, limit) if limit else wanted,
            )
            return [tuple(found) for found in cursor.fetchall()]

    def container_rows_in(self, states: Iterable[str]) -> list[dict[str, Any]]:
        """The containers whose state (berth's, not Docker's Status) is one of `states`."""
        wanted = sorted(states)
        marks = ", ".join("?" * len(wanted))
        return self._select_rows(
            f"SELECT row FROM containers WHERE state IN ({marks})", tuple(wanted)
        )

    def running_rows_with_healthcheck(self) -> list[dict[str, Any]]:
        """The running containers whose config has a health check: looked at after every
        change of the log, so the others are not even parsed."""
        return self._select_rows(
            "SELECT row FROM containers WHERE state = ? "
            "AND json_extract(row, '$.doc.Config.Healthcheck') IS NOT NULL",
            (ContainerState.RUNNING.value,),
        )

    def containers_by_state(self) -> dict[str, int]:
        """How many containers the view has in each state, every state named."""
        by_state = dict.fromkeys((s.value for s in ContainerState), 0)
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT state, COUNT(*) FROM containers GROUP BY state")
            for state, count in cursor.fetchall():
                by_state[str(state)] = int(count)
        return by_state

    def fleet_container_rows(self, host: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(host, row) of the fleet's containers, or of one host's, newest first."""
        with self.datastore.transaction(commit=False) as cursor:
            return fleet.fleet_rows(cursor, host)

    def fleet_listing(self, host: str | None = None) -> list[container_list.Listed]:
        """The fleet's list entries (container_list.LISTED, then the host), or one host's,
        newest first."""
        with self.datastore.transaction(commit=False) as cursor:
            return fleet.fleet_listing(cursor, host)

    def fleet_containers_by_state(self) -> dict[tuple[str, str], int]:
        """(host, state) → how many containers, for the fleet's hosts."""
        with self.datastore.transaction(commit=False) as cursor:
            return fleet.fleet_counts(cursor)

    def container_row(self, container_id: str) -> dict[str, Any] | None:
        found = self._select_rows("SELECT row FROM containers WHERE id = ?", (container_id,))
        return found[0] if found else None

    def container_ids_matching(self, ref: str) -> list[str]:
        """Ids of containers whose id equals or starts with `ref`, or whose name is `ref`."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT id FROM containers WHERE name = ?", ("/" + ref.lstrip("/"),))
            by_name = [found[0] for found in cursor.fetchall()]
            cursor.execute(
                "SELECT id FROM containers WHERE id >= ? AND id < ? ORDER BY id",
                (ref, ref + "\x7f"),
            )
            by_prefix = [found[0] for found in cursor.fetchall()]
        return [*by_name, *[i for i in by_prefix if i not in by_name]] if by_name else by_prefix

    def container_ids_by_name(self, name: str) -> list[str]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT id FROM containers WHERE name = ?", (name,))
            return [found[0] for found in cursor.fetchall()]

    def image_rows(self) -> list[dict[str, Any]]:
        return self._select_rows("SELECT row FROM images ORDER BY created DESC, id")

    def image_row(self, image_id: str) -> dict[str, Any] | None:
        found = self._select_rows("SELECT row FROM images WHERE id = ?", (image_id,))
        return found[0] if found else None

    def image_id_for_reference(self, reference: str) -> str | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT image_id FROM image_tags WHERE reference = ?", (reference,))
            found = cursor.fetchone()
        return str(found[0]) if found else None

    def volume_rows(self) -> list[dict[str, Any]]:
        """Every volume that exists, by name."""
        rows = self._select_rows("SELECT row FROM volumes ORDER BY name")
        return [row for row in rows if not row.get("removed")]

    def volume_row(self, name: str) -> dict[str, Any] | None:
        found = self._select_rows("SELECT row FROM volumes WHERE name = ?", (name,))
        return found[0] if found and not found[0].get("removed") else None

    def exec_ids(self, container_id: str, *, ended: bool = False) -> list[str]:
        """The container's execs not yet ended (or those ended), oldest first."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT id, row FROM execs WHERE container_id = ? AND ended = ?",
                (container_id, int(ended)),
            )
            found = [(json.loads(row)["position"], str(id_)) for id_, row in cursor.fetchall()]
        return [id_ for _, id_ in sorted(found)]

    def exec_rows_in_flight(self) -> list[dict[str, Any]]:
        """Every exec asked to start and not yet ended, with its id."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute("SELECT id, row FROM execs WHERE ended = 0")
            rows = [{**json.loads(found[1]), "id": found[0]} for found in cursor.fetchall()]
        return [row for row in rows if row["started"]]

    def network_ids(self, *, removed: bool = False) -> list[str]:
        """The ids of every network that exists (or, with `removed`, that was removed).
        The views of a root made before networks had a view may lack its default bridge:
        the caller adds it."""
        test = "IS NOT NULL" if removed else "IS NULL"
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT id FROM networks WHERE json_extract(row, '$.removed') {test} ORDER BY name"
            )
            return [str(found[0]) for found in cursor.fetchall()]

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every view table's rows, sorted; for comparing two projections."""
        with self.datastore.transaction(commit=False) as cursor:
            tables: dict[str, list[tuple[Any, ...]]] = {}
            for table in VIEW_TABLES:
                cursor.execute(f"SELECT * FROM {table}")
                tables[table] = sorted(tuple(found) for found in cursor.fetchall())
        return tables
