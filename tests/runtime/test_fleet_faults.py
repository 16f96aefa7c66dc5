"""A fleet's store away mid-workload (ADR/0043): writes answer 503 "event store
unavailable", reads answer from the views, the engine reconnects by itself; nothing
half-written, lost or duplicated; the chain verifies after."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime.service.engine import Engine
from berth.runtime.store.postgres import StoreUnavailable
from berth.runtime.store.verify_fleet import verify_fleet

from ..conftest import API, SteppingClock, seed_busybox
from ..fixtures.postgres import Cluster


@pytest.fixture
def engine(tmp_path: Path, postgres_url: str) -> Iterator[Engine]:
    with Engine(
        tmp_path / "host", clock=SteppingClock(), store_url=postgres_url, host_id="host-1"
    ) as engine:
        seed_busybox(engine)
        yield engine


def created_events(engine: Engine) -> Counter[str]:
    return Counter(
        e.originator_id
        for e in engine.store.read_log(0, limit=10_000)
        if e.aggregate == "container" and e.name == "Created"
    )


def test_a_stopped_store_refuses_writes_and_serves_reads_until_it_returns(
    engine: Engine, postgres_cluster: Cluster
) -> None:
    engine.create_container({"Image": "busybox"}, "before", API)
    postgres_cluster.stop()
    try:
        with pytest.raises(StoreUnavailable) as refused:
            engine.create_container({"Image": "busybox"}, "meanwhile", API)
        assert refused.value.http_status == 503
        assert refused.value.message.startswith("event store unavailable: ")
        # Reads answer from what the views have.
        assert [e["Names"] for e in engine.list_containers(all=True)] == [["/before"]]
    finally:
        postgres_cluster.start()
    engine.create_container({"Image": "busybox"}, "after", API)  # reconnected by itself
    names = sorted(e["Names"][0] for e in engine.list_containers(all=True))
    assert names == ["/after", "/before"]
    assert set(created_events(engine).values()) == {1}
    assert verify_fleet(engine.store.datastore).intact


def test_a_connection_killed_mid_transaction_leaves_nothing_half_written(
    engine: Engine, postgres_cluster: Cluster, postgres_url: str
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    first = engine.create_container({"Image": "busybox"}, "first", API).id
    # Every connection of the engine's pool is reset, as a partition would.
    killed = postgres_cluster.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )
    assert int(killed) >= 1
    engine.start(first, API)  # the pool finds its connections dead and makes new ones
    second = engine.create_container({"Image": "busybox"}, "second", API).id
    assert created_events(engine) == {first: 1, second: 1}
    assert verify_fleet(engine.store.datastore).intact
