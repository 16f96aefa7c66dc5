"""Reliability benchmark: the crash matrix, a soak under SIGKILLs, and their counts.

1. The crash matrix: berthd killed at every crash point (berth.runtime.service.faults.POINTS)
   under the scenario that reaches it, started again, and the log held against the host
   (tests/fixtures/world.py): `crash_points`, `crash_violations`.
2. The soak: `--clients` threads run random lifecycles through the Docker API (run -d,
   create, start, stop, kill, rm -f, run --rm, rename) while berthd is SIGKILLed
   `--kills` times at random moments and started again. At the end: violations of the
   world (leaked processes, cgroups, mounts, netns, veths, forwarders, names, addresses),
   and containers whose create was answered and never asked to be removed that `ps -a`
   does not show (`soak_missing`).
3. Hostile input: bench/fuzz_api.py's counts over `--fuzz` requests (`fuzz_*`).
4. Memory: berthd's peak RSS while streaming 1 GB of a container's logs, from
   bench/logs.py (`logs_*`).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from berth.runtime.service.faults import POINTS  # noqa: E402
from tests.fixtures.berthd import Berthd, clean_up, launch_berthd  # noqa: E402
from tests.fixtures.images import busybox_image  # noqa: E402
from tests.fixtures.registry import run_registry  # noqa: E402
from tests.fixtures.world import in_flight, violations  # noqa: E402
from tests.reliability.test_crash_matrix import SCENARIOS, World  # noqa: E402

SETTLE_S = 60


def client(daemon: Berthd) -> docker.APIClient:
    return docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=30)


def settle(daemon: Berthd) -> None:
    deadline = time.monotonic() + SETTLE_S
    while in_flight(daemon.root) and time.monotonic() < deadline:
        time.sleep(0.2)


def crash_matrix(work: Path, registry: Any) -> dict[str, Any]:
    failed: dict[str, list[str]] = {}
    for point in POINTS:
        place = work / point
        place.mkdir()
        crashing = launch_berthd(place, insecure=(registry.host,), env={"BERTH_CRASH_AT": point})
        with contextlib.suppress(Exception):
            SCENARIOS[point.split(".")[0]](World(client(crashing), registry))
        try:
            crashing.wait_killed(60)
        except Exception:
            failed[point] = ["never reached"]
        daemon = launch_berthd(place, insecure=(registry.host,))
        settle(daemon)
        found = violations(daemon.root, client(daemon))
        found += clean_up(daemon) + clean_up(crashing)
        if found:
            failed[point] = found
        print(f"crash point {point}: {len(found)} violation(s)", file=sys.stderr, flush=True)
    return {
        "crash_points": len(POINTS),
        "crash_violations": sum(len(v) for v in failed.values()),
        "crash_failed_points": sorted(failed),
    }


class Soak:
    """Clients doing random lifecycles; what they were told exists is tracked."""

    def __init__(self, work: Path, clients: int) -> None:
        self.work = work
        self.daemon = launch_berthd(work)
        self.clients = clients
        self.lock = threading.Lock()
        self.kept: set[str] = set()  # answered 201, never asked to be removed
        self.stop = threading.Event()
        self.requests = 0
        self.answers: collections.Counter[str] = collections.Counter()
        self.server_errors: list[str] = []

    def api(self) -> docker.APIClient:
        with self.lock:
            return client(self.daemon)

    def forget(self, cid: str) -> None:
        with self.lock:
            self.kept.discard(cid)

    def act(self, rng: random.Random) -> None:
        api = self.api()
        with self.lock:
            mine = sorted(self.kept)
        choice = rng.random()
        if choice < 0.35 or not mine:
            cid = api.create_container("busybox", ["sleep", str(rng.randint(1, 30))])["Id"]
            with self.lock:
                self.kept.add(cid)
            if rng.random() < 0.8:
                api.start(cid)
            return
        cid = rng.choice(mine)
        if choice < 0.50:
            self.forget(cid)  # asked: whatever the answer, it may be gone
            api.remove_container(cid, force=True)
        elif choice < 0.62:
            api.stop(cid, timeout=1)
        elif choice < 0.72:
            api.kill(cid)
        elif choice < 0.84:
            api.start(cid)
        elif choice < 0.92:
            api.restart(cid, timeout=1)
        else:
            auto = api.create_container(
                "busybox", ["true"], host_config=api.create_host_config(auto_remove=True)
            )["Id"]
            api.start(auto)

    def client_loop(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            self.requests += 1
            try:
                self.act(rng)
            except docker.errors.APIError as error:
                status = error.status_code or 0
                with self.lock:
                    self.answers[f"{status // 100}xx"] += 1
                    if status >= 500:
                        self.server_errors.append(str(error))
            except Exception:
                with self.lock:
                    self.answers["cut"] += 1  # the daemon died under the request, or is down
                time.sleep(0.5)

    def kill_loop(self, kills: int, seconds: float, rng: random.Random) -> None:
        ends = time.monotonic() + seconds
        for number in range(kills):
            time.sleep(rng.uniform(1.0, 4.0))
            with self.lock:
                daemon = self.daemon
            daemon.process.send_signal(signal.SIGKILL)
            daemon.wait_killed(30)
            started = time.monotonic()
            clean = launch_berthd(self.work)
            print(
                f"kill {number + 1}/{kills}: berthd back in {time.monotonic() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            with self.lock:
                self.daemon = clean
        time.sleep(max(0.0, ends - time.monotonic()))
        self.stop.set()

    def run(self, kills: int, seconds: float = 0.0) -> dict[str, Any]:
        rng = random.Random(7)
        threads = [
            threading.Thread(target=self.client_loop, args=(seed,)) for seed in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        self.kill_loop(kills, seconds, rng)
        for thread in threads:
            thread.join()
        settle(self.daemon)
        api = client(self.daemon)
        listed = {c["Id"] for c in api.containers(all=True)}
        missing = sorted(self.kept - listed)
        found = violations(self.daemon.root, api)
        if found and "BENCH_KEEP" in os.environ:
            kept = self.daemon.root.parent / "postmortem"
            kept.mkdir(exist_ok=True)
            for database in self.daemon.root.glob("*.db*"):
                shutil.copy2(database, kept / database.name)
        if found and "BENCH_DEBUG" in os.environ:
            for line in found:
                cid = line.split()[0]
                print(line, self.daemon.berth("history", cid).stdout, file=sys.stderr)
            print(self.daemon.log()[-5000:], file=sys.stderr)
        for cid in listed:
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(cid, force=True)
        found += violations(self.daemon.root, api) + clean_up(self.daemon)
        return {
            "soak_clients": self.clients,
            "soak_kills": kills,
            "soak_requests": self.requests,
            "soak_refused_4xx": self.answers["4xx"],
            "soak_5xx": self.answers["5xx"],
            "soak_cut_by_kills": self.answers["cut"],
            "soak_violations": len(found),
            "soak_missing": len(missing),
            "soak_details": found[:20]
            + [f"missing {m[:12]}" for m in missing[:20]]
            + self.server_errors[:10],
        }


def other_bench(script: str, *args: str) -> dict[str, Any]:
    """The last line of another bench/ script: its figures."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def hostile_input(requests: int) -> dict[str, Any]:
    fuzz = other_bench("fuzz_api.py", str(requests))
    keys = ("requests", "status_5xx", "no_answer", "events_from_refused", "max_ping_ms")
    return {f"fuzz_{key}": fuzz[key] for key in keys if key in fuzz}


def log_memory() -> dict[str, Any]:
    logs = other_bench("logs.py")
    return {f"logs_{key}": value for key, value in logs.items() if "rss" in key}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=0.0, help="soak at least this long")
    parser.add_argument("--skip-matrix", action="store_true")
    parser.add_argument("--fuzz", type=int, default=10_000, help="fuzzed requests (0: none)")
    parser.add_argument("--skip-logs", action="store_true")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-reliability-"))
    figures: dict[str, Any] = {}
    try:
        if not options.skip_matrix:
            (work / "registry").mkdir()
            with run_registry(work / "registry") as registry:
                registry.push("library/busybox", busybox_image())
                (work / "matrix").mkdir()
                figures.update(crash_matrix(work / "matrix", registry))
        (work / "soak").mkdir()
        soak = Soak(work / "soak", options.clients)
        figures.update(soak.run(options.kills, options.seconds))
        if options.fuzz:
            figures.update(hostile_input(options.fuzz))
        if not options.skip_logs:
            figures.update(log_memory())
    finally:
        if "BENCH_KEEP" in os.environ:  # the roots, for a post-mortem
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
