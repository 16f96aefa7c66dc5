"""Every event type through msgpack and a real store and back; topics; snapshots. Each test
taking `store_url` runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import TranscodingNotRegisteredError

from berth.domain.aggregate import DomainEvent, StrIdAggregate
from berth.domain.container import Command, Container
from berth.domain.image import Image
from berth.domain.name_claim import Name, name_id
from berth.domain.network import Network
from berth.domain.network_request import parse_network_request
from berth.runtime.store.events import SNAPSHOT_INTERVAL, EventStore

from ..domain.factories import cause_at, do, new_container

AGGREGATES: list[type[StrIdAggregate]] = [Container, Image, Name, Network]


def opened(tmp_path: Path, url: str | None, **kwargs: Any) -> EventStore:
    """The store at `url`, or SQLite's under `tmp_path` (the same one each time)."""
    return EventStore(tmp_path / "events.db", url=url, host_id="host-a", **kwargs)


def event_classes(aggregate: type[StrIdAggregate]) -> set[str]:
    return {
        value.TOPIC
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, DomainEvent) and value.__name__ != "Event"
    }


def every_event(store: EventStore) -> list[StrIdAggregate]:
    """Aggregates whose pending events include every event type berth defines."""
    first = new_container("a" * 64)
    for command in [
        Command.MARK_PREPARED,
        Command.START,
        Command.MARK_NETWORK_CONNECTED,
        Command.MARK_STARTED,
        Command.TOP,
        Command.ATTACH,
        Command.RESIZE,
        Command.DETACH,
        Command.UPDATE,
        Command.PAUSE,
        Command.UNPAUSE,
        Command.KILL,
        Command.RESTART,
        Command.MARK_EXITED,
        Command.MARK_NETWORK_DISCONNECTED,
        Command.SCHEDULE_RESTART,
        Command.START,
        Command.MARK_START_FAILED,
        Command.START,
        Command.MARK_STARTED,
        Command.STOP,
        Command.MARK_EXIT_UNKNOWN,
        Command.RENAME,
        Command.FORCE_REMOVE,
        Command.MARK_REMOVED,
    ]:
        do(first, command)
    second = new_container("b" * 64, name="/db")
    do(second, Command.MARK_PREPARE_FAILED)
    offset = timezone(timedelta(hours=5, minutes=30))
    image = Image.load(
        id="sha256:" + "c" * 64,
        source="load",
        config={"created": "2024-01-01T00:00:00Z", "config": {"Cmd": ["sh"]}, "n": (1, 2)},
        layers=[
            {
                "digest": "sha256:" + "d" * 64,
                "diff_id": "sha256:" + "e" * 64,
                "size": 3,
                "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
            }
        ],
        size=3,
        repo_tags=["docker.io/library/busybox:latest"],
        cause=cause_at(1),
    )
    image.tag("docker.io/library/busybox:1", cause_at(2))
    image.untag("docker.io/library/busybox:1", cause_at(3))
    image.repull(
        reference="docker.io/library/busybox:latest",
        repo_digests=["docker.io/library/busybox@sha256:" + "f" * 64],
        manifest_digest="sha256:" + "f" * 64,
        config={"created": "2024-01-01T00:00:00Z", "when": datetime(2024, 1, 1, tzinfo=offset)},
        layers=[],
        size=4,
        cause=cause_at(4),
    )
    image.delete(cause_at(5), force=True, used_by=[])
    image.reload(
        source="import",
        config={"created": "2024-01-01T00:00:00Z"},
        layers=[],
        size=0,
        repo_tags=[],
        cause=cause_at(6),
    )
    name = Name.register("/web", "a" * 64, cause_at(1))
    name.release("a" * 64, cause_at(2))
    name.claim("b" * 64, cause_at(3))
    network = Network.create(id="9" * 64, name="bridge", subnet="172.30.0.0/16", cause=cause_at(1))
    network.allocate("a" * 64, cause_at(2))
    network.release("a" * 64, cause_at(3))
    network.join("b" * 64, "web", {"Aliases": ["w"]}, cause_at(4))
    network.allocate("b" * 64, cause_at(5))
    network.mark_attached("b" * 64, {"IPAddress": "172.30.0.2"}, cause_at(5))
    network.release("b" * 64, cause_at(5))
    network.remove_link("b" * 64, "db", cause_at(5))
    network.leave("b" * 64, cause_at(5))
    network.remove(cause_at(6))
    again = parse_network_request({"Name": "bridge2", "Labels": {"a": "b"}})
    network.define_again(again, "172.31.0.0/24", "172.31.0.1", cause_at(7))
    return [first, second, image, name, network]


