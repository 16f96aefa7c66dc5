"""berthd's resident memory (issue 16, ADR/0048): idle, after one `docker ps`, and with 100
running `sleep` containers (`--network none`), on a private root and socket per start.

    .venv/bin/python -m bench.daemon_memory [--baseline NAME=VENV_BIN_DIR]... [--starts 3]

Each baseline is another checkout's virtual environment (e.g. main's, in a temporary
worktree); the starts take turns — this checkout, then each baseline — so that the
machine's load falls on all alike. Medians over the starts; the last line is one JSON
object with every figure and the targets (idle ≤ 45 MB, ≤ 80 MB with 100 running) for
this checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.daemon import BIN, PrivateBerthd, private_berthd
from bench.peer_engines import rss_kb
from bench.report import report

RUNNING = 100
SETTLE_S = 2.0  # the views' first catch-up and the runtime probe are over by then
SLEEP = ["/bin/busybox", "sleep", "3600"]
STARTERS = 10  # docker CLIs at once while the containers are started
IDLE_TARGET_MB = 45
RUNNING_TARGET_MB = 80


def docker(daemon: PrivateBerthd, *args: str) -> str:
    done = subprocess.run(
        [*daemon.docker, *args], env=daemon.env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker {args[0]}: {done.stderr.strip()}")
    return done.stdout


def mb(pid: int) -> float:
    return rss_kb([pid]) / 1024


def one_start(bin_dir: Path, work: Path) -> dict[str, float]:
    """The three figures of one berthd start on a fresh root."""
    work.mkdir()
    with private_berthd(work, bin_dir) as daemon:
        time.sleep(SETTLE_S)
        figures = {"idle": mb(daemon.pid)}
        docker(daemon, "ps")
        figures["after_ps"] = mb(daemon.pid)
        run = ["run", "-d", "--network", "none", "busybox", *SLEEP]
        with ThreadPoolExecutor(STARTERS) as pool:
            ids = [out.strip() for out in pool.map(lambda _: docker(daemon, *run), range(RUNNING))]
        try:
            time.sleep(SETTLE_S)
            running = docker(daemon, "ps", "-q").split()
            if len(running) != RUNNING:
                raise RuntimeError(f"{len(running)} running, not {RUNNING}")
            figures["running"] = mb(daemon.pid)
        finally:
            for chunk in range(0, len(ids), 50):
                docker(daemon, "rm", "-f", *ids[chunk : chunk + 50])
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", action="append", default=[], metavar="NAME=BIN_DIR")
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    engines = {"berthd": BIN}
    for spec in args.baseline:
        name, _, bin_dir = spec.partition("=")
        engines[name] = Path(bin_dir)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
    with tempfile.TemporaryDirectory(prefix="bench-daemon-memory-") as tmp:
        for start in range(args.starts):
            for name, bin_dir in engines.items():
                samples[name].append(one_start(bin_dir, Path(tmp) / f"{name}-{start}"))
    figures: dict[str, float | str] = {"load_average": " ".join(map(str, os.getloadavg()))}
    for name, runs in samples.items():
        for figure in ("idle", "after_ps", "running"):
            key = f"{name}_{figure if figure != 'running' else f'{RUNNING}_running'}_rss_mb"
            figures[key] = round(statistics.median(run[figure] for run in runs), 1)
    idle, running = figures["berthd_idle_rss_mb"], figures[f"berthd_{RUNNING}_running_rss_mb"]
    assert isinstance(idle, float) and isinstance(running, float)
    figures["berthd_rss_kb_per_running"] = round((running - idle) * 1024 / RUNNING, 1)
    report(
        figures,
        {
            f"berthd idle RSS <= {IDLE_TARGET_MB} MB": idle <= IDLE_TARGET_MB,
            f"berthd RSS with {RUNNING} running <= {RUNNING_TARGET_MB} MB": running
            <= RUNNING_TARGET_MB,
        },
        width=34,
    )


if __name__ == "__main__":
    main()
