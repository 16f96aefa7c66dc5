"""The event store on both backends: SQLite under the root and a PostgreSQL database."""

from __future__ import annotations

from berth.runtime.store.events import EventStore

from ..domain.factories import new_container


def test_a_saved_container_reads_back_with_its_positions(store: EventStore) -> None:
    container = new_container("a" * 64)
    store.save(container)
    logged = store.read_log(0)
    assert [e.originator_id for e in logged] == ["a" * 64] * len(logged)
    assert store.max_position() == logged[-1].position
    assert store.repository.get("a" * 64).id == "a" * 64
    assert store.aggregate_log("a" * 64) == logged
