"""The engine's volume records against real SQLite files: references decided with the
container, `volume rm` refused while referenced, `rm -v`'s anonymous volumes, races."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError

from berth.domain.errors import Conflict, NotFound
from berth.domain.volume import Volume, VolumeMount, volume_id
from berth.runtime.service.engine import Engine
from berth.runtime.service.volume_records import VolumeUse
from berth.runtime.store.events import VOLUME_SNAPSHOT_INTERVAL, LoggedEvent
from berth.runtime.views import volumes as volume_view

from ..conftest import API

C1, C2 = "1" * 64, "2" * 64


def reference(engine: Engine, container_id: str, *uses: VolumeUse) -> None:
    cause = engine.cause(API)
    engine.save(*engine.volumes.referenced(container_id, list(uses), cause))


def release(engine: Engine, container_id: str, remove_anonymous: bool) -> None:
    cause = engine.cause(API)
    uses = [VolumeUse(name) for name in engine.volumes.used_by(container_id)]
    engine.save(*engine.volumes.released(container_id, uses, remove_anonymous, cause))


def names(engine: Engine) -> list[str]:
    return [row["name"] for row in engine.volumes.rows({})]


def test_a_containers_volumes_are_created_and_referenced_once(engine: Engine) -> None:
    reference(engine, C1, VolumeUse("data"), VolumeUse("a" * 64, anonymous=True), VolumeUse("data"))
    assert names(engine) == ["a" * 64, "data"]
    assert engine.volumes.used_by(C1) == ["a" * 64, "data"]
    assert engine.volumes.row("data")["users"] == [C1]
    with pytest.raises(Conflict) as refused:
        engine.volumes.remove("data", API)
    assert refused.value.message == f"remove data: volume is in use - [{C1}]"
    assert engine.volumes.rows({"dangling": ["true"]}) == []


def test_rm_v_removes_anonymous_volumes_nobody_else_uses_and_keeps_named_ones(
    engine: Engine,
) -> None:
    shared, own = "b" * 64, "c" * 64
    reference(engine, C1, VolumeUse("data"), VolumeUse(shared, True), VolumeUse(own, True))
    reference(engine, C2, VolumeUse("data"), VolumeUse(shared, True))  # --volumes-from
    release(engine, C1, remove_anonymous=True)
    assert names(engine) == [shared, "data"]
    release(engine, C2, remove_anonymous=False)
    assert names(engine) == [shared, "data"]
    assert [r["name"] for r in engine.volumes.rows({"dangling": ["1"]})] == [shared, "data"]
    engine.volumes.remove("data", API)
    with pytest.raises(NotFound, match="get data: no such volume"):
        engine.volumes.row("data")


def test_volume_rm_and_a_create_that_names_it_cannot_both_win(engine: Engine) -> None:
    engine.volumes.create(VolumeUse("data"), "", API)
    cause = engine.cause(API)
    removing: Volume = engine.get_aggregate(volume_id("data"))
    referencing: Volume = engine.get_aggregate(volume_id("data"))
    removing.remove(cause)
    referencing.reference(C1, cause)
    engine.save(referencing)
    with pytest.raises(IntegrityError):
        engine.save(removing)
    assert engine.volumes.row("data")["users"] == [C1]


def test_the_view_is_rebuilt_the_same_from_the_log(engine: Engine) -> None:
    reference(engine, C1, VolumeUse("data"), VolumeUse("d" * 64, True))
    release(engine, C1, remove_anonymous=True)
    engine.volumes.create(VolumeUse("other", labels={"x": "y"}, options={}), "local", API)
    before = engine.views.dump()["volumes"]
    engine.views.rebuild(engine.store)
    assert engine.views.dump()["volumes"] == before
    # The removed anonymous volume keeps a row marked removed, which no query shows.
    assert [row[1] for row in before] == ["data", "other", "d" * 64]
    assert names(engine) == ["data", "other"]


def test_a_volume_many_containers_use_is_snapshotted_often_and_loads_the_same(
    engine: Engine,
) -> None:
    """Four events per container that uses it: read at a container's create, start, exit
    and removal, the volume loads from a recent snapshot."""
    reference(engine, C1, VolumeUse("busy"))
    mount = VolumeMount("/d", True, "rprivate")
    change = engine.volumes.change
    change("busy", lambda v, k: v.mount(C1, mount, k), API)
    for n in range(3, 3 + 12):
        other = f"{n:x}" * 64
        reference(engine, other, VolumeUse("busy"))
        change("busy", lambda v, k, c=other: v.mount(c, mount, k), API)
        change("busy", lambda v, k, c=other: v.unmount(c, k), API)
        release(engine, other, remove_anonymous=False)
    snapshots = engine.store.snapshots
    assert snapshots is not None
    versions = [s.originator_version for s in snapshots.get(volume_id("busy"))]
    assert versions == list(range(VOLUME_SNAPSHOT_INTERVAL, 51, VOLUME_SNAPSHOT_INTERVAL))
    loaded: Volume = engine.get_aggregate(volume_id("busy"))
    assert loaded.version == 51 and loaded.users == [C1]
    assert loaded.mounts == {
        C1: {"destination": "/d", "read_write": True, "propagation": "rprivate"}
    }


def test_a_name_removed_then_created_again_is_listed_by_its_name(engine: Engine) -> None:
    """docker-py's test_force_remove_volume then test_remove_volume, on one name: the
    second create hung berthd (the view could not name the row)."""
    engine.volumes.create(VolumeUse("shootthebullet"), "", API)
    engine.volumes.remove("shootthebullet", API)
    assert names(engine) == []
    engine.volumes.create(VolumeUse("shootthebullet", labels={"x": "1"}), "", API)
    assert names(engine) == ["shootthebullet"]
    assert engine.volumes.row("shootthebullet")["labels"] == {"x": "1"}
    engine.volumes.remove("shootthebullet", API)
    with pytest.raises(NotFound):
        engine.volumes.row("shootthebullet")


def test_a_recreate_logged_without_its_name_takes_the_removed_rows_name() -> None:
    """Logs written before `Recreated` named the volume."""
    stamp = {"timestamp": datetime(2026, 12, 1, tzinfo=UTC)}
    fields = {"driver": "local", "options": None, "labels": None, "anonymous": False}

    def logged(position: int, name: str, data: dict[str, object]) -> LoggedEvent:
        return LoggedEvent.of(position, volume_id("data"), position, f"berth.volume.{name}", data)

    row = volume_view.fold(None, logged(1, "Created", {**stamp, **fields, "name": "data"}))
    row = volume_view.fold(row, logged(2, "Removed", stamp))
    assert row == {"name": "data", "removed": True}
    assert volume_view.fold(row, logged(3, "Referenced", {**stamp, "container_id": C1})) == row
    row = volume_view.fold(row, logged(4, "Recreated", {**stamp, **fields}))
    assert row is not None and row["name"] == "data" and not row.get("removed")
