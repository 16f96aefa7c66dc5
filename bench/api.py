"""API benchmark: `docker run --rm` through berthd against `berth run --rm` and bare runc.

In one run: the median of `docker run --rm --network none busybox /bin/busybox true`
through the real docker CLI against berthd, of `berth -H unix://... run --rm` with the same
arguments (berth's CLI as a client of the same berthd), and of bare `runc run` of the same
root filesystem; `docker ps -a` with 0 and with 1,000 exited containers; berthd's idle RSS.
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
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.daemon import private_berthd  # noqa: E402
from bench.report import report  # noqa: E402
from bench.run import bare_bundle  # noqa: E402
from berth.domain.cause import Actor, ActorKind  # noqa: E402
from berth.runtime.service.engine import Engine  # noqa: E402

BIN = Path(sys.executable).parent
RUNS = 10
EXITED = 1000
ACTOR = Actor(ActorKind.API, uid=0, pid=os.getpid())


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, stdin=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def median_of(command: list[str], env: dict[str, str] | None = None, runs: int = RUNS) -> float:
    timed(command, env)  # warm up
    return statistics.median(timed(command, env) for _ in range(runs))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def add_exited_containers(root: Path, count: int) -> None:
    """Exited containers as the log records them (ps reads only the projections)."""
    with Engine(root) as engine:
        for _ in range(count):
            cid = engine.create_container({"Image": "busybox", "Cmd": ["true"]}, None, ACTOR).id
            engine.start(cid, ACTOR)
            engine.record(cid, lambda c, k: c.mark_started(1, k.at, k), ACTOR)
            engine.record(
                cid, lambda c, k: c.mark_exited(0, False, k.at + timedelta(seconds=1), k), ACTOR
            )


def bare_runc_bundle(work: Path, root: Path) -> Path:
    with Engine(root) as engine:
        image_id = engine.images.resolve("busybox")
        diff_id = engine.images.aggregate(image_id).layers[0]["diff_id"]  # type: ignore[union-attr]
    return bare_bundle(
        work, root / "snapshots" / "layers" / diff_id.removeprefix("sha256:") / "diff"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-api-") as tmp:
        work = Path(tmp)
        with private_berthd(work) as daemon:
            root, sock, env, docker = daemon.root, daemon.sock, daemon.env, daemon.docker
            time.sleep(1)
            idle_rss = rss_mb(daemon.pid)
            args = ["run", "--rm", "--network", "none", "busybox", "/bin/busybox", "true"]
            docker_ms = median_of([*docker, *args], env)
            # As installed (pip compiles bytecode), not as this sandbox runs Python
            # (PYTHONDONTWRITEBYTECODE would recompile every module on every command).
            cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            berth_ms = median_of([str(BIN / "berth"), "-H", f"unix://{sock}", *args], cached)
            bundle = bare_runc_bundle(work, root)
            n = iter(range(10_000))
            runc_ms = statistics.median(
                timed(
                    [
                        "runc",
                        "run",
                        "--bundle",
                        str(bundle),
                        f"berth-api-bench-{os.getpid()}-{next(n)}",
                    ]
                )
                for _ in range(RUNS)
            )
            ps_0 = median_of([*docker, "ps", "-a"], env)
            add_exited_containers(root, EXITED)
            ps_1000 = median_of([*docker, "ps", "-a"], env)
        shutil.rmtree(work / "bundle", ignore_errors=True)
    figures = {
        "docker_cli_run_ms": round(docker_ms, 1),
        "berth_cli_run_ms": round(berth_ms, 1),
        "runc_ms": round(runc_ms, 1),
        "docker_cli_ratio": round(docker_ms / runc_ms, 2),
        "berth_cli_ratio": round(berth_ms / runc_ms, 2),
        "ps_0_ms": round(ps_0, 1),
        "ps_1000_ms": round(ps_1000, 1),
        "berthd_idle_rss_mb": round(idle_rss, 1),
    }
    targets = {
        "docker_cli_ratio <= 2.0": figures["docker_cli_ratio"] <= 2.0,
        "berth_cli_ratio <= 3.0": figures["berth_cli_ratio"] <= 3.0,
        "berthd_idle_rss_mb <= 55": figures["berthd_idle_rss_mb"] <= 55,
    }
    report(figures, targets)


if __name__ == "__main__":
    main()
