"""Audit benchmark: a log of 1,000,000 events; rebuild, verify, history, inspect --at, audit.

Run: `.venv/bin/python bench/audit.py [EVENTS]`. Writes the log with the store's batch
append (10,000 containers of ~100 events, one container of 1,000 events, ten users over
thirty days), then times:
  rebuild_all_s   every projection dropped and rebuilt in one pass over the log
                  (`berth audit rebuild --all`); rebuild_views_s: the views `ps`,
                  `inspect` and `images` read, alone
  verify_s        `berth audit verify` over the whole hash chain
  start_check_ms  the check berthd and the in-process CLI run at start: the chain from the
                  last checkpoint to the head, and every checkpoint (ADR/0019);
                  start_check_events: how many events it checked
  history_ms      `berth history --format json` of the 1,000-event container (no printing)
  inspect_at_ms   `berth inspect --at #POSITION` of that container, halfway through
  audit_query_ms  `berth audit --user U --since DAY --until DAY+1` (no printing)
Each figure is wall-clock, with its CPU time beside it (`*_cpu_*`, verify's worker
processes included): this machine is shared, and the CPU figures are the steadier ones.
Prints its figures and, as the last line, one JSON object.
"""

from __future__ import annotations

import functools
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.container import Container
from berth.runtime.service.engine import Engine
from berth.runtime.store.chain import CHECKPOINT_INTERVAL
from berth.runtime.store.integrity import verify_tail
from berth.runtime.store.verify import Report, verify
from berth.runtime.views.audit import AuditQuery, AuditView
from berth.runtime.views.audit_search import audit_entries
from berth.runtime.views.moments import Moment
from berth.runtime.views.trail import document_at, history_entries

EVENTS = 1_000_000
PER_CONTAINER = 100
HOT_EVENTS = 1_000
PER_SAVE = 100  # containers per batch append
USERS = [
    Actor(ActorKind.API, uid=1000 + n, pid=5000 + n, command=f"docker #{n}") for n in range(10)
]
ENGINE = Actor(ActorKind.ENGINE)
T0 = datetime(2026, 10, 1, tzinfo=UTC)
SPAN = timedelta(days=30)


class Clock:
    """Event times spread evenly over thirty days, in log order."""

    def __init__(self, events: int) -> None:
        self.step = SPAN / events
        self.count = 0

    def cause(self) -> Cause:
        self.count += 1
        actor = ENGINE if self.count % 5 == 0 else USERS[self.count % len(USERS)]
        return Cause(T0 + self.step * self.count, actor, f"req-{self.count}")


def container(n: int, events: int, clock: Clock) -> Container:
    c = Container.create(
        id=f"{n:064x}",
        name=f"/audit{n}",
        image="busybox",
        image_id="sha256:" + "ab" * 32,
        config={"Cmd": ["sleep", "1"], "Env": ["PATH=/bin"], "Image": "busybox", "Labels": {}},
        host_config={"NetworkMode": "bridge", "RestartPolicy": {"Name": "no"}},
        cause=clock.cause(),
    )
    c.request_start(clock.cause())
    c.mark_started(1000 + n, T0, clock.cause())
    while c.version < events:
        if c.state.value == "paused":
            c.unpause(clock.cause())
        else:
            c.pause(clock.cause())
    return c


def write_log(engine: Engine, events: int) -> str:
    clock = Clock(events)
    hot = container(1, HOT_EVENTS, clock)
    engine.store.save(hot)
    written = HOT_EVENTS
    n = 2
    while written < events:
        batch = []
        while len(batch) < PER_SAVE and written < events:
            size = min(PER_CONTAINER, events - written)
            batch.append(container(n, max(size, 3), clock))
            written += max(size, 3)
            n += 1
        engine.store.save(*batch)
    return hot.id


