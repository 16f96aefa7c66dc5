"""Fleet benchmark: a PostgreSQL store shared by hosts, SQLite (one host) beside it.

Run: `.venv/bin/python bench/fleet.py [--only ps|audit]` (as root: it starts a private PostgreSQL 15
cluster in a temporary directory, and removes it after). Figures:

- append throughput, batches of 100 events, 1 host and 4 hosts writing at once (each
  host its own process), events/s per host; SQLite with 1 host beside;
- `ps --fleet` (the body berthd answers from the fleet projection) with 4 x 1,000
  containers, and `ps -a` of one SQLite host with 1,000, median ms of RUNS;
- projection lag from a save on one host to another host's fleet view, following the log
  as berthd does (every FOLLOW_INTERVAL), p50 and p99 ms;
- the fleet audit: 4 hosts append AUDIT_EVENTS events at once over AUDIT_DAYS days, a host's
  audit view catches up with the log (events/s), then `berth audit --host H` of one host
  and one day (the entries berthd answers: the view caught up, then queried), median ms
  of RUNS.

The last line is one JSON object. The machine is shared: compare figures of one run.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.domain.cause import Actor, ActorKind, Cause  # noqa: E402
from berth.domain.container import Container  # noqa: E402
from berth.runtime.host import FOLLOW_INTERVAL  # noqa: E402
from berth.runtime.service.engine import Engine  # noqa: E402
from berth.runtime.store.events import EventStore  # noqa: E402
from berth.runtime.views.audit import AuditQuery, AuditView  # noqa: E402
from berth.runtime.views.audit_search import audit_lines  # noqa: E402
from tests.fixtures.postgres import Cluster, private_cluster  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 100
BATCHES = 30
CONTAINERS_PER_HOST = 1000
LAG_SAMPLES = 100
RUNS = 15
AUDIT_EVENTS = 1_000_000
AUDIT_HOSTS = 4
AUDIT_DAYS = 30  # a month of a fleet's history: ~8,300 events per host and day


def batch_of(host: str, n: int, spacing: timedelta = timedelta(seconds=1)) -> Container:
    """One container and 99 more events of it: one save of 100 events."""
    actor = Actor(ActorKind.API, uid=0, pid=1, host=host)
    at = T0 + spacing * n
    container = Container.create(
        id=f"{host}-{n}".encode().hex().ljust(64, "0")[:64],
        name=f"/c{n}",
        image="busybox",
        image_id="sha256:" + "ab" * 32,
        config={"Cmd": ["sleep", "1"], "Image": "busybox", "Labels": {}},
        host_config={"NetworkMode": "bridge"},
        cause=Cause(at, actor, "bench"),
    )
    for i in range(BATCH - 1):
        container.rename(f"/c{n}-{i}", Cause(at, actor, "bench"))
    return container


def append(where: tuple[Path, str | None], host: str, out: Any) -> None:
    db_path, url = where
    store = EventStore(db_path, url=url, host_id=host, snapshots=False)
    batches = [batch_of(host, n) for n in range(BATCHES)]
    started = time.perf_counter()
    for container in batches:
        store.save(container)
    out.put(BATCHES * BATCH / (time.perf_counter() - started))
    store.close()


def append_history(where: tuple[Path, str], host: str, batches: int, out: Any) -> None:
    """A host's history of `batches` saves spread over AUDIT_DAYS days."""
    db_path, url = where
    store = EventStore(db_path, url=url, host_id=host, snapshots=False)
    spacing = timedelta(days=AUDIT_DAYS) / batches
    started = time.perf_counter()
    for n in range(batches):
        store.save(batch_of(host, n, spacing))
    out.put(batches * BATCH / (time.perf_counter() - started))
    store.close()


