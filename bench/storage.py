"""Storage benchmark: what mounts add to a run, and `docker cp` against `tar | tar`.

In one run:
- `plain_ms` / `mounted_ms`: medians of bench/run.py's create → start → wait → remove of
  `/bin/busybox true` (in-process, no network), without mounts and with 3 binds, 1 named
  volume and 1 tmpfs, the two kinds alternating so that the machine's noise falls on both;
  `mount_overhead_ms` is their difference (target ≤ 5 ms per container);
- `runc_mount_overhead_ms`: what bare `runc run` of the engine's own config.json costs
  more with those mounts than without (`runc_plain_ms`, `runc_mounted_ms`): runc's and
  the kernel's share of the overhead; `berth_mount_overhead_ms` is the rest;
- `cp_in_mb_s` / `cp_out_mb_s`: `docker cp` of a 100 MB tree into and out of a container
  through berthd, with the real docker CLI; `tar_mb_s`: `tar c | tar x` of the same tree on
  the host; the targets are cp at least half of tar's throughput, both ways.
The last line is one JSON object.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.daemon import private_berthd  # noqa: E402
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

TREE_MB = 100
FILE_KB = 256  # 400 files in 20 directories
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
    engine = Engine(work / "berth")
    images = ImageService(engine)
    image_id = await images.import_rootfs(busybox_tarball(work / "bb.tar"), "busybox:latest", ACTOR)
    runtime = Runtime(work / "berth" / "run")
    mounted = mounted_host_config(work)
    try:
        async with running(engine, images, runtime) as runner:
            await engine_cycle(runner)  # warm caches, and create the named volume
            await engine_cycle(runner, mounted)
            plain, with_mounts = [], []
            for _ in range(RUNS):
                plain.append((await engine_cycle(runner))["total"])
                with_mounts.append((await engine_cycle(runner, mounted))["total"])
            layer = images.snapshots.layer_dir(images.image_chain(image_id)[0])
            runc = await runc_mount_cost(runner, work, layer, mounted)
    finally:
        engine.close()
    plain_ms, mounted_ms = statistics.median(plain), statistics.median(with_mounts)
    return {
        "plain_ms": round(plain_ms, 1),
        "mounted_ms": round(mounted_ms, 1),
        "mount_overhead_ms": round(mounted_ms - plain_ms, 1),
        **runc,
        # What is left of the overhead once runc's own is taken off.
        "berth_mount_overhead_ms": round(mounted_ms - plain_ms - runc["runc_mount_overhead_ms"], 1),
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


def copy_throughput(work: Path) -> dict[str, Any]:
    tree = work / "tree"
    size_mb = make_tree(tree) / 1e6
    cp_in, cp_out, tar = [], [], []
    with private_berthd(work) as daemon:
        docker, env = daemon.docker, daemon.env
        name = f"bench-cp-{os.getpid()}"
        subprocess.run(
            [*docker, "run", "-d", "--network", "none", "--name", name, "busybox",
             "sleep", "600"],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        # The tree was just written: both sides read it from the page cache.
        for n in range(3):
            cp_in.append(timed([*docker, "cp", str(tree), f"{name}:/tree{n}"], env))
            out = work / f"out{n}"
            out.mkdir()
            cp_out.append(timed([*docker, "cp", f"{name}:/tree{n}", str(out)], env))
            shutil.rmtree(out)
            host = work / f"host{n}"
            host.mkdir()
            tar.append(timed(f"tar -C {work} -cf - tree | tar -C {host} -xf -"))
            shutil.rmtree(host)
        subprocess.run([*docker, "rm", "-f", name], check=True, capture_output=True, env=env)
    tar_rate = size_mb / statistics.median(tar)
    figures = {
        "tree_mb": round(size_mb, 1),
        "cp_in_mb_s": round(size_mb / statistics.median(cp_in), 1),
        "cp_out_mb_s": round(size_mb / statistics.median(cp_out), 1),
        "tar_mb_s": round(tar_rate, 1),
    }
    figures["cp_in_ratio"] = round(figures["cp_in_mb_s"] / tar_rate, 2)
    figures["cp_out_ratio"] = round(figures["cp_out_mb_s"] / tar_rate, 2)
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-storage-") as tmp:
        work = Path(tmp)
        (work / "cycles").mkdir()
        (work / "copies").mkdir()
        figures = trio.run(run_cycles, work / "cycles")
        figures.update(copy_throughput(work / "copies"))
    targets = {
        "mount_overhead_ms <= 5": figures["mount_overhead_ms"] <= 5,
        "cp_in_ratio >= 0.5": figures["cp_in_ratio"] >= 0.5,
        "cp_out_ratio >= 0.5": figures["cp_out_ratio"] >= 0.5,
    }
    report(figures, targets)


if __name__ == "__main__":
    main()
