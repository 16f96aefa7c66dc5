"""What bounds a fleet's appends on this machine: the same batches as bench/fleet.py's
(100 events of one container), 1 and 4 host processes at once, three ways:

- `encode`: the client's work alone, the events made into stored events (msgpack, the
  library's mapper), no database;
- `raw`: that, and a plain `INSERT … SELECT unnest(…)` of the four binary arrays into the
  events table on a connection of the host's own: no table lock, no chain, no
  notification, nothing serialised but what PostgreSQL itself serialises;
- `berth`: `EventStore.save`, as berthd appends (ADR 0054: one statement that locks,
  inserts, chains and commits).

`raw` is the most any design of the fleet's appends could get here: whatever orders or
chains the events costs more. Run: `.venv/bin/python bench/fleet_bounds.py` (as root: a
private PostgreSQL cluster in a temporary directory). Figures are events/s per host
(median of the hosts); the last line is one JSON object.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.fleet import BATCH, batch_of  # noqa: E402
from berth.runtime.store.chain import text_id  # noqa: E402
from berth.runtime.store.events import EventStore  # noqa: E402
from tests.fixtures.postgres import private_cluster  # noqa: E402

BATCHES = 60
MODES = ("encode", "raw", "berth")
INSERT = (
    "INSERT INTO berth_events (originator_id, originator_version, topic, state) "
    "SELECT * FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::bytea[])"
)


def worker(mode: str, url: str, work: Path, host: str, start: Any, out: Any) -> None:
    store = EventStore(work / f"{host}.db", url=url, host_id=host, snapshots=False)
    batches = [batch_of(host, n) for n in range(BATCHES)]
    connection = psycopg.connect(url, autocommit=True)
    start.wait()  # every host begins at once
    started = time.perf_counter()
    for container in batches:
        if mode == "berth":
            store.save(container)
            continue
        stored = [store.mapper.to_stored_event(e) for e in container.collect_events()]
        if mode == "raw":
            connection.execute(
                INSERT,
                (
                    [text_id(s.originator_id) for s in stored],
                    [s.originator_version for s in stored],
                    [s.topic for s in stored],
                    [s.state for s in stored],
                ),
                prepare=True,
            )
    out.put(BATCHES * BATCH / (time.perf_counter() - started))
    connection.close()
    store.close()


def rate(mode: str, url: str, work: Path, hosts: int) -> float:
    context = multiprocessing.get_context("spawn")
    out, start = context.Queue(), context.Barrier(hosts)
    workers = [
        context.Process(
            target=worker, args=(mode, url, work, f"{mode}{i}-{time.monotonic_ns()}", start, out)
        )
        for i in range(hosts)
    ]
    for each in workers:
        each.start()
    rates = [out.get() for _ in workers]
    for each in workers:
        each.join()
    return float(statistics.median(rates))


def main() -> None:
    figures: dict[str, float] = {}
    with private_cluster() as cluster, tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        cluster.sql("CREATE DATABASE bench_bounds")
        url = cluster.url("bench_bounds")
        EventStore(work / "init.db", url=url, host_id="init").close()  # the schema, once
        for mode in MODES:
            for hosts in (1, 4):
                figures[f"{mode}_{hosts}_hosts_events_per_s_per_host"] = rate(
                    mode, url, work, hosts
                )
    for name, value in figures.items():
        print(f"{name:45} {value:12.1f}")
    print(json.dumps({k: round(v, 1) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
