"""Storage benchmark: what mounts add to a run, and `docker cp` against `tar | tar`.

In one run:
- `plain_ms` / `mounted_ms`: medians of bench/run.py's create → start → wait → remove of
  `/bin/busybox true` (in-process, no network), without mounts and with 3 binds, 1 named
  volume and 1 tmpfs, the two kinds alternating so that the machine's noise falls on both;
  `mount_overhead_ms` is the median of each mounted cycle's difference to the plain one
  before it (target ≤ 5 ms per container);
- `runc_mount_overhead_ms`: what bare `runc run` of the engine's own config.json costs
  more with those mounts than without (`runc_plain_ms`, `runc_mounted_ms`): runc's and
  the kernel's share of the overhead; `berth_mount_overhead_ms` is the rest;
- `cp_in_mb_s` / `cp_out_mb_s`: `docker cp` of a 100 MB tree into and out of a container
  through berthd, with the real docker CLI; `tar_mb_s`: `tar c | tar x` of the same tree on
  the host; the targets are cp at least half of tar's throughput, both ways;
  `cp_in_berthd_cpu_ms` / `cp_out_berthd_cpu_ms`: berthd's own CPU time per copy.
`--cp-only` runs the cp part alone; `--baseline-bin DIR` runs another build's berthd (the
bin directory of its venv) alongside, its copies alternating with this build's, its
figures prefixed `base_`. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.daemon import BIN, PrivateBerthd, private_berthd  # noqa: E402
from bench.report import report  # noqa: E402
from bench.run import (  # noqa: E402
    ACTOR,
    NO_NETWORK,
    RUNS,
    engine_cycle,
    engine_spec,
    runc_cycle,
    spec_bundle,
)
from berth.adapters.runc import Runtime  # noqa: E402
from berth.runtime.service.engine import Engine  # noqa: E402
from berth.runtime.service.images import ImageService  # noqa: E402
from berth.runtime.service.runner import Runner, running  # noqa: E402
from tests.integration.conftest import busybox_tarball  # noqa: E402

#: Plain and mounted cycles, alternating: a difference of ~160 ms cycles that vary by
#: ±25 ms each needs many to settle within a millisecond or two.
MOUNT_PAIRS = 40
TREE_MB = 100
FILE_KB = 256  # 400 files in 20 directories
CP_ROUNDS = 5
VOLUME = f"berth-bench-{os.getpid()}"


def mounted_host_config(work: Path) -> dict[str, Any]:
    binds = []
    for n in range(3):
        (work / f"bind{n}").mkdir(exist_ok=True)
        binds.append(f"{work / f'bind{n}'}:/mnt/bind{n}")
    binds.append(f"{VOLUME}:/mnt/volume")
    return {**NO_NETWORK, "Binds": binds, "Tmpfs": {"/mnt/tmp": "size=16m"}}


async def runc_mount_cost(
    runner: Runner, work: Path, layer: Path, mounted: dict[str, Any]
) -> dict[str, Any]:
    """Bare `runc run` of the engine's own config.json without and with the mounts (the
    two alternating): what runc's own mount work costs, apart from berth's."""
    plain = await engine_spec(runner, work, NO_NETWORK, "plain-files")
    with_mounts = await engine_spec(runner, work, mounted, "mounted-files")
    # The root is read-only to runc: the mount points the engine made in the container's
    # writable layer are made in a copy of the image's.
    rootfs = work / "rootfs"
    shutil.copytree(layer, rootfs, symlinks=True)
    made = {m["destination"] for m in with_mounts["mounts"]} - {
        m["destination"] for m in plain["mounts"]
    }
    for destination in made:
        (rootfs / destination.lstrip("/")).mkdir(parents=True, exist_ok=True)
    bundles = [
        spec_bundle(work, "runc-plain", plain, rootfs),
        spec_bundle(work, "runc-mounted", with_mounts, rootfs),
    ]
    times: list[list[float]] = [[], []]
    for n in range(RUNS + 1):
        for kind, bundle in enumerate(bundles):
            elapsed = runc_cycle(bundle, 2 * n + kind)
            if n:  # the first of each warms caches
                times[kind].append(elapsed)
    plain_ms, mounted_ms = (statistics.median(t) for t in times)
    return {
        "runc_plain_ms": round(plain_ms, 1),
        "runc_mounted_ms": round(mounted_ms, 1),
        "runc_mount_overhead_ms": round(mounted_ms - plain_ms, 1),
    }


async def run_cycles(work: Path) -> dict[str, Any]:
    engine = Engine(work / "berth", sole_writer=True)  # as berthd, which holds the root lock
    images = ImageService(engine)
    image_id = await images.import_rootfs(busybox_tarball(work / "bb.tar"), "busybox:latest", ACTOR)
    runtime = Runtime(work / "berth" / "run")
    mounted = mounted_host_config(work)
    try:
        async with running(engine, images, runtime) as runner:
            await engine_cycle(runner)  # warm caches, and create the named volume
            await engine_cycle(runner, mounted)
            plain, with_mounts = [], []
            for _ in range(MOUNT_PAIRS):
                plain.append((await engine_cycle(runner))["total"])
                with_mounts.append((await engine_cycle(runner, mounted))["total"])
            layer = images.snapshots.layer_dir(images.image_chain(image_id)[0])
            runc = await runc_mount_cost(runner, work, layer, mounted)
    finally:
        engine.close()
    plain_ms, mounted_ms = statistics.median(plain), statistics.median(with_mounts)
    # Each mounted cycle against the plain one just before it: the machine's drift over
    # the run falls out of each difference.
    overhead = statistics.median(m - p for p, m in zip(plain, with_mounts, strict=True))
    return {
        "plain_ms": round(plain_ms, 1),
        "mounted_ms": round(mounted_ms, 1),
        "mount_overhead_ms": round(overhead, 1),
        **runc,
        # What is left of the overhead once runc's own is taken off.
        "berth_mount_overhead_ms": round(overhead - runc["runc_mount_overhead_ms"], 1),
    }


def make_tree(top: Path) -> int:
    size = 0
    files = TREE_MB * 1024 // FILE_KB
    for n in range(files):
        directory = top / f"d{n % 20:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        data = os.urandom(FILE_KB * 1024)  # incompressible, as most data is
        (directory / f"f{n:04d}").write_bytes(data)
        size += len(data)
    return size


def timed(command: list[str] | str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, check=True, capture_output=True, env=env, shell=isinstance(command, str)
    )
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Copies:
    """One berthd's `docker cp` timings: wall seconds, and berthd's own CPU seconds."""

    daemon: PrivateBerthd
    container: str
    wall_in: list[float] = field(default_factory=list)
    wall_out: list[float] = field(default_factory=list)
    cpu_in: list[float] = field(default_factory=list)
    cpu_out: list[float] = field(default_factory=list)

    def measure(self, command: list[str], wall: list[float], cpu: list[float]) -> None:
        used = cpu_seconds(self.daemon.pid)
        wall.append(timed([*self.daemon.docker, *command], self.daemon.env))
        cpu.append(cpu_seconds(self.daemon.pid) - used)

    def round(self, work: Path, tree: Path, n: int) -> None:
        self.measure(["cp", str(tree), f"{self.container}:/tree{n}"], self.wall_in, self.cpu_in)
        out = work / f"out{n}"
        out.mkdir()
        self.measure(["cp", f"{self.container}:/tree{n}", str(out)], self.wall_out, self.cpu_out)
        shutil.rmtree(out)

    def figures(self, prefix: str, size_mb: float, tar_rate: float) -> dict[str, Any]:
        cp_in = size_mb / statistics.median(self.wall_in)
        cp_out = size_mb / statistics.median(self.wall_out)
        return {
            f"{prefix}cp_in_mb_s": round(cp_in, 1),
            f"{prefix}cp_out_mb_s": round(cp_out, 1),
            f"{prefix}cp_in_ratio": round(cp_in / tar_rate, 2),
            f"{prefix}cp_out_ratio": round(cp_out / tar_rate, 2),
            f"{prefix}cp_in_berthd_cpu_ms": round(statistics.median(self.cpu_in) * 1000),
            f"{prefix}cp_out_berthd_cpu_ms": round(statistics.median(self.cpu_out) * 1000),
        }


@contextmanager
def copies_with(work: Path, bin_dir: Path) -> Iterator[Copies]:
    work.mkdir()
    with private_berthd(work, bin_dir) as daemon:
        name = f"bench-cp-{os.getpid()}"
        subprocess.run(
            [*daemon.docker, "run", "-d", "--network", "none", "--name", name, "busybox",
             "sleep", "600"],
            check=True, capture_output=True, env=daemon.env,
        )  # fmt: skip
        try:
            yield Copies(daemon, name)
        finally:
            subprocess.run(
                [*daemon.docker, "rm", "-f", name], check=True, capture_output=True,
                env=daemon.env,
            )  # fmt: skip


def copy_throughput(work: Path, baseline_bin: Path | None) -> dict[str, Any]:
    """This build's cp (and, with `baseline_bin`, another build's berthd: `base_`
    figures), round after round alternating with `tar | tar`, medians of CP_ROUNDS."""
    tree = work / "tree"
    size_mb = make_tree(tree) / 1e6
    tar: list[float] = []
    builds = [("", BIN)] + ([("base_", baseline_bin)] if baseline_bin else [])
    with ExitStack() as stack:
        runs = [
            (prefix, stack.enter_context(copies_with(work / f"daemon{prefix}", bin_dir)))
            for prefix, bin_dir in builds
        ]
        # The tree was just written: both sides read it from the page cache.
        for n in range(CP_ROUNDS):
            for _, copies in runs if n % 2 == 0 else reversed(runs):
                copies.round(work, tree, n)
            host = work / f"host{n}"
            host.mkdir()
            tar.append(timed(f"tar -C {work} -cf - tree | tar -C {host} -xf -"))
            shutil.rmtree(host)
    tar_rate = size_mb / statistics.median(tar)
    figures: dict[str, Any] = {"tree_mb": round(size_mb, 1), "tar_mb_s": round(tar_rate, 1)}
    for prefix, copies in runs:
        figures.update(copies.figures(prefix, size_mb, tar_rate))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cp-only", action="store_true", help="only the docker cp part")
    parser.add_argument(
        "--baseline-bin",
        type=Path,
        help="the bin directory of another build's venv: its berthd's cp, interleaved",
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-storage-") as tmp:
        work = Path(tmp)
        (work / "cycles").mkdir()
        (work / "copies").mkdir()
        if not args.cp_only:
            figures.update(trio.run(run_cycles, work / "cycles"))
        figures.update(copy_throughput(work / "copies", args.baseline_bin))
    figures["load_avg_1m"] = round(os.getloadavg()[0], 2)
    targets = {
        "cp_in_ratio >= 0.5": figures["cp_in_ratio"] >= 0.5,
        "cp_out_ratio >= 0.5": figures["cp_out_ratio"] >= 0.5,
    }
    if not args.cp_only:
        targets["mount_overhead_ms <= 5"] = figures["mount_overhead_ms"] <= 5
    report(figures, targets)


if __name__ == "__main__":
    main()
