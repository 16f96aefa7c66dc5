"""Run benchmark: the engine's create+start+wait+remove against bare `runc run`.

In one run, on the same root filesystem (Debian's busybox-static imported as an image):
- `engine_ms`: median of berth's own create → start → wait → remove of
  `/bin/busybox true`, in-process (no HTTP), with the event log, overlay mount, OCI spec,
  conmon and runc;
- `runc_ms`: median of bare `runc run` of the same root filesystem (runc's default spec);
- `monitor_rss_kb`: median VmRSS of conmon for running `sleep` containers;
- `concurrent_starts_per_s`: 50 create+start of `sleep` containers at once.

Both sides run without networking (`NetworkMode: none`: an empty network namespace, as
runc's default spec has). To tell the engine's own overhead from the cost of the
container it asks for, the same run also times bare `runc run` of the engine's own
`config.json` (`runc_engine_spec_ms`: seccomp profile, masked paths, cgroup) and of that
spec without its seccomp filter (`runc_engine_spec_no_seccomp_ms`), and reports the
engine's median per phase (`phase_ms`).
The last line is one JSON object.
"""

from __future__ import annotations

import json
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

from berth.adapters.runc import Runtime  # noqa: E402
from berth.domain.cause import Actor, ActorKind  # noqa: E402
from berth.runtime.service.engine import Engine  # noqa: E402
from berth.runtime.service.images import ImageService  # noqa: E402
from berth.runtime.service.runner import Runner, running  # noqa: E402
from tests.integration.conftest import busybox_tarball  # noqa: E402

ACTOR = Actor(ActorKind.API, uid=0, pid=os.getpid())
RUNS = 15
CONCURRENT = 50
NO_NETWORK = {"NetworkMode": "none"}
PHASES = ("create", "start", "wait", "remove")


async def engine_cycle(
    runner: Runner, host_config: dict[str, Any] | None = None
) -> dict[str, float]:
    """One create → start → wait → remove; milliseconds per phase and in total."""
    marks = [time.perf_counter()]
    created = await runner.create(
        {
            "Image": "busybox",
            "Cmd": ["/bin/busybox", "true"],
            "HostConfig": host_config or NO_NETWORK,
        },
        None,
        ACTOR,
    )
    marks.append(time.perf_counter())
    await runner.start(created.id, ACTOR)
    marks.append(time.perf_counter())
    code = await runner.wait(created.id)
    marks.append(time.perf_counter())
    await runner.remove(created.id, ACTOR)
    marks.append(time.perf_counter())
    assert code == 0
    times = {phase: (marks[i + 1] - marks[i]) * 1000 for i, phase in enumerate(PHASES)}
    times["total"] = (marks[-1] - marks[0]) * 1000
    return times


