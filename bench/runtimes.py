"""Runtime benchmark: crun against runc, through berth and bare, in one run (ADR/0040).

On the same root filesystem (busybox imported as an image), `/bin/busybox true` with no
network, each figure a median (and a minimum) of RUNS, crun and runc taking turns:
- `engine_<rt>_ms`: berth's in-process create → start → wait → remove (bench/run.py's
  cycle) with `HostConfig.Runtime` = rt, and each phase (`engine_<rt>_start_ms`, ...);
- `docker_run_<rt>_ms`: `docker run --rm --runtime rt` through a private berthd;
- `bare_<rt>_berth_spec_ms`: bare `<rt> run` of the config.json berth hands that runtime
  (for crun, with the compiled seccomp program in its annotation);
- `bare_<rt>_default_spec_ms`: bare `<rt> run` of runc's default spec (no seccomp).
Target (issue 16): the engine cycle with crun <= 1.0x bare crun running berth's own
config.json. The last line is one JSON object.
"""

from __future__ import annotations

import os
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
from bench.run import ACTOR, bare_bundle, engine_cycle, engine_spec, spec_bundle  # noqa: E402
from berth.adapters.runc import Runtime  # noqa: E402
from berth.domain.runtimes import RuntimeNames  # noqa: E402
from berth.runtime.service.engine import Engine  # noqa: E402
from berth.runtime.service.images import ImageService  # noqa: E402
from berth.runtime.service.runner import running  # noqa: E402
from tests.integration.conftest import busybox_tarball  # noqa: E402

RUNS = 15
RUNTIMES = ("crun", "runc")


def summary(samples: dict[str, list[float]]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, times in samples.items():
        figures[f"{name}_ms"] = round(statistics.median(times), 1)
        figures[f"{name}_min_ms"] = round(min(times), 1)
    return figures


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, env=env)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.decode().strip()}")
    return elapsed


def bare_runs(work: Path, bundles: dict[str, Path], samples: dict[str, list[float]]) -> None:
    """`<rt> run` of each bundle (name → bundle; the name starts with the runtime)."""
    for n in range(-1, RUNS):  # the first round warms caches and is not kept
        for name, bundle in bundles.items():
            binary = name.split("_")[1]
            state = work / "state" / binary
            took = timed([binary, "--root", str(state), "run", "--bundle", str(bundle),
                          f"bench-{os.getpid()}-{name}-{n}"])  # fmt: skip
            if n >= 0:
                samples.setdefault(name, []).append(took)


async def in_process(work: Path, samples: dict[str, list[float]]) -> None:
    engine = Engine(work / "berth", sole_writer=True)  # as berthd, which holds the root lock
    engine.runtime_names = RuntimeNames("crun", RUNTIMES)
    images = ImageService(engine)
    image_id = await images.import_rootfs(busybox_tarball(work / "bb.tar"), "busybox:latest", ACTOR)
    runtime = Runtime(
        work / "berth" / "run", runtimes={rt: rt for rt in RUNTIMES}, default_runtime="crun"
    )
    try:
        async with running(engine, images, runtime) as runner:
            for n in range(-1, RUNS):
                for rt in RUNTIMES:
                    cycle = await engine_cycle(runner, {"NetworkMode": "none", "Runtime": rt})
                    if n >= 0:
                        for phase, took in cycle.items():
                            key = f"engine_{rt}" + ("" if phase == "total" else f"_{phase}")
                            samples.setdefault(key, []).append(took)
            layer = images.snapshots.layer_dir(images.image_chain(image_id)[0])
            bundles: dict[str, Path] = {}
            for rt in RUNTIMES:
                (work / rt).mkdir()
                bundles[f"bare_{rt}_default_spec"] = bare_bundle(work / rt, layer)
                hc = {"NetworkMode": "none", "Runtime": rt}
                spec = await engine_spec(runner, work, hc, files_dir=f"files-{rt}")
                name = f"bare_{rt}_berth_spec"
                bundles[name] = spec_bundle(work, name, spec, layer)
            bare_runs(work, bundles, samples)
    finally:
        engine.close()


def through_berthd(work: Path, samples: dict[str, list[float]]) -> None:
    """`docker run --rm` through a private berthd with each runtime."""
    (work / "daemon").mkdir()
    with private_berthd(work / "daemon") as daemon:
        for n in range(-1, RUNS):
            for rt in RUNTIMES:
                run = ["run", "--rm", "--network", "none", "--runtime", rt, "busybox", "true"]
                took = timed([*daemon.docker, *run], daemon.env)
                if n >= 0:
                    samples.setdefault(f"docker_run_{rt}", []).append(took)


def main() -> None:
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-runtimes-") as tmp:
        trio.run(in_process, Path(tmp), samples)
        through_berthd(Path(tmp), samples)
    figures: dict[str, Any] = summary(samples)
    for rt in RUNTIMES:
        figures[f"engine_{rt}_over_bare_berth_spec"] = round(
            figures[f"engine_{rt}_ms"] / figures[f"bare_{rt}_berth_spec_ms"], 2
        )
    figures["crun_over_runc_engine"] = round(
        figures["engine_crun_ms"] / figures["engine_runc_ms"], 2
    )
    figures["crun_over_runc_docker_run"] = round(
        figures["docker_run_crun_ms"] / figures["docker_run_runc_ms"], 2
    )
    target = figures["engine_crun_over_bare_berth_spec"] <= 1.0
    report(figures, {"engine crun <= 1.0x bare crun with berth's config.json": target}, 34)


if __name__ == "__main__":
    main()