def append_rate(db_path: Path, url: str | None, hosts: int) -> float:
    """Median events/s per host with `hosts` processes appending at once."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=append, args=((db_path, url), f"h{i}-{time.monotonic_ns()}", out))
        for i in range(hosts)
    ]
    for worker in workers:
        worker.start()
    rates = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    return statistics.median(rates)


def median_ms(run: Callable[[], object], times: int = 7) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def fill(engine: Engine, count: int) -> None:
    for n in range(count):
        engine.create_container({"Image": "busybox"}, f"c{n}", ACTOR)


ACTOR = Actor(ActorKind.API, uid=0, pid=1)


def seeded(root: Path, url: str | None, host: str) -> Engine:
    from tests.conftest import seed_busybox

    engine = Engine(root, store_url=url, host_id=host)
    seed_busybox(engine)
    return engine


def lag(url: str, work: Path) -> list[float]:
    """From host A's save to host B's fleet view, B following the log as berthd does."""
    writer, reader = seeded(work / "a", url, "lag-a"), seeded(work / "b", url, "lag-b")
    seen: dict[str, float] = {}
    stop = threading.Event()

    def follow() -> None:
        while not stop.is_set():
            reader.catch_up()
            for _, row in reader.views.fleet_container_rows("lag-a"):
                seen.setdefault(row["doc"]["Id"], time.perf_counter())
            time.sleep(FOLLOW_INTERVAL)

    follower = threading.Thread(target=follow)
    follower.start()
    lags = []
    for n in range(LAG_SAMPLES):
        saved = time.perf_counter()
        created = writer.create_container({"Image": "busybox"}, f"lag{n}", ACTOR).id
        while created not in seen:
            time.sleep(0.005)
        lags.append((seen[created] - saved) * 1000)
        time.sleep(0.01)
    stop.set()
    follower.join()
    writer.close()
    reader.close()
    return sorted(lags)


def ps_figures(cluster: Cluster, work: Path) -> dict[str, float]:
    """`ps --fleet` of 4 hosts' 1,000 containers each: the body `GET /berth/fleet/containers`
    answers, as berthd makes it from its fleet view; `ps -a` of one SQLite host beside."""
    figures: dict[str, float] = {}
    cluster.sql("CREATE DATABASE bench_ps")
    url = cluster.url("bench_ps")
    engines = [seeded(work / f"ps{i}", url, f"ps-{i}") for i in range(4)]
    for engine in engines:
        fill(engine, CONTAINERS_PER_HOST)
    listed = engines[0].fleet_listing()  # caught up once, as berthd keeps its views
    assert listed.count(b'"Host"') == 4 * CONTAINERS_PER_HOST
    figures["pg_ps_fleet_4x1000_ms"] = median_ms(engines[0].fleet_listing, RUNS)
    for engine in engines:
        engine.close()
    lone = seeded(work / "lone", None, "")
    fill(lone, CONTAINERS_PER_HOST)
    lone.container_listing(True)
    figures["sqlite_ps_1000_ms"] = median_ms(lambda: lone.container_listing(True), RUNS)
    lone.close()
    return figures


def audit_figures(cluster: Cluster, work: Path) -> dict[str, float]:
    """A month of 4 hosts' history (1,000,000 events) in one log; one host's audit view
    caught up; then one host's day, as `berth audit --host H --since D --until D+1d`."""
    cluster.sql("CREATE DATABASE bench_audit")
    url = cluster.url("bench_audit")
    EventStore(work / "init.db", url=url, host_id="init").close()
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    batches = AUDIT_EVENTS // BATCH // AUDIT_HOSTS
    hosts = [f"audit-{i}" for i in range(AUDIT_HOSTS)]
    workers = [
        context.Process(target=append_history, args=((work / "x.db", url), host, batches, out))
        for host in hosts
    ]
    for worker in workers:
        worker.start()
    rates = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    figures = {"pg_history_append_4_hosts_events_per_s_per_host": statistics.median(rates)}
    store = EventStore(work / "reader.db", url=url, host_id="reader", snapshots=False)
    view = AuditView(work / "projections.db")
    started = time.perf_counter()
    view.catch_up(store)
    figures["audit_view_catch_up_events_per_s"] = AUDIT_EVENTS / (time.perf_counter() - started)
    view.close()
    day = T0 + timedelta(days=AUDIT_DAYS // 2)
    query = AuditQuery(since=day, until=day + timedelta(days=1), hosts=[hosts[1]])
    search = functools.partial(audit_lines, work, store, query)  # as berthd answers
    found = len(search())
    assert found >= AUDIT_EVENTS // AUDIT_HOSTS // AUDIT_DAYS - BATCH, found
    figures["audit_one_host_one_day_entries"] = found
    figures["audit_one_host_one_day_ms"] = median_ms(search, RUNS)
    store.close()
    return figures


def run(cluster: Cluster, work: Path, only: str | None = None) -> dict[str, float]:
    if only == "ps":
        return ps_figures(cluster, work)
    if only == "audit":
        return audit_figures(cluster, work)
    figures: dict[str, float] = {}
    cluster.sql("CREATE DATABASE bench_append")
    url = cluster.url("bench_append")
    EventStore(work / "init.db", url=url, host_id="init").close()  # the schema, once
    figures["pg_append_1_host_events_per_s"] = append_rate(work / "x.db", url, 1)
    figures["pg_append_4_hosts_events_per_s_per_host"] = append_rate(work / "x.db", url, 4)
    figures["sqlite_append_1_host_events_per_s"] = append_rate(work / "sqlite.db", None, 1)

    figures.update(ps_figures(cluster, work))
    cluster.sql("CREATE DATABASE bench_lag")
    lags = lag(cluster.url("bench_lag"), work)
    figures["pg_projection_lag_p50_ms"] = lags[len(lags) // 2]
    figures["pg_projection_lag_p99_ms"] = lags[int(len(lags) * 0.99) - 1]
    figures.update(audit_figures(cluster, work))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["ps", "audit"], help="only these figures")
    only = parser.parse_args().only
    with private_cluster() as cluster, tempfile.TemporaryDirectory() as work:
        figures = run(cluster, Path(work), only)
    for name, value in figures.items():
        print(f"{name:45} {value:12.1f}")
    print(json.dumps({k: round(v, 1) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
