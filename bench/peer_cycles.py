"""The runtime alone and the engine in-process, for bench/peers.py: the floor the engines
are measured against.

- `bare_default_ms`: `RUNTIME run` of the runtime's own default spec (`RUNTIME spec`,
  terminal off) on the image's root filesystem;
- `bare_berth_spec_ms`: `RUNTIME run` of the config.json berthd gave a container of the
  same image (its seccomp profile, masked paths, cgroup), running `true` instead;
- `engine_cycle_ms`: berth's create → start → wait → remove in-process, no HTTP
  (bench/run.py's cycle), its runtime adapter given the same runtime binary.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peer_engines import Peer  # noqa: E402
from bench.run import ACTOR, engine_cycle, spec_bundle  # noqa: E402
from berth.adapters.runc import Runtime  # noqa: E402
from berth.runtime.service.engine import Engine  # noqa: E402
from berth.runtime.service.images import ImageService  # noqa: E402
from berth.runtime.service.runner import running  # noqa: E402
from tests.integration.conftest import busybox_tarball  # noqa: E402

TRUE = ["/bin/busybox", "true"]


def _summary(times: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(times), 1), "min": round(min(times), 1)}


def _rootfs(work: Path, layer_tar: bytes) -> Path:
    rootfs = work / "rootfs"
    if not rootfs.exists():
        rootfs.mkdir()
        with tarfile.open(fileobj=io.BytesIO(layer_tar)) as tar:
            tar.extractall(rootfs, filter="fully_trusted")
    return rootfs


def _timed_runs(runtime: str, bundle: Path, runs: int, warm: int) -> dict[str, float]:
    times = []
    for n in range(warm + runs):
        start = time.perf_counter()
        done = subprocess.run(
            [runtime, "run", "--bundle", str(bundle), f"berth-peers-{os.getpid()}-{n}"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            raise RuntimeError(f"{runtime} run {bundle.name}: {done.stderr.decode().strip()}")
        if n >= warm:
            times.append(elapsed)
    return _summary(times)


def bare_default(
    work: Path, runtime: str, layer_tar: bytes, runs: int, warm: int
) -> dict[str, Any]:
    bundle = work / "bundle-default"
    bundle.mkdir()
    subprocess.run([runtime, "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = TRUE
    spec["process"]["terminal"] = False
    spec["root"] = {"path": str(_rootfs(work, layer_tar)), "readonly": True}
    (bundle / "config.json").write_text(json.dumps(spec))
    return _timed_runs(runtime, bundle, runs, warm)


def bare_berth_spec(
    work: Path, runtime: str, layer_tar: bytes, runs: int, warm: int, berthd: Peer, image: str
) -> dict[str, Any]:
    """The spec of a `sleep` container berthd started, run as `true` by the runtime alone."""
    assert berthd.root is not None
    container_id = berthd.call(
        "run", "-d", "--network", "none", image, "/bin/busybox", "sleep", "60"
    ).strip()
    try:
        container_dir = berthd.root / "containers" / container_id
        spec: dict[str, Any] = json.loads((container_dir / "bundle" / "config.json").read_text())
        files = work / "spec-files"
        files.mkdir()
        for mount in spec.get("mounts", []):  # /etc/hosts, ...: they go with the container
            source = Path(mount.get("source", ""))
            if source.is_relative_to(container_dir) and source.is_file():
                mount["source"] = str(shutil.copy(source, files / source.name))
        for namespace in spec["linux"].get("namespaces", []):
            namespace.pop("path", None)  # a namespace kept for the container goes with it
    finally:
        berthd.call("rm", "-f", container_id)
    bundle = spec_bundle(work, "bundle-berth-spec", spec, _rootfs(work, layer_tar))
    return _timed_runs(runtime, bundle, runs, warm)


def engine_cycles(work: Path, runtime: str, runs: int, warm: int) -> dict[str, Any]:
    return trio.run(_engine_cycles, work / "engine", runtime, runs, warm)


async def _engine_cycles(root: Path, runtime: str, runs: int, warm: int) -> dict[str, Any]:
    root.mkdir()
    engine = Engine(root / "berth", sole_writer=True)  # as berthd, which holds the root lock
    images = ImageService(engine)
    await images.import_rootfs(busybox_tarball(root / "bb.tar"), "busybox:latest", ACTOR)
    try:
        async with running(engine, images, Runtime(root / "berth" / "run", runc=runtime)) as runner:
            for _ in range(warm):
                await engine_cycle(runner)
            cycles = [await engine_cycle(runner) for _ in range(runs)]
    finally:
        engine.close()
    return {
        **_summary([cycle["total"] for cycle in cycles]),
        "phases": {
            phase: round(statistics.median(cycle[phase] for cycle in cycles), 1)
            for phase in ("create", "start", "wait", "remove")
        },
    }
