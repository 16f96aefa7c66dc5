"""Exec benchmark: `docker exec` through berthd against the bare runtime's `exec`, and stdin
throughput of `docker run -i` against a host pipe.

In one run, on a private berthd with one running container (`--network none`): the median
of `docker exec C /bin/busybox true` through the real docker CLI, and of the bare `exec` of
the runtime that created it (its own state of it, no monitor); then 100 MB written to the
stdin of `docker run -i --rm busybox cat` and read back from its stdout, in MB/s, against
the same bytes through `cat` on the host. The last line is one JSON object.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import median_of, timed  # noqa: E402
from bench.daemon import private_berthd  # noqa: E402
from bench.report import report  # noqa: E402

RUNS = 20
RUNTIME = "runc"
STDIN_MB = 100
CHUNK = b"0123456789abcdef" * 4096  # 64 KiB


def through(command: list[str], env: dict[str, str] | None = None) -> float:
    """MB/s of STDIN_MB written to `command`'s stdin and read back from its stdout."""
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=env,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    total = STDIN_MB * 1024 * 1024
    received = 0

    def feed() -> None:
        assert process.stdin is not None
        for _ in range(total // len(CHUNK)):
            process.stdin.write(CHUNK)
        process.stdin.close()

    start = time.perf_counter()
    writer = threading.Thread(target=feed)
    writer.start()
    while data := process.stdout.read1(1 << 20):
        received += len(data)
    writer.join()
    process.wait()
    seconds = time.perf_counter() - start
    assert received == total, f"{command[-3:]}: read {received} of {total} bytes"
    return total / (1024 * 1024) / seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-exec-") as tmp:
        work = Path(tmp)
        with private_berthd(work) as daemon:
            docker, env = daemon.docker, daemon.env
            # The baseline is bare `runc exec` of the same container: a runc one,
            # whatever berthd's default (crun's own exec is a fifth of runc's, ADR 0053).
            run = [*docker, "run", "-d", "--network", "none", "--runtime", RUNTIME, "busybox",
                   "sleep", "1000"]  # fmt: skip
            container_id = subprocess.run(
                run, check=True, capture_output=True, text=True, env=env
            ).stdout.strip()
            try:
                exec_ms = median_of([*docker, "exec", container_id, "/bin/busybox", "true"], env,
                                    runs=RUNS)  # fmt: skip
                # Bare `exec` of the same runtime, on its own state of the container.
                bare = [RUNTIME, "--root", str(daemon.root / "run" / RUNTIME)]
                bare_ms = median_of([*bare, "exec", container_id, "/bin/busybox", "true"],
                                    runs=RUNS)  # fmt: skip
                inspect = subprocess.run(
                    [*docker, "inspect", container_id], capture_output=True, text=True, env=env
                )
                exec_ids = json.loads(inspect.stdout)[0]["ExecIDs"]
            finally:
                timed([*docker, "rm", "-f", container_id], env)
            cat = [*docker, "run", "-i", "--rm", "--network", "none", "busybox", "cat"]
            docker_mbps = through(cat, env)
        host_mbps = through(["cat"])
    figures = {
        "docker_exec_ms": round(exec_ms, 1),
        "runtime": RUNTIME,
        "bare_exec_ms": round(bare_ms, 1),
        "exec_ratio": round(exec_ms / bare_ms, 2),
        "execs_left_running": len(exec_ids or []),
        "run_i_cat_mb_s": round(docker_mbps, 1),
        "host_cat_mb_s": round(host_mbps, 1),
        "stdin_ratio": round(docker_mbps / host_mbps, 3),
    }
    targets = {
        "exec_ratio <= 2.0": figures["exec_ratio"] <= 2.0,
        "stdin_ratio >= 0.3": figures["stdin_ratio"] >= 0.3,
    }
    report(figures, targets)


if __name__ == "__main__":
    main()
