"""Compose benchmark: `docker-compose up -d` then `down -v` of a 10-service project, and the
latency of a service name's lookup from inside a container.

In one run: the wall time of `up -d` and of `down -v` of a project of 10 busybox services
on one network of the project's own (dockerd's figure the same way when `dockerd` is
installed, started on a root and socket of its own with `--bridge=none
--iptables=false`; else "dockerd: not installed" and its figures null). Then, with the
project up, 1,000 lookups of a service name (A, UDP) from inside one of its containers:
a tiny loop of a Python process run in the container's network namespace (its
`SandboxKey`, by `ip netns exec`) — the query goes as the container's own would, over
its veth and the bridge to berth's name server on the gateway — each round trip timed
with `perf_counter_ns` (busybox has no clock finer than a second; its `nslookup` would
time a process start); p50 and p99. The last line is one JSON object.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.daemon import private_berthd  # noqa: E402
from bench.report import report  # noqa: E402

SERVICES = 10
LOOKUPS = 1000
PROJECT = "bench"
# SIGKILL: busybox as PID 1 ignores SIGTERM, and a stop timeout would time the timeout.
SERVICE = """  s{n}:
    image: busybox
    command: sleep 3600
    stop_signal: SIGKILL
    networks: [net]
"""

# Run in the container's network namespace (`ip netns exec`): COUNT queries of NAME to
# SERVER, each timed.
LOOKUP_LOOP = """
import socket, struct, sys, time
server, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0\\0\\1\\0\\1"
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
sock.connect((server, 53))
took = []
for i in range(count + 10):
    query = struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + question
    start = time.perf_counter_ns()
    sock.send(query)
    answer = sock.recv(512)
    end = time.perf_counter_ns()
    assert answer[:2] == query[:2] and struct.unpack_from("!H", answer, 6)[0] >= 1, answer
    if i >= 10:  # the first ten warm up
        took.append(end - start)
print(" ".join(map(str, took)))
"""


def project_file(directory: Path) -> Path:
    directory.mkdir()
    services = "".join(SERVICE.format(n=n) for n in range(SERVICES))
    path = directory / "docker-compose.yml"
    path.write_text(f'version: "3.8"\nservices:\n{services}networks:\n  net: {{}}\n')
    return path


def compose(project: Path, env: dict[str, str], *args: str) -> float:
    """Seconds `docker-compose ARGS` took (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(
        ["docker-compose", "--ansi", "never", "-p", PROJECT, *args],
        cwd=project, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start


def lookup_latencies(docker: list[str], env: dict[str, str]) -> list[float]:
    """Milliseconds of each lookup of `s1` from inside the container of `s0`."""
    doc = json.loads(
        subprocess.run(
            [*docker, "inspect", f"{PROJECT}_s0_1"], env=env, check=True, capture_output=True
        ).stdout
    )[0]
    settings = doc["NetworkSettings"]
    gateway = settings["Networks"][f"{PROJECT}_net"]["Gateway"]
    done = subprocess.run(
        ["ip", "netns", "exec", Path(settings["SandboxKey"]).name,
         sys.executable, "-c", LOOKUP_LOOP, gateway, "s1", str(LOOKUPS)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [int(ns) / 1e6 for ns in done.stdout.split()]


@contextmanager
def private_dockerd(work: Path) -> Iterator[dict[str, str] | None]:
    """The environment of a docker CLI talking to a dockerd of the bench's own; None
    when dockerd is not installed."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        print("dockerd: not installed", file=sys.stderr)
        yield None
        return
    sock = work / "dockerd.sock"
    process = subprocess.Popen(
        [dockerd, "--data-root", str(work / "dockerd-root"), "--exec-root",
         str(work / "dockerd-exec"), "--pidfile", str(work / "dockerd.pid"),
         "-H", f"unix://{sock}", "--bridge=none", "--iptables=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
        deadline = time.monotonic() + 30
        while subprocess.run(["docker", "info"], env=env, capture_output=True).returncode:
            assert time.monotonic() < deadline, "dockerd did not come up"
            time.sleep(0.2)
        # The same root filesystem berthd imported (bench/daemon.py): a tarball to import.
        subprocess.run(["docker", "import", str(work / "bb.tar"), "busybox:latest"], env=env,
                       check=True, capture_output=True)  # fmt: skip
        yield env
    finally:
        process.terminate()
        process.wait(timeout=30)


def up_and_down(project: Path, env: dict[str, str]) -> tuple[float, float]:
    compose(project, env, "up", "-d")  # warm up: the first start of each piece
    compose(project, env, "down", "-v")
    return compose(project, env, "up", "-d"), compose(project, env, "down", "-v")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-compose-") as tmp:
        work = Path(tmp)
        project = project_file(work / "project").parent
        with private_berthd(work) as daemon:
            env = {**daemon.env, "DOCKER_HOST": f"unix://{daemon.sock}"}
            berth_up, berth_down = up_and_down(project, env)
            compose(project, env, "up", "-d")
            try:
                latencies = sorted(lookup_latencies(daemon.docker, daemon.env))
            finally:
                compose(project, env, "down", "-v")
        with private_dockerd(work) as dockerd_env:
            dockerd = up_and_down(project, dockerd_env) if dockerd_env else None
    berth_s = berth_up + berth_down
    dockerd_s = sum(dockerd) if dockerd else None
    figures = {
        "berth_up_s": round(berth_up, 2),
        "berth_down_s": round(berth_down, 2),
        "berth_up_down_s": round(berth_s, 2),
        "dockerd_up_down_s": None if dockerd_s is None else round(dockerd_s, 2),
        "ratio_to_dockerd": None if dockerd_s is None else round(berth_s / dockerd_s, 2),
        "dns_lookups": len(latencies),
        "dns_p50_ms": round(statistics.median(latencies), 3),
        "dns_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 3),
    }
    targets = {"dns_p50_ms <= 1": figures["dns_p50_ms"] <= 1}
    if dockerd_s is not None:
        targets["ratio_to_dockerd <= 0.5"] = berth_s <= 0.5 * dockerd_s
    report(figures, targets)


if __name__ == "__main__":
    main()
