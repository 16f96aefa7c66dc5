"""The hash chain of a fleet's log (ADR/0045): hosts append at once, each to its own
chain; `audit verify` finds an edit, a delete, an insert or a reorder done by SQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime.store.chain import ChainBroken
from berth.runtime.store.events import EventStore
from berth.runtime.store.verify_fleet import verify_fleet

from ..domain.factories import cause_at, new_container
from ..fixtures.postgres import Cluster

HOSTS = ("host-a", "host-b")
RENAMES = 20


@pytest.fixture
def fleet_log(tmp_path: Path, postgres_url: str) -> Iterator[EventStore]:
    """Two hosts' stores on one database, each having appended at the same time."""
    stores = [EventStore(tmp_path / h, url=postgres_url, host_id=h) for h in HOSTS]

    def append(store: EventStore, n: int) -> None:
        container = new_container(str(n) * 64)
        store.save(container)
        for i in range(RENAMES):
            container.rename(f"/c{n}-{i}", cause_at(i))
            store.save(container)

    threads = [threading.Thread(target=append, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    yield stores[0]
    for store in stores:
        store.close()


def database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_concurrent_hosts_each_chain_their_own_events(fleet_log: EventStore) -> None:
    report = verify_fleet(fleet_log.datastore)
    assert report.intact and report.events == 2 * (RENAMES + 1)
    assert verify_fleet(fleet_log.datastore, "host-b").events == RENAMES + 1


TAMPERING = {
    "edited": "UPDATE berth_events SET state = state || '\\x00'::bytea "
    "WHERE notification_id = 10",
    "missing": "DELETE FROM berth_events WHERE notification_id = 10",
    "inserted": "INSERT INTO berth_events (originator_id, originator_version, topic, state) "
    "SELECT originator_id, 999, topic, state FROM berth_events WHERE notification_id = 10",
    "reordered": "UPDATE berth_events e SET state = o.state FROM berth_events o "
    "WHERE (e.notification_id, o.notification_id) IN ((10, 11), (11, 10))",
}


@pytest.mark.parametrize("kind", TAMPERING)
def test_tampering_by_sql_is_found(
    kind: str, fleet_log: EventStore, postgres_cluster: Cluster, postgres_url: str
) -> None:
    assert verify_fleet(fleet_log.datastore).intact
    postgres_cluster.sql(TAMPERING[kind], database(postgres_url))
    report = verify_fleet(fleet_log.datastore)
    assert report.problem is not None
    expected = "edited" if kind == "reordered" else kind
    assert report.problem.kind == expected
    if kind != "inserted":
        assert report.problem.position in (10, 11)


def test_hosts_starting_at_once_on_a_new_database_all_start(
    tmp_path: Path, postgres_url: str
) -> None:
    """The schema is made once whoever comes first; the others wait and find it made (the
    library's CREATE TYPE and CREATE OR REPLACE FUNCTION fail when two run at once)."""
    hosts = [f"starter-{n}" for n in range(6)]
    ready = threading.Barrier(len(hosts))
    stores: dict[str, EventStore] = {}
    failures: list[BaseException] = []

    def start(host: str) -> None:
        ready.wait()
        try:
            stores[host] = EventStore(tmp_path / host, url=postgres_url, host_id=host)
        except BaseException as error:  # reported by the assert below
            failures.append(error)

    threads = [threading.Thread(target=start, args=(h,)) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        for n, host in enumerate(hosts):
            stores[host].save(new_container(f"{n:x}" * 64))
        assert verify_fleet(stores[hosts[0]].datastore).events == len(hosts)
    finally:
        for store in stores.values():
            store.close()


def test_a_chain_changed_behind_berth_s_back_refuses_the_next_save_whole(
    fleet_log: EventStore, postgres_cluster: Cluster, postgres_url: str
) -> None:
    postgres_cluster.sql(
        "INSERT INTO event_chain (position, host_id, chain_hash) "
        "VALUES (1000000, 'host-a', '\\x00'::bytea)",
        database(postgres_url),
    )
    before = verify_fleet(fleet_log.datastore, "host-b").events
    with pytest.raises(ChainBroken, match=r"position \d+ is already chained: the log was changed"):
        fleet_log.save(new_container("e" * 64))
    assert fleet_log.recorder.max_notification_id() == 2 * (RENAMES + 1)
    assert verify_fleet(fleet_log.datastore, "host-b").events == before
