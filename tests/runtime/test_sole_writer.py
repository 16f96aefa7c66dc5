"""ADR 0052: an engine holding the root's lock is the log's only writer, so it reads its
kept aggregates and its views without asking the log when it knows they are current;
whatever it cannot know (another writer, a rebuild, a failed catch-up) makes it ask."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from berth.domain.cause import Actor, ActorKind
from berth.domain.name_claim import Name, name_id
from berth.runtime.service.engine import Engine
from berth.runtime.store.events import EventStore
from berth.runtime.views.projections import ProjectionStore
from berth.runtime.views.tracking import set_back, times_set_back

from ..conftest import seed_busybox
from ..domain.factories import cause_at, new_container

API = Actor(ActorKind.API, uid=0, pid=1)


class Queries:
    """Counts the queries a store's repository makes for an aggregate's newer events."""

    def __init__(self, store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        events = store.repository.event_store
        ask = events.get

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return ask(*args, **kwargs)

        monkeypatch.setattr(events, "get", counted)


def test_a_sole_writers_read_after_its_save_asks_nothing_and_sees_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStore(tmp_path / "events.db", keep_aggregates=True, sole_writer=True)
    try:
        store.save(Name.register("/web", "a" * 64, cause_at(1)))
        name = store.repository.get(name_id("/web"))
        queries = Queries(store, monkeypatch)
        name.release("a" * 64, cause_at(2))
        store.save(name)
        for _ in range(3):
            read = store.repository.get(name_id("/web"))
            assert (read.owner, read.version) == (None, 2)
            read.claim("c" * 64, cause_at(3))  # a reader's change stays its own
        assert queries.count == 0
    finally:
        store.close()


def test_without_the_lock_every_read_asks_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStore(tmp_path / "events.db", keep_aggregates=True)
    try:
        assert not store.sole_writer
        store.save(Name.register("/web", "a" * 64, cause_at(1)))
        store.repository.get(name_id("/web"))
        queries = Queries(store, monkeypatch)
        store.repository.get(name_id("/web"))
        store.repository.get(name_id("/web"))
        assert queries.count == 2
    finally:
        store.close()


def test_a_fleets_store_is_never_a_sole_writer(tmp_path: Path, store_url: str | None) -> None:
    store = EventStore(
        tmp_path / "events.db", url=store_url, host_id="h", keep_aggregates=True, sole_writer=True
    )
    try:
        assert store.sole_writer is (store_url is None)
    finally:
        store.close()


def test_a_save_refused_for_another_writers_event_makes_the_next_read_ask(
    tmp_path: Path,
) -> None:
    """Should anything write the log beside the lock holder, its save of a stale aggregate
    is refused once, and the retry reads what the other wrote."""
    kept = EventStore(tmp_path / "events.db", keep_aggregates=True, sole_writer=True)
    other = EventStore(tmp_path / "events.db")
    try:
        kept.save(Name.register("/web", "a" * 64, cause_at(1)))
        assert kept.repository.get(name_id("/web")).version == 1
        elsewhere = other.repository.get(name_id("/web"))
        elsewhere.release("a" * 64, cause_at(2))
        other.save(elsewhere)

        stale = kept.repository.get(name_id("/web"))
        assert stale.version == 1  # trusted: nothing but `kept` should write
        stale.release("a" * 64, cause_at(2))
        with pytest.raises(IntegrityError):
            kept.save(stale)
        fresh = kept.repository.get(name_id("/web"))
        assert (fresh.owner, fresh.version) == (None, 2)
    finally:
        kept.close()
        other.close()


def test_copies_of_a_kept_container_share_nothing_that_changes(tmp_path: Path) -> None:
    container = new_container()
    container.host_config["Binds"] = ["/a:/b"]
    copied = copy.deepcopy(container)
    copied.host_config["Binds"].append("/c:/d")
    copied.config["Cmd"][0] = "top"
    assert container.host_config["Binds"] == ["/a:/b"]
    assert container.config["Cmd"] == ["sh"]
    assert vars(copied).keys() == vars(container).keys()
    assert copied.state is container.state and copied.version == container.version


# The views -----------------------------------------------------------------------------------


@pytest.fixture
def sole(tmp_path: Path) -> Iterator[Engine]:
    with Engine(tmp_path / "berth", sole_writer=True) as engine:
        seed_busybox(engine)
        yield engine


def log_reads(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads: list[int] = []
    read = engine.store.read_log

    def counted(after: int, *args: Any, **kwargs: Any) -> Any:
        reads.append(after)
        return read(after, *args, **kwargs)

    monkeypatch.setattr(engine.store, "read_log", counted)
    return reads


def test_views_at_the_engines_last_save_are_not_caught_up_again(
    sole: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = sole.create_container({"Image": "busybox"}, "web", API)
    head = sole.store.max_position()
    reads = log_reads(sole, monkeypatch)
    assert sole.catch_up() == head
    assert sole.resolve_container("web") == created.id
    assert reads == []
    assert sole.catch_up(recheck=True) == head  # the follower asks anyway
    assert reads == [head]


def test_a_rebuild_elsewhere_in_the_process_makes_the_next_catch_up_ask(
    sole: Engine,
) -> None:
    created = sole.create_container({"Image": "busybox"}, "web", API)
    sole.catch_up()
    resolved = str(sole.views.db_path.resolve())
    before = times_set_back(resolved)
    # The rebuild route's views: the root's file on a connection of their own.
    other = ProjectionStore(sole.root / "projections.db")
    try:
        assert other.rebuild(sole.store) == sole.store.max_position()
    finally:
        other.datastore.close()
    assert times_set_back(resolved) == before + 1
    # What a rebuild's swap leaves while its own catch-up has not run: rows from an
    # earlier position.
    with sqlite3.connect(sole.root / "projections.db") as conn:
        conn.execute("DELETE FROM containers")
        conn.execute("UPDATE tracking SET notification_id = 0")
    set_back(sole.views.db_path)
    assert sole.catch_up() == sole.store.max_position()
    assert sole.views.container_row(created.id) is not None


def test_a_failed_catch_up_is_tried_again_by_the_next_read(
    sole: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sole.create_container({"Image": "busybox"}, "web", API)
    sole.catch_up()
    apply = sole.views.catch_up
    calls: list[int] = []

    def failing_once(store: EventStore) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the views' file is away")
        return apply(store)

    monkeypatch.setattr(sole.views, "catch_up", failing_once)
    with pytest.raises(RuntimeError):
        sole.catch_up(recheck=True)
    assert sole.catch_up() == sole.store.max_position()
    assert len(calls) == 2


def test_a_full_id_resolves_from_the_log_without_the_views(
    sole: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = sole.create_container({"Image": "busybox"}, "web", API)
    removed = sole.create_container({"Image": "busybox"}, "old", API)
    sole.remove(removed.id, API)

    def away(store: EventStore) -> int:
        raise RuntimeError("the views are not asked")

    monkeypatch.setattr(sole.views, "catch_up", away)
    sole.save(Name.register("/other", "c" * 64, cause_at(9)), project=False)  # views behind
    assert sole.resolve_container(created.id) == created.id
    with pytest.raises(RuntimeError):
        sole.resolve_container(removed.id)  # not a container any more: Docker's lookup


def test_inspect_by_full_id_shows_a_save_the_views_had_not_taken(sole: Engine) -> None:
    """A save that did not project (a network's connection of a created container, or
    `project=False`) is in inspect's answer, whatever resolved the id."""
    created = sole.create_container({"Image": "busybox"}, "web", API)
    container = sole.get_aggregate(created.id)
    container.rename("/renamed", cause_at(9))
    sole.save(container, project=False)
    assert sole.inspect_container(created.id)["Name"] == "/renamed"


def test_an_event_read_from_the_log_is_never_met_by_an_older_kept_copy(tmp_path: Path) -> None:
    """The window between a save's commit and its `saved` note: a reactor that read the
    new event from the log (and said so, `seen`) loads the aggregate at least that new.
    A compose `up` starting three containers at once lost a start in that window: the
    reactor loaded the container still `created` and did nothing (the start answered
    204 and the container stayed `starting` for good)."""
    store = EventStore(tmp_path / "events.db", keep_aggregates=True, sole_writer=True)
    try:
        store.save(Name.register("/web", "a" * 64, cause_at(1)))
        name = store.repository.get(name_id("/web"))
        name.release("a" * 64, cause_at(2))
        # The commit alone, as another thread's save is before it notes the new head.
        super(EventStore, store).save(name)
        stale = store.repository.get(name_id("/web"))
        assert stale.version == 1  # what the kept copy says until `saved` runs
        (event,) = [e for e in store.read_log(0) if e.version == 2]
        store.seen(event)
        read = store.repository.get(name_id("/web"))
        assert (read.version, read.owner) == (2, None)
    finally:
        store.close()
