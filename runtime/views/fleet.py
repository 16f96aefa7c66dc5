"""The fleet projection: every host's containers, when hosts share one log (ADR/0043).

A host's own views (containers, images, volumes, execs, networks) hold what its engine
recorded: the events of other hosts are not its containers, and it must neither list nor
act on them. The fleet's containers are folded, by the same fold, into `fleet_containers`
with the host that created each one; `ps --fleet` and the dashboard's overview read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..store.events import LoggedEvent
from . import container_list, containers

CREATE_STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS fleet_containers ("
    "id TEXT PRIMARY KEY, host TEXT NOT NULL, state TEXT NOT NULL, "
    f"position INTEGER NOT NULL, {container_list.ENTRY_COLUMNS_SQL}, row TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS fleet_containers_by_host ON fleet_containers (host, state)",
)
TABLE = "fleet_containers"


def host_of(event: LoggedEvent) -> str:
    """The host whose engine recorded `event` ("" on a lone host)."""
    return getattr(event.data.get("actor"), "host", None) or ""


def own_events(batch: list[LoggedEvent], host_id: str) -> list[LoggedEvent]:
    """The events of `batch` that this host's views and reactors are about."""
    if not host_id:
        return batch
    return [event for event in batch if host_of(event) == host_id]


def fold_fleet(cursor: Any, batch: Iterable[LoggedEvent]) -> None:
    """Fold every host's container events into the fleet's containers."""
    rows: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for event in batch:
        if event.aggregate != "container":
            continue
        key = event.originator_id
        if key not in rows:
            cursor.execute("SELECT host, row FROM fleet_containers WHERE id = ?", (key,))
            found = cursor.fetchone()
            rows[key] = (found[0], json.loads(found[1])) if found else (host_of(event), None)
        host, row = rows[key]
        rows[key] = (host, containers.fold(row, event))
    for key, (host, row) in rows.items():
        if row is None:
            cursor.execute("DELETE FROM fleet_containers WHERE id = ?", (key,))
            continue
        cursor.execute(
            "INSERT OR REPLACE INTO fleet_containers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                host,
                row["state"],
                row["created_position"],
                *container_list.entry_columns(row),
                json.dumps(row, separators=(",", ":")),
            ),
        )


def fleet_counts(cursor: Any) -> dict[tuple[str, str], int]:
    """How many containers each host has in each state (the fleet overview)."""
    cursor.execute("SELECT host, state, COUNT(*) FROM fleet_containers GROUP BY host, state")
    return {(str(h), str(s)): int(n) for h, s, n in cursor.fetchall()}


def fleet_rows(cursor: Any, host: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(host, container row) of every host's containers, or of one host's, newest first."""
    where, params = ("WHERE host = ? ", (host,)) if host else ("", ())
    cursor.execute(f"SELECT host, row FROM fleet_containers {where}ORDER BY position DESC", params)
    return [(str(found[0]), json.loads(found[1])) for found in cursor.fetchall()]


def fleet_listing(cursor: Any, host: str | None = None) -> list[container_list.Listed]:
    """The list entries (container_list.LISTED, then the host) of every host's containers,
    or of one host's, newest first."""
    where, params = ("WHERE host = ? ", (host,)) if host else ("", ())
    cursor.execute(
        f"SELECT {container_list.LISTED}, host FROM fleet_containers {where}"
        "ORDER BY position DESC",
        params,
    )
    return [tuple(found) for found in cursor.fetchall()]
