"""ps benchmark: `docker ps -a` with 1,000 exited containers, berthd against dockerd, and
`ps --fleet` of 4 x 1,000 containers on PostgreSQL, in one run.

Usage: `.venv/bin/python bench/ps.py [--no-fleet] [--baseline DIR]` (as root). A registry
on 127.0.0.1 serves berth's busybox to every engine; each runs `true` in EXITED
containers (through the API, 8 at once), then `docker ps -a` is timed RUNS times on
each, the engines taking turns (the order reversed every other round), so that the
machine's load falls on all alike. With `--baseline DIR`, a second berthd running the
berth package in DIR (a `berth/` of domain, adapters, runtime) takes its turn too:
before and after a change, in one run. Beside it, per engine: `GET
/containers/json?all=1` alone on a kept connection (the daemon's part, no CLI), and
berth's own `berth ps -a` against berthd. dockerd (Debian's docker.io, started privately
as bench/peers.py does) is measured when installed. Then bench/fleet.py's `ps --fleet`
set-up: 4 hosts x 1,000 containers in one PostgreSQL log, the fleet view listed.

The last line is one JSON object: medians and minimums in ms, the load average before
and after, and the targets.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peer_engines import BIN, Peer, berthd_peer, dockerd_peer, installed  # noqa: E402
from bench.report import report  # noqa: E402

RUNS = 15
EXITED = 1000
TRUE = ["/bin/busybox", "true"]


def seed_exited(peer: Peer, image: str, count: int = EXITED) -> int:
    """`count` containers that ran `true` and exited, made through the API, 8 at once
    (1,000 CLI processes would take minutes); how many starts were refused (each such
    container is listed all the same)."""
    import docker

    client = docker.APIClient(base_url=_socket(peer), version="1.41", timeout=120)
    host_config = client.create_host_config(network_mode="none")

    def one(_: int) -> int:
        made = client.create_container(image, TRUE, host_config=host_config)
        try:
            client.start(made["Id"])
        except docker.errors.APIError as error:
            print(f"{peer.name}: start refused: {error}", file=sys.stderr)
            return 1
        return 0

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            refused = sum(pool.map(one, range(count)))
        while client.containers(filters={"status": "running"}):
            time.sleep(0.5)
    finally:
        client.close()
    return refused


def _socket(peer: Peer) -> str:
    return peer.cli[peer.cli.index("-H") + 1]


def timed_ms(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def cli_run(argv: list[str], env: dict[str, str] | None) -> Callable[[], object]:
    import subprocess

    def run() -> None:
        done = subprocess.run(argv, capture_output=True, env=env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {done.stderr.decode().strip()}")
        if len(done.stdout.splitlines()) != EXITED + 1:  # the heading, then every container
            raise RuntimeError(f"{' '.join(argv)} listed {len(done.stdout.splitlines())} lines")

    return run


def api_run(peer: Peer) -> tuple[Callable[[], object], Callable[[], None]]:
    """`GET /containers/json?all=1` on a kept connection: the daemon's part alone."""
    import docker

    client = docker.APIClient(base_url=_socket(peer), version="1.41", timeout=120)

    def run() -> None:
        answer = client._get(client._url("/containers/json"), params={"all": 1})
        if answer.status_code != 200 or answer.content.count(b'"Id"') != EXITED:
            raise RuntimeError(f"{peer.name}: {answer.status_code} {answer.content[:200]!r}")

    return run, client.close


def interleaved(runs: dict[str, Callable[[], object]], times: int) -> dict[str, dict[str, float]]:
    """Each run once to warm up, then `times` rounds, the order reversed every other round."""
    names = list(runs)
    for name in names:
        runs[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(times):
        for name in names if round_ % 2 == 0 else reversed(names):
            samples[name].append(timed_ms(runs[name]))
    return {
        name: {"median": round(statistics.median(s), 1), "min": round(min(s), 1)}
        for name, s in samples.items()
    }


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def engines(work: Path, baseline: Path | None) -> dict[str, Any]:
    from bench.peers import busybox_layer_of
    from tests.fixtures.images import make_image
    from tests.fixtures.registry import run_registry

    figures: dict[str, Any] = {}
    (work / "registry").mkdir(parents=True)
    with run_registry(work / "registry") as registry:
        registry.push("bench/busybox", make_image([busybox_layer_of(work)]))
        image = f"{registry.host}/bench/busybox:latest"
        with (
            berthd_peer(work, registry.host, "runc") as berthd,
            berthd_peer(work, registry.host, "runc", "baseline", {"PYTHONPATH": str(baseline)})
            if baseline
            else contextlib.nullcontext() as before,
            dockerd_peer(work) if installed("dockerd") else contextlib.nullcontext() as dockerd,
        ):
            peers = [p for p in (berthd, before, dockerd) if p is not None]
            for peer in peers:
                peer.call("pull", *peer.pull_extra, image)
                started = time.perf_counter()
                figures[f"seed_refused_starts_{peer.name}"] = seed_exited(peer, image, EXITED)
                figures[f"seed_{EXITED}_{peer.name}_s"] = round(time.perf_counter() - started, 1)
            runs: dict[str, Callable[[], object]] = {}
            closes = []
            for peer in peers:
                runs[f"docker_ps_a_{peer.name}_ms"] = cli_run(peer.argv("ps", "-a"), peer.env)
            for peer in peers:
                runs[f"api_list_{peer.name}_ms"], close = api_run(peer)
                closes.append(close)
            berth = [str(BIN / "berth"), "-H", f"unix://{berthd.socket}", "ps", "-a"]
            runs["berth_ps_a_berthd_ms"] = cli_run(berth, None)
            figures["load_before"] = load()
            figures.update(interleaved(runs, RUNS))
            figures["load_after"] = load()
            for close in closes:
                close()
            for peer in peers:
                peer.call("container", "prune", "-f")
    return figures


def fleet(work: Path) -> dict[str, Any]:
    from bench.fleet import ps_figures
    from tests.fixtures.postgres import private_cluster

    work.mkdir(parents=True)
    with private_cluster() as cluster:
        figures = {"fleet_load_before": load()}
        figures.update(ps_figures(cluster, work))
        figures["fleet_load_after"] = load()
    return figures


def main() -> None:
    global EXITED
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-fleet", action="store_true", help="only berthd against dockerd")
    parser.add_argument("--no-engines", action="store_true", help="only ps --fleet")
    parser.add_argument("--exited", type=int, default=EXITED, help="containers per engine")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a folder holding another berth's package (berth/domain, ...): a second berthd "
        "runs it, measured beside the first (before and after a change, in one run)",
    )
    args = parser.parse_args()
    EXITED = args.exited
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-ps-") as tmp:
        if not args.no_engines:
            figures.update(engines(Path(tmp) / "engines", args.baseline))
        if not args.no_fleet:
            figures.update(fleet(Path(tmp) / "fleet"))

    def median(key: str) -> float | None:
        found = figures.get(key)
        return found["median"] if isinstance(found, dict) else found

    berthd, dockerd = median("docker_ps_a_berthd_ms"), median("docker_ps_a_dockerd_ms")
    ps_fleet = median("pg_ps_fleet_4x1000_ms")
    targets = {}
    if berthd is not None and dockerd is not None:
        targets[f"docker ps -a with {EXITED} exited: berthd <= dockerd"] = berthd <= dockerd
    if ps_fleet is not None:
        targets["ps --fleet 4 x 1,000 <= 200 ms"] = ps_fleet <= 200
    report(figures, targets, width=36)


if __name__ == "__main__":
    main()
