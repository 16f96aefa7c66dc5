"""`docker ps` from entries kept in the views (ADR/0049): Docker's shape and order, a
Status made when listing, filters and the unfiltered path agreeing, older views folded
again when opened."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from berth.runtime.service.engine import Engine
from berth.runtime.views.projections import VIEWS_VERSION, ProjectionStore

from ..conftest import API, BUSYBOX_ID, seed_busybox

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
DOCKER_KEYS = [
    "Id", "Names", "Image", "ImageID", "Command", "Created", "Ports", "Labels", "State",
    "Status", "HostConfig", "NetworkSettings", "Mounts",
]  # fmt: skip
# The containers table as berth made it before its entries were kept (VIEWS_VERSION 1).
OLD_CONTAINERS_TABLE = (
    "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, "
    "created TEXT NOT NULL, position INTEGER NOT NULL, row TEXT NOT NULL)"
)


class SetClock:
    """A clock that says what the test sets, a tick later each reading (events in order)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


@pytest.fixture
def clock() -> SetClock:
    return SetClock()


@pytest.fixture
def engine(root: Path, clock: SetClock) -> Iterator[Engine]:
    with Engine(root, clock=clock) as engine:
        seed_busybox(engine)
        yield engine


def create(engine: Engine, name: str, **config: object) -> str:
    return engine.create_container({"Image": "busybox", **config}, name, API).id


def run(engine: Engine, cid: str, started_at: datetime) -> None:
    engine.start(cid, API)
    engine.record(cid, lambda c, k: c.mark_started(7, started_at, k), API)


def exit_(engine: Engine, cid: str, code: int, finished_at: datetime) -> None:
    engine.stop(cid, API)
    engine.record(cid, lambda c, k: c.mark_exited(code, False, finished_at, k), API)


def some_of_each(engine: Engine) -> dict[str, str]:
    """Containers in each state `docker ps` tells apart, oldest first."""
    made = {name: create(engine, name) for name in ("new", "up", "paused", "done", "again")}
    for name in ("up", "paused", "done", "again"):
        run(engine, made[name], T0)
    engine.pause(made["paused"], API)
    exit_(engine, made["done"], 3, T0 + timedelta(seconds=5))
    exit_(engine, made["again"], 1, T0 + timedelta(seconds=6))
    engine.record(made["again"], lambda c, k: c.schedule_restart(100, k), API)
    return made


def test_an_entry_has_dockers_fields_in_dockers_order(engine: Engine, clock: SetClock) -> None:
    cid = create(engine, "web", Cmd=["sleep", "5"], Labels={"tier": "front"})
    run(engine, cid, T0)
    exit_(engine, cid, 3, T0 + timedelta(seconds=5))
    clock.now = T0 + timedelta(hours=2)
    (entry,) = json.loads(engine.container_listing(True))
    assert list(entry) == DOCKER_KEYS
    assert entry["Id"] == cid
    assert entry["Names"] == ["/web"]
    assert (entry["Image"], entry["ImageID"]) == ("busybox", BUSYBOX_ID)
    assert entry["Command"] == "sleep 5"
    assert entry["Labels"] == {"tier": "front"}
    assert (entry["State"], entry["Status"]) == ("exited", "Exited (3) 2 hours ago")
    assert entry["HostConfig"] == {"NetworkMode": "bridge"}
    assert entry["Mounts"] == []


def test_the_status_is_made_when_listing_not_when_folding(
    engine: Engine, clock: SetClock
) -> None:
    made = some_of_each(engine)
    listed = {}
    for later in (timedelta(seconds=30), timedelta(hours=3)):
        clock.now = T0 + later
        entries = engine.list_containers(all=True)
        listed[later] = {e["Names"][0].lstrip("/"): e["Status"] for e in entries}
        assert [e["Id"] for e in entries] == list(reversed(made.values()))  # newest first
    assert listed[timedelta(seconds=30)] == {
        "new": "Created",
        "up": "Up 30 seconds",
        "paused": "Up 30 seconds (Paused)",
        "done": "Exited (3) 25 seconds ago",
        "again": "Restarting (1) 24 seconds ago",
    }
    assert listed[timedelta(hours=3)] == {
        "new": "Created",
        "up": "Up 3 hours",
        "paused": "Up 3 hours (Paused)",
        "done": "Exited (3) 3 hours ago",
        "again": "Restarting (1) 3 hours ago",
    }


@pytest.mark.parametrize("all_", [False, True])
@pytest.mark.parametrize("limit", [None, -1, 0, 1, 3, 10])
def test_a_list_without_filters_is_the_list_a_filter_keeping_all_gives(
    engine: Engine, clock: SetClock, all_: bool, limit: int | None
) -> None:
    """The unfiltered list joins kept texts; a filtered one decodes and tests entries."""
    some_of_each(engine)
    clock.now = T0 + timedelta(minutes=5)
    plain = json.loads(engine.container_listing(all_, limit))
    for keeping_all in ({"id": [""]}, {"name": [""]}):
        clock.now = T0 + timedelta(minutes=5)
        assert json.loads(engine.container_listing(all_, limit, keeping_all)) == plain
    states = [e["State"] for e in plain]
    if not all_ and (limit is None or limit <= 0):  # moby's: a limit counts above 0 only
        assert sorted(states) == ["paused", "restarting", "running"]
    else:
        assert len(plain) == min(limit if limit and limit > 0 else 5, 5)


def test_the_entries_follow_renames_and_removals(engine: Engine) -> None:
    cid = create(engine, "web")
    create(engine, "db")
    engine.rename("web", "front", API)
    assert [e["Names"] for e in engine.list_containers(all=True)] == [["/db"], ["/front"]]
    engine.remove("db", API)
    assert [e["Id"] for e in engine.list_containers(all=True)] == [cid]


def test_views_of_an_older_shape_are_folded_again_when_opened(root: Path) -> None:
    with Engine(root, clock=SetClock()) as engine:
        seed_busybox(engine)
        made = some_of_each(engine)
        before = engine.list_containers(all=True)
        head = engine.store.max_position()
    with sqlite3.connect(root / "projections.db") as db:  # as an older berth left it
        rows = db.execute("SELECT id, name, state, created, position, row FROM containers")
        kept = rows.fetchall()
        db.execute("DROP TABLE containers")
        db.execute(OLD_CONTAINERS_TABLE)
        db.executemany("INSERT INTO containers VALUES (?, ?, ?, ?, ?, ?)", kept)
        db.execute("DROP TABLE view_versions")
    db.close()
    views = ProjectionStore(root / "projections.db")
    try:
        assert views.position() == 0  # emptied, to be folded again from the log
        assert views.container_listing() == []
    finally:
        views.datastore.close()
    with Engine(root, clock=SetClock()) as engine:
        assert engine.list_containers(all=True) == before
        assert {e["Id"] for e in before} == set(made.values())
        assert engine.views.position() == head
    with sqlite3.connect(root / "projections.db") as db:
        columns = [found[1] for found in db.execute("PRAGMA table_info(containers)")]
        version = db.execute("SELECT version FROM view_versions").fetchall()
    db.close()
    assert "entry_head" in columns
    assert version == [(VIEWS_VERSION,)]


def test_views_of_this_shape_are_kept_when_opened(root: Path) -> None:
    with Engine(root, clock=SetClock()) as engine:
        seed_busybox(engine)
        create(engine, "web")
        head = engine.store.max_position()
    views = ProjectionStore(root / "projections.db")
    try:
        assert views.position() == head
        assert len(views.container_listing()) == 1
    finally:
        views.datastore.close()