def test_every_event_type_round_trips_through_msgpack_and_the_store(
    tmp_path: Path, store_url: str | None
) -> None:
    store = opened(tmp_path, store_url)
    aggregates = every_event(store)
    written: dict[str, list[Any]] = {a.id: list(a.pending_events) for a in aggregates}
    covered = {type(e).TOPIC for events in written.values() for e in events}
    assert covered == set().union(*(event_classes(a) for a in AGGREGATES))
    store.save(*aggregates)
    store.close()

    reopened = opened(tmp_path, store_url)  # a new process would see exactly this
    try:
        for aggregate in aggregates:
            read_back = list(reopened.events.get(aggregate.id))
            assert read_back == written[aggregate.id]
            loaded = reopened.repository.get(aggregate.id)
            assert {k: v for k, v in vars(loaded).items() if k != "_pending_events"} == {
                k: v for k, v in vars(aggregate).items() if k != "_pending_events"
            }
        config = reopened.aggregate_log("sha256:" + "c" * 64)[0].data["config"]
        assert config["n"] == (1, 2)  # a tuple stays a tuple
    finally:
        reopened.close()


def test_stored_topics_are_stable_names_not_module_paths(
    tmp_path: Path, store_url: str | None
) -> None:
    store = opened(tmp_path, store_url)
    store.save(*every_event(store))
    topics = {event.topic for event in store.read_log(0)}
    store.close()
    assert "berth.container.Created" in topics
    assert all(topic.startswith("berth.") and ":" not in topic for topic in topics)


def test_unregistered_value_is_refused_before_anything_is_written(
    tmp_path: Path, store_url: str | None
) -> None:
    store = opened(tmp_path, store_url)
    try:
        container = new_container()
        store.save(container)
        bad = Container.create(
            id="e" * 64,
            name="/x",
            image="busybox",
            image_id="sha256:" + "1" * 64,
            config={"Labels": {1, 2}},
            host_config={},
            cause=cause_at(),
        )
        name = Name.register("/x", "e" * 64, cause_at())
        with pytest.raises(TranscodingNotRegisteredError):
            store.save(bad, name)
        assert store.max_position() == 1
        assert name_id("/x") not in store.repository
    finally:
        store.close()


def test_long_lived_aggregates_are_snapshotted(tmp_path: Path, store_url: str | None) -> None:
    store = opened(tmp_path, store_url)
    try:
        container = new_container()
        store.save(container)
        for i in range(2 * SNAPSHOT_INTERVAL + 10):
            container.rename(f"/web{i}", cause_at(i))
            store.save(container)
        snapshots = list(store.snapshots.get(container.id)) if store.snapshots else []
        assert [s.originator_version for s in snapshots] == [
            SNAPSHOT_INTERVAL,
            2 * SNAPSHOT_INTERVAL,
        ]
        loaded = store.repository.get(container.id)
        assert loaded.version == container.version and loaded.name == container.name
        middle = store.repository.get(container.id, version=150)
        assert middle.version == 150
    finally:
        store.close()


def test_a_fresh_process_loads_snapshotted_aggregates(tmp_path: Path) -> None:
    """berthd's entry imports only what it needs: a snapshot must load in a new process
    that has not imported the tests' modules (it once failed with TopicError)."""
    store = EventStore(tmp_path / "events.db")
    try:
        container = new_container()
        store.save(container)
        for i in range(SNAPSHOT_INTERVAL + 5):
            container.rename(f"/web{i}", cause_at(i))
            store.save(container)
    finally:
        store.close()
    loader = (
        "import sys; from pathlib import Path; from berth.runtime.service.engine import Engine\n"
        "with Engine(Path(sys.argv[1])) as engine:\n"
        "    print(engine.get_aggregate(sys.argv[2]).name)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", loader, str(tmp_path), container.id],
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == container.name


def test_store_files_are_private(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.db")
    store.close()
    assert (tmp_path / "events.db").stat().st_mode & 0o077 == 0


def test_timestamps_come_back_timezone_aware(tmp_path: Path, store_url: str | None) -> None:
    store = opened(tmp_path, store_url)
    try:
        store.save(new_container())
        (event,) = store.read_log(after=0)
        assert event.timestamp == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        assert event.data["actor"].uid == 1000
    finally:
        store.close()


def test_a_kept_aggregate_is_a_copy_and_sees_every_stored_event(
    tmp_path: Path, store_url: str | None
) -> None:
    """ADR 0037: the engine's store keeps decoded aggregates; what a reader changes stays
    its own, and a save by another store on the same log is seen at the next read."""
    kept = opened(tmp_path, store_url, keep_aggregates=True)
    other = opened(tmp_path, store_url)
    try:
        kept.save(Name.register("/web", "a" * 64, cause_at(1)))
        first = kept.repository.get(name_id("/web"))
        first.release("a" * 64, cause_at(2))  # changed, never saved
        assert kept.repository.get(name_id("/web")).owner == "a" * 64
        assert kept.repository.cache is not None and other.repository.cache is None

        elsewhere = other.repository.get(name_id("/web"))
        elsewhere.release("a" * 64, cause_at(2))
        elsewhere.claim("b" * 64, cause_at(3))
        other.save(elsewhere)
        again = kept.repository.get(name_id("/web"))
        assert (again.owner, again.version) == ("b" * 64, 3)
    finally:
        kept.close()
        other.close()
