"""Projections: exactly-once tracking, rebuild equivalence, other writers, resume; each
test on a log in SQLite and in PostgreSQL (`store_url`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime.service.engine import Engine
from berth.runtime.views import projections as views
from berth.runtime.views.projections import ProjectionStore

from ..conftest import API, SteppingClock, seed_busybox


@pytest.fixture
def engine(root: Path, store_url: str | None) -> Iterator[Engine]:
    with Engine(root, clock=SteppingClock(), store_url=store_url, host_id="host-a") as engine:
        seed_busybox(engine)
        yield engine


def scripted(engine: Engine) -> list[str]:
    """A mixed history: several containers through several lifecycles, renames, removals."""
    ids = []
    for n in range(6):
        cid = engine.create_container(
            {"Image": "busybox", "Cmd": ["sleep", str(n)]}, f"c{n}", API
        ).id
        ids.append(cid)
        engine.start(cid, API)
        engine.record(cid, lambda c, k, n=n: c.mark_started(100 + n, k.at, k), API)
        if n % 2:
            engine.pause(cid, API)
            engine.unpause(cid, API)
        engine.stop(cid, API)
        engine.record(cid, lambda c, k, n=n: c.mark_exited(n, False, k.at, k), API)
    engine.rename(ids[0], "renamed", API)
    engine.remove(ids[1], API)
    engine.create_container({"Image": "busybox"}, None, API)
    return ids


def test_rebuild_from_scratch_equals_incremental(engine: Engine, root: Path) -> None:
    scripted(engine)
    incremental = engine.views.dump()
    assert len(incremental["containers"]) == 6
    position = engine.views.rebuild(engine.store)
    assert position == engine.store.max_position()
    assert engine.views.dump() == incremental
    # And a brand-new projection file fed the whole log in one go.
    fresh = ProjectionStore(root / "fresh.db", engine.views.host_id)
    try:
        fresh.catch_up(engine.store)
        assert fresh.dump() == incremental
    finally:
        fresh.datastore.close()


def test_batch_size_does_not_change_the_result(
    engine: Engine, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(engine)
    monkeypatch.setattr(views, "BATCH_SIZE", 3)
    small = ProjectionStore(root / "small.db", engine.views.host_id)
    try:
        small.catch_up(engine.store)
        assert small.dump() == engine.views.dump()
    finally:
        small.datastore.close()


def test_a_batch_is_applied_exactly_once(engine: Engine) -> None:
    scripted(engine)
    before = engine.views.dump()
    batch = engine.store.read_log(after=0, limit=10_000)
    from eventsourcing.persistence import IntegrityError

    with pytest.raises(IntegrityError):
        engine.views._apply(batch, 0)
    assert engine.views.dump() == before


def test_view_rows_match_aggregate_versions(engine: Engine) -> None:
    ids = scripted(engine)
    for cid in ids:
        row = engine.views.container_row(cid)
        if row is None:
            continue  # removed
        assert row["version"] == engine.store.repository.get(cid).version


def test_two_processes_catching_up_at_once_apply_each_event_once(
    root: Path, store_url: str | None
) -> None:
    with Engine(root, clock=SteppingClock(), store_url=store_url) as writer:
        seed_busybox(writer)
        scripted(writer)
        expected = writer.views.dump()
    os.remove(root / "projections.db")
    readers = [ProjectionStore(root / "projections.db", writer.host_id) for _ in range(4)]
    with Engine(root, store_url=store_url) as source:
        threads = [threading.Thread(target=r.catch_up, args=(source.store,)) for r in readers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert readers[0].dump() == expected
        assert readers[0].position() == source.store.max_position()
    for reader in readers:
        reader.datastore.close()


def test_writes_of_another_process_are_read_without_waiting(
    engine: Engine, root: Path, store_url: str | None
) -> None:
    cid = engine.create_container({"Image": "busybox"}, "web", API).id
    assert engine.list_containers(all=True)[0]["Names"] == ["/web"]
    fleet = {"BERTH_STORE": store_url, "BERTH_HOST_ID": "host-a"} if store_url else {}
    env = {**os.environ, "BERTH_ROOT": str(root), **fleet}
    subprocess.run(
        [str(Path(sys.executable).parent / "berth"), "rename", "web", "other"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # No wait, no poll: the query catches the projection up before answering.
    assert engine.list_containers(all=True)[0]["Names"] == ["/other"]
    renamed = engine.history(cid)[-1]
    assert renamed.name == "Renamed"
    assert renamed.data["actor"].kind.value == "cli"
    assert renamed.data["actor"].pid != os.getpid()


def test_projection_resumes_from_its_position_after_restart(
    root: Path, store_url: str | None
) -> None:
    with Engine(root, clock=SteppingClock(), store_url=store_url) as engine:
        seed_busybox(engine)
        scripted(engine)
        position = engine.views.position()
        expected = engine.views.dump()
    # Events written while no projection ran (as if berthd were down).
    with Engine(root, clock=SteppingClock(), store_url=store_url) as engine:
        assert engine.views.position() == position
        engine.create_container({"Image": "busybox"}, "late", API)
        assert engine.views.position() > position
        assert len(engine.views.dump()["containers"]) == len(expected["containers"]) + 1


def test_a_failing_batch_leaves_the_position_unchanged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(engine)
    engine.views.rebuild(engine.store)
    position = engine.views.position()
    from berth.runtime.views import containers

    real_fold = containers.fold

    def failing(row, event):  # type: ignore[no-untyped-def]
        if event.name == "Created" and event.data["name"] == "/boom":
            raise RuntimeError("projection bug")
        return real_fold(row, event)

    monkeypatch.setattr(containers, "fold", failing)
    engine.create_container({"Image": "busybox"}, "boom", API)  # recorded all the same
    assert engine.store.max_position() == position + 2
    assert engine.views.position() == position  # the view stopped before the bad event
    with pytest.raises(RuntimeError):
        engine.list_containers(all=True)  # a query cannot answer truthfully: it says so
    monkeypatch.setattr(containers, "fold", real_fold)
    assert "/boom" in [e["Names"][0] for e in engine.list_containers(all=True)]


def test_only_running_containers_with_a_health_check_are_read_for_probes(engine: Engine) -> None:
    check = {"Test": ["CMD", "true"], "Interval": 1_000_000_000}
    ids = {}
    for name, healthcheck, runs in [
        ("checked", check, True),
        ("unchecked", None, True),
        ("checked-created", check, False),
        ("checked-none", {"Test": ["NONE"]}, True),
    ]:
        body = {"Image": "busybox", "Cmd": ["sleep", "9"], "Healthcheck": healthcheck}
        cid = engine.create_container(body, name, API).id
        ids[name] = cid
        if runs:
            engine.start(cid, API)
            engine.record(cid, lambda c, k: c.mark_started(100, k.at, k), API)
    engine.catch_up()
    found = {row["id"] for row in engine.views.running_rows_with_healthcheck()}
    # NONE is a health check the probe reader turns down (domain/health.py).
    assert found == {ids["checked"], ids["checked-none"]}