def runc_cycle(bundle: Path, n: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        ["runc", "run", "--bundle", str(bundle), f"berth-bench-{os.getpid()}-{n}"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"runc run {bundle.name}: {done.stderr.decode().strip()}")
    return elapsed


async def engine_spec(
    runner: Runner,
    work: Path,
    host_config: dict[str, Any] | None = None,
    files_dir: str = "spec-files",
) -> dict[str, Any]:
    """The `config.json` the engine hands runc for the benchmarked container.

    Files it binds from the container's directory (/etc/hosts, ...) are copied to
    `work/<files_dir>`, as that directory goes with the container.
    """
    created = await runner.create(
        {
            "Image": "busybox",
            "Cmd": ["/bin/busybox", "sleep", "60"],
            "HostConfig": host_config or NO_NETWORK,
        },
        None,
        ACTOR,
    )
    try:
        await runner.start(created.id, ACTOR)
        container_dir = runner.container_dir(created.id)
        spec: dict[str, Any] = json.loads((container_dir / "bundle" / "config.json").read_text())
        files = work / files_dir
        files.mkdir()
        for mount in spec.get("mounts", []):
            source = Path(mount.get("source", ""))
            if source.is_relative_to(container_dir) and source.is_file():
                mount["source"] = str(shutil.copy(source, files / source.name))
    finally:
        await runner.remove(created.id, ACTOR, force=True)
    return spec


def spec_bundle(work: Path, name: str, spec: dict[str, Any], rootfs: Path) -> Path:
    """A bundle running `/bin/busybox true` with the engine's spec on a read-only rootfs."""
    bundle = work / name
    bundle.mkdir()
    spec = json.loads(json.dumps(spec))
    spec["process"]["args"] = ["/bin/busybox", "true"]
    spec["root"] = {"path": str(rootfs), "readonly": True}
    spec["linux"]["cgroupsPath"] = f"/berth/bench-{os.getpid()}-{name}"
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def timed_runc_runs(bundle: Path, first: int) -> list[float]:
    runc_cycle(bundle, first)  # warm caches
    return [runc_cycle(bundle, n) for n in range(first + 1, first + RUNS + 1)]


def bare_bundle(work: Path, rootfs: Path) -> Path:
    bundle = work / "bundle"
    bundle.mkdir()
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = ["/bin/busybox", "true"]
    spec["process"]["terminal"] = False
    spec["root"] = {"path": str(rootfs), "readonly": True}
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def main_async(work: Path) -> dict[str, Any]:
    engine = Engine(work / "berth", sole_writer=True)  # as berthd, which holds the root lock
    images = ImageService(engine)
    image_id = await images.import_rootfs(busybox_tarball(work / "bb.tar"), "busybox:latest", ACTOR)
    runtime = Runtime(work / "berth" / "run")
    figures: dict[str, Any] = {}
    try:
        async with running(engine, images, runtime) as runner:
            await engine_cycle(runner)  # warm caches
            cycles = [await engine_cycle(runner) for _ in range(RUNS)]
            engine_times = [cycle["total"] for cycle in cycles]
            layer = images.snapshots.layer_dir(images.image_chain(image_id)[0])
            runc_times = timed_runc_runs(bare_bundle(work, layer), 0)
            spec = await engine_spec(runner, work)
            spec_times = timed_runc_runs(spec_bundle(work, "spec", spec, layer), 100)
            spec["linux"].pop("seccomp", None)
            no_seccomp = spec_bundle(work, "spec-no-seccomp", spec, layer)
            no_seccomp_times = timed_runc_runs(no_seccomp, 200)

            sleepers = []
            start = time.perf_counter()
            async with trio.open_nursery() as nursery:

                async def one() -> None:
                    created = await runner.create(
                        {"Image": "busybox", "Cmd": ["sleep", "60"]}, None, ACTOR
                    )
                    await runner.start(created.id, ACTOR)
                    sleepers.append(created.id)

                for _ in range(CONCURRENT):
                    nursery.start_soon(one)
            concurrent_s = time.perf_counter() - start
            rss = [rss_kb(pid) for cid in sleepers if (pid := runtime.monitor_pid(cid))]
            for cid in sleepers:
                await runner.remove(cid, ACTOR, force=True)
        figures = {
            "engine_ms": round(statistics.median(engine_times), 1),
            "runc_ms": round(statistics.median(runc_times), 1),
            "monitor_rss_kb": statistics.median(rss),
            "concurrent_starts_per_s": round(CONCURRENT / concurrent_s, 1),
            # Minima: what each side costs when the shared machine leaves it alone.
            "engine_min_ms": round(min(engine_times), 1),
            "runc_min_ms": round(min(runc_times), 1),
            "runc_engine_spec_ms": round(statistics.median(spec_times), 1),
            "runc_engine_spec_no_seccomp_ms": round(statistics.median(no_seccomp_times), 1),
            "phase_ms": {
                phase: round(statistics.median(c[phase] for c in cycles), 1) for phase in PHASES
            },
        }
        figures["ratio"] = round(figures["engine_ms"] / figures["runc_ms"], 2)
    finally:
        engine.close()
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-run-") as tmp:
        figures = trio.run(main_async, Path(tmp))
        for bundle in ("bundle", "spec", "spec-no-seccomp"):
            shutil.rmtree(Path(tmp) / bundle, ignore_errors=True)
    for key, value in figures.items():
        print(f"{key:26s} {value}", file=sys.stderr)
    met = figures["ratio"] <= 1.5
    print(f"target ratio <= 1.5: {'met' if met else 'MISSED'}", file=sys.stderr)
    print(json.dumps({**figures, "target_met": met}))


if __name__ == "__main__":
    main()
