"""Mount points in the log: recorded at create, and none for a container recorded before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from berth.runtime.service.container_mounts import mount_points
from berth.runtime.store.events import EventStore
from berth.runtime.views import containers

from ..domain.factories import CID, new_container

OLD_STORE = {"PERSISTENCE_MODULE": "eventsourcing.sqlite"}  # no chain to keep intact


def test_a_container_recorded_before_mounts_has_none(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = EventStore(path, env=OLD_STORE, snapshots=False)
    store.save(new_container())
    created = store.aggregate_log(CID)[0]
    state = store.mapper.transcoder.decode(_stored_state(path))
    del state["mounts"]  # as Created was written before it had the field
    _rewrite_state(path, store.mapper.transcoder.encode(state))
    store.close()

    store = EventStore(path, env=OLD_STORE, snapshots=False)
    container = store.repository.get(CID)
    assert mount_points(container) == ()
    (event,) = store.aggregate_log(CID)
    assert "mounts" not in event.data and created.name == event.name == "Created"
    row = containers.fold(None, event)
    assert row is not None and row["doc"]["Mounts"] == []
    store.close()


def _stored_state(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        (state,) = conn.execute("SELECT state FROM stored_events WHERE rowid = 1").fetchone()
    return bytes(state)


def _rewrite_state(path: Path, state: bytes) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = 1", (state,))
