"""Run benchmark: the engine's create+start+wait+remove against bare `runc run`.

In one run, on the same root filesystem (Debian's busybox-static imported as an image):
- `engine_ms`: median of berth's own create → start → wait → remove of
  `/bin/busybox true`, in-process (no HTTP), with the event log, overlay mount, OCI spec,
  conmon and runc;
- `runc_ms`: median of bare `runc run` of the same root filesystem (runc's default spec);
- `monitor_rss_kb`: median VmRSS of conmon for running `sleep` containers;
- `concurrent_starts_per_s`: 50 create+start of `sleep` containers at once.
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

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.adapters.runc import Runtime  # noqa: E402
from berth.domain.cause import Actor, ActorKind  # noqa: E402
from berth.runtime.engine import Engine  # noqa: E402
from berth.runtime.images import ImageService  # noqa: E402
from berth.runtime.runner import Runner, running  # noqa: E402
from tests.integration.conftest import busybox_tarball  # noqa: E402

ACTOR = Actor(ActorKind.API, uid=0, pid=os.getpid())
RUNS = 15
CONCURRENT = 50


async def engine_cycle(runner: Runner) -> float:
    start = time.perf_counter()
    created = await runner.create(
        {"Image": "busybox", "Cmd": ["/bin/busybox", "true"]}, None, ACTOR
    )
    await runner.start(created.id, ACTOR)
    code = await runner.wait(created.id)
    await runner.remove(created.id, ACTOR)
    assert code == 0
    return (time.perf_counter() - start) * 1000


def runc_cycle(bundle: Path, n: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["runc", "run", "--bundle", str(bundle), f"berth-bench-{os.getpid()}-{n}"],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return (time.perf_counter() - start) * 1000


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


async def main_async(work: Path) -> dict[str, float]:
    engine = Engine(work / "berth")
    images = ImageService(engine)
    image_id = await images.import_rootfs(busybox_tarball(work / "bb.tar"), "busybox:latest", ACTOR)
    runtime = Runtime(work / "berth" / "run")
    figures: dict[str, float] = {}
    try:
        async with running(engine, images, runtime) as runner:
            await engine_cycle(runner)  # warm caches
            engine_times = [await engine_cycle(runner) for _ in range(RUNS)]
            layer = images.snapshots.layer_dir(images.image_chain(image_id)[0])
            bundle = bare_bundle(work, layer)
            runc_cycle(bundle, 0)
            runc_times = [runc_cycle(bundle, n) for n in range(1, RUNS + 1)]

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
        }
        figures["ratio"] = round(figures["engine_ms"] / figures["runc_ms"], 2)
    finally:
        engine.close()
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-run-") as tmp:
        figures = trio.run(main_async, Path(tmp))
        shutil.rmtree(Path(tmp) / "bundle", ignore_errors=True)
    for key, value in figures.items():
        print(f"{key:26s} {value}", file=sys.stderr)
    met = figures["ratio"] <= 1.5
    print(f"target ratio <= 1.5: {'met' if met else 'MISSED'}", file=sys.stderr)
    print(json.dumps({**figures, "target_met": met}))


if __name__ == "__main__":
    main()