def append_segment(engine: Engine, events: int, n: int) -> None:
    """`events` more events, in containers of PER_CONTAINER, numbered from `n`."""
    clock = Clock(events)
    while events > 0:
        size = max(min(PER_CONTAINER, events), 3)
        engine.store.save(container(n, size, clock))
        events -= size
        n += 1


def cpu_seconds() -> float:
    """This process's CPU time and its finished children's (verify's workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(measure: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    measure()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def median_ms(measure: Callable[[], object], runs: int = 21) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds over `runs`."""
    walls, cpus = zip(*(timed(measure) for _ in range(runs)), strict=True)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS
    figures: dict[str, float] = {}

    def record(name: str, wall_and_cpu: tuple[float, float]) -> None:
        figures[name], figures[name.replace("_s", "_cpu_s").replace("_ms", "_cpu_ms")] = (
            wall_and_cpu
        )

    with tempfile.TemporaryDirectory(prefix="berth-bench-audit-") as tmp:
        root = Path(tmp)
        with Engine(root) as engine:
            hot: list[str] = []
            record("write_s", timed(lambda: hot.append(write_log(engine, events))))
            hot_id = hot[0]
            figures["events"] = engine.store.max_position()
            audit_view = AuditView(root / "projections.db")
            record("rebuild_views_s", timed(lambda: engine.views.rebuild(engine.store)))
            record("rebuild_all_s", timed(lambda: audit_view.rebuild(engine.store, engine.views)))
            assert audit_view.position() == engine.views.position() == figures["events"]
            audit_view.close()
            reports: list[Report] = []
            record("verify_s", timed(lambda: reports.append(verify(root / "events.db"))))
            assert reports[0].intact and reports[0].events == figures["events"], reports[0]
            record(
                "history_ms",
                median_ms(
                    lambda: "\n".join(
                        map(json.JSONEncoder().encode, history_entries(engine.history(hot_id)))
                    )
                ),
            )
            middle = engine.history(hot_id)[HOT_EVENTS // 2].position
            record(
                "inspect_at_ms",
                median_ms(lambda: document_at(engine.history(hot_id), Moment(position=middle))),
            )
            day = T0 + timedelta(days=12)
            query = AuditQuery(uids=[USERS[3].uid or 0], since=day, until=day + timedelta(1))
            search = functools.partial(audit_entries, engine.root, engine.store, query)
            figures["audit_query_rows"] = len(search())
            record("audit_query_ms", median_ms(search))
            figures["chain_mb"] = chain_bytes(root / "events.db") / 1e6
            # The start check's worst case: a whole segment but one after the last checkpoint.
            append_segment(engine, CHECKPOINT_INTERVAL - 1, n=int(figures["events"]) + 2)
            tail = verify_tail(root / "events.db")
            assert tail.intact, tail.problem
            figures["start_check_events"] = tail.events
            record("start_check_ms", median_ms(lambda: verify_tail(root / "events.db")))
    targets = {
        "rebuild_all_s": figures["rebuild_all_s"] <= 30,
        "verify_s": figures["verify_s"] <= 20,
        "start_check_ms": figures["start_check_ms"] <= 250,
        "history_ms": figures["history_ms"] <= 20,
        "inspect_at_ms": figures["inspect_at_ms"] <= 20,
    }
    for key, value in figures.items():
        print(f"{key:24s} {value:14,.2f}", file=sys.stderr)
    for key, met in targets.items():
        print(f"target {key:17s} {'met' if met else 'MISSED'} (wall-clock)", file=sys.stderr)
    rounded = {k: round(v, 2) for k, v in figures.items()}
    print(json.dumps({**rounded, "targets_met": all(targets.values())}))


def chain_bytes(db_path: Path) -> int:
    """Pages the hash chain's table takes in events.db."""
    with closing(sqlite3.connect(db_path)) as db:
        found = db.execute(
            "SELECT SUM(pgsize) FROM dbstat "
            "WHERE name IN ('event_chain', 'event_chain_checkpoints')"
        ).fetchone()
    return int(found[0] or 0)


if __name__ == "__main__":
    main()
