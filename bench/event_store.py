"""Event store benchmark: appends, replay into projections, aggregate loads.

Run: `make bench` (or `.venv/bin/python bench/event_store.py`). Prints its figures and,
as the last line, one JSON object. The baseline measured in the same run is the raw
SQLite insert rate of the same payloads with the same pragmas, since this machine is
shared and noisy: compare ratios, not absolute numbers, across runs.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.container import Container
from berth.runtime.store.events import EventStore
from berth.runtime.views.projections import ProjectionStore

ACTOR = Actor(ActorKind.API, uid=0, pid=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
REPLAY_EVENTS = 100_000


def cause(i: int) -> Cause:
    return Cause(T0 + timedelta(milliseconds=i), ACTOR, f"bench-{i}")


def new_container(n: int) -> Container:
    return Container.create(
        id=f"{n:064x}",
        name=f"/bench{n}",
        image="busybox",
        image_id="sha256:" + "ab" * 32,
        config={"Cmd": ["sleep", "1"], "Env": ["PATH=/bin"], "Image": "busybox", "Labels": {}},
        host_config={"NetworkMode": "bridge", "RestartPolicy": {"Name": "no"}},
        cause=cause(n),
    )


def churn(container: Container, i: int) -> None:
    """One realistic event: alternate pause and unpause of a running container."""
    if container.state.value == "paused":
        container.unpause(cause(i))
    else:
        container.pause(cause(i))


def running(n: int) -> Container:
    c = new_container(n)
    c.request_start(cause(n))
    c.mark_started(1000 + n, T0, cause(n))
    return c


def best_of(runs: int, measure: Callable[[], float]) -> float:
    return max(measure() for _ in range(runs))


def append_single(root: Path) -> float:
    store = EventStore(root / f"single-{time.monotonic_ns()}.db")
    c = running(0)
    store.save(c)
    count = 2000
    elapsed = 0.0
    for i in range(count):
        churn(c, i)  # deciding is the domain's cost; only the append is timed
        start = time.perf_counter()
        store.save(c)
        elapsed += time.perf_counter() - start
    store.close()
    return count / elapsed


def append_batch100(root: Path) -> float:
    store = EventStore(root / f"batch-{time.monotonic_ns()}.db")
    containers = [running(n) for n in range(200)]
    store.save(*containers)
    for c in containers:
        for i in range(100):
            churn(c, i)  # decided before the clock starts: only appends are timed
    start = time.perf_counter()
    for c in containers:
        store.save(c)
    elapsed = time.perf_counter() - start
    store.close()
    return 200 * 100 / elapsed


def raw_sqlite_baseline(root: Path) -> float:
    """The same number of same-sized rows through bare sqlite3, 100 per transaction."""
    db = sqlite3.connect(root / f"raw-{time.monotonic_ns()}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE e (id TEXT, v INTEGER, topic TEXT, state BLOB, PRIMARY KEY (id, v))")
    payload = b"x" * 90
    start = time.perf_counter()
    for n in range(200):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO e VALUES (?, ?, ?, ?)",
            [(f"{n:064x}", v, "berth.container.Paused", payload) for v in range(100)],
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return 200 * 100 / elapsed


def build_log(root: Path, events: int) -> EventStore:
    store = EventStore(root / "replay.db")
    per_container = 100
    for n in range(events // per_container):
        c = running(n)
        while c.version < per_container:
            churn(c, c.version)
        store.save(c)
    return store


def replay_into_projections(store: EventStore, root: Path) -> float:
    view = ProjectionStore(root / f"views-{time.monotonic_ns()}.db")
    total = store.max_position()
    start = time.perf_counter()
    position = view.catch_up(store)
    elapsed = time.perf_counter() - start
    assert position == total
    view.datastore.close()
    return total / elapsed


def load_ms(store: EventStore, aggregate_id: str, runs: int = 21) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        store.repository.get(aggregate_id)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def load_container_1000(root: Path) -> tuple[float, float]:
    plain = EventStore(root / "load-plain.db", snapshots=False)
    snap = EventStore(root / "load-snap.db")
    for store in (plain, snap):
        c = running(1)
        store.save(c)
        while c.version < 1000:
            churn(c, c.version)
            store.save(c)
    without = load_ms(plain, f"{1:064x}")
    with_snapshot = load_ms(snap, f"{1:064x}")
    plain.close()
    snap.close()
    return without, with_snapshot


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        root = Path(tmp)
        figures: dict[str, float] = {}
        figures["append_single_eps"] = best_of(3, lambda: append_single(root))
        figures["append_batch100_eps"] = best_of(3, lambda: append_batch100(root))
        figures["raw_sqlite_batch100_rows_per_s"] = best_of(3, lambda: raw_sqlite_baseline(root))
        store = build_log(root, REPLAY_EVENTS)
        figures["replay_events"] = store.max_position()
        figures["replay_into_projections_eps"] = best_of(
            3, lambda: replay_into_projections(store, root)
        )
        store.close()
        without, with_snapshot = load_container_1000(root)
        figures["load_container_1000_events_ms"] = without
        figures["load_container_1000_events_snapshot_ms"] = with_snapshot
        targets = {
            "append_batch100_eps": figures["append_batch100_eps"] >= 25_000,
            "replay_into_projections_eps": figures["replay_into_projections_eps"] >= 50_000,
            "load_container_1000_events_snapshot_ms": with_snapshot <= 5,
        }
        for key, value in figures.items():
            print(f"{key:42s} {value:12,.1f}", file=sys.stderr)
        for key, met in targets.items():
            print(f"target {key:35s} {'met' if met else 'MISSED'}", file=sys.stderr)
        rounded = {k: round(v, 2) for k, v in figures.items()}
        print(json.dumps({**rounded, "targets_met": all(targets.values())}))


if __name__ == "__main__":
    main()
