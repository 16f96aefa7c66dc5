"""Logs benchmark: berthd's peak RSS while 1 GB of a container's output streams through it.

One berthd on a temporary root and socket, driven by the real docker CLI (its output read
and discarded). A container writes 1 GB of 1000-byte lines (`yes … | head -c`) while a
client is attached to it (`docker start -a`); then `docker logs` streams all of it, and
`docker logs --tail 5` is timed; `/_ping`'s slowest answer while `logs` streams is kept.
berthd's peak RSS is its VmHWM for each phase (reset through /proc/<pid>/clear_refs
before each). Then 200 `sleep` containers are started (`--network none`) and berthd's
RSS is read with all of them running. Everything started is removed: containers, berthd
(by pid), its bridge, the root. The last line is one JSON object; targets: every RSS
figure under 100 MB. BENCH_LOG_BYTES sets a smaller log for a quick look.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth.runtime.service.network_files import default_bridge_name  # noqa: E402
from tests.integration.conftest import busybox_tarball, leftovers  # noqa: E402

BIN = Path(sys.executable).parent
LOG_BYTES = int(os.environ.get("BENCH_LOG_BYTES", 1_000_000_000))  # smaller for a quick look
LINE = "x" * 999  # with its newline, 1000 bytes
RUNNING = 200
TARGET_MB = 100
RSS_FIGURES = (
    "peak_rss_mb_attach_1gb",
    "peak_rss_mb_streaming_1gb",
    "peak_rss_mb_tail5",
    "rss_mb_200_running",
)
T = TypeVar("T")


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_mb(pid: int, phase: Callable[[], T]) -> tuple[float, T]:
    """berthd's peak RSS while `phase` runs (VmHWM, reset first), and what it returned."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    result = phase()
    return status_kb(pid, "VmHWM") / 1024, result


class PingProbe:
    """`GET /_ping` every 50 ms on its own connection; the slowest answer, in ms."""

    def __init__(self, sock: Path) -> None:
        self.sock, self.worst_ms, self._stop = sock, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PingProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(self.sock))
            while not self._stop.wait(0.05):
                start = time.perf_counter()
                conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n")
                answer = b""
                while not answer.endswith(b"OK"):
                    answer += conn.recv(4096)
                self.worst_ms = max(self.worst_ms, (time.perf_counter() - start) * 1000)


class Docker:
    def __init__(self, sock: Path, config: Path) -> None:
        self.base = ["docker", "-H", f"unix://{sock}"]
        self.env = {**os.environ, "DOCKER_CONFIG": str(config)}

    def __call__(self, *args: str, out: int | None = subprocess.PIPE) -> str:
        done = subprocess.run(
            [*self.base, *args], stdout=out, stderr=subprocess.PIPE, env=self.env, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.decode()[-500:]}")
        return done.stdout.decode() if out == subprocess.PIPE else ""

    def remove_all(self) -> None:
        for _ in range(3):
            ids = self("ps", "-a", "-q").split()
            for start in range(0, len(ids), 20):
                subprocess.run(
                    [*self.base, "rm", "-f", *ids[start : start + 20]],
                    capture_output=True,
                    env=self.env,
                    check=False,
                )
            if not ids:
                return


def measure(docker: Docker, pid: int, sock: Path) -> dict[str, float]:
    figures: dict[str, float] = {"idle_rss_mb": status_kb(pid, "VmRSS") / 1024}
    writer = f"yes {LINE} | head -c {LOG_BYTES}"
    name = f"bench-logs-{os.getpid()}"
    docker("create", "--name", name, "--network", "none", "busybox", "sh", "-c", writer)

    def attached() -> float:
        start = time.perf_counter()
        docker("start", "-a", name, out=subprocess.DEVNULL)
        return time.perf_counter() - start

    figures["peak_rss_mb_attach_1gb"], seconds = peak_mb(pid, attached)
    figures["attach_1gb_s"] = seconds

    def streamed() -> float:
        start = time.perf_counter()
        docker("logs", name, out=subprocess.DEVNULL)
        return time.perf_counter() - start

    with PingProbe(sock) as probe:
        figures["peak_rss_mb_streaming_1gb"], seconds = peak_mb(pid, streamed)
    figures["logs_1gb_s"] = seconds
    figures["ping_worst_ms_while_streaming"] = probe.worst_ms

    def tail5() -> tuple[float, str]:
        start = time.perf_counter()
        text = docker("logs", "--tail", "5", name)
        return time.perf_counter() - start, text

    figures["peak_rss_mb_tail5"], (seconds, text) = peak_mb(pid, tail5)
    assert text.splitlines() == [LINE] * 5, text[-300:]
    figures["tail5_s"] = seconds
    docker("rm", name)

    def start_many() -> None:
        for _ in range(RUNNING):
            docker("run", "-d", "--network", "none", "busybox", "sleep", "3600")

    figures["peak_rss_mb_starting_200"], _ = peak_mb(pid, start_many)
    running = docker("ps", "-q").split()
    assert len(running) == RUNNING, len(running)
    time.sleep(2)
    figures["rss_mb_200_running"] = status_kb(pid, "VmRSS") / 1024
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-logs-") as tmp:
        work = Path(tmp)
        root, sock = work / "root", work / "berth.sock"
        tarball = busybox_tarball(work / "bb.tar")
        subprocess.run(
            [str(BIN / "berth"), "--root", str(root), "import", str(tarball), "busybox"],
            check=True,
            capture_output=True,
        )
        (work / "docker-config").mkdir()
        docker = Docker(sock, work / "docker-config")
        daemon = subprocess.Popen(
            [str(BIN / "berthd"), "--root", str(root), "-H", f"unix://{sock}"],
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        try:
            while not sock.is_socket() and daemon.poll() is None:
                time.sleep(0.1)
            time.sleep(1)
            figures = measure(docker, daemon.pid, sock)
        finally:
            docker.remove_all()
            daemon.terminate()
            daemon.wait(timeout=30)
            # berthd made the root's bridge at boot; it outlives berthd, as docker0 does.
            subprocess.run(["ip", "link", "del", default_bridge_name(root)], check=False)
            left = leftovers(root)
            if left:
                print(f"left behind: {left}", file=sys.stderr)
    figures = {key: round(value, 2) for key, value in figures.items()}
    targets = {key: figures[key] < TARGET_MB for key in RSS_FIGURES}
    for key, value in figures.items():
        print(f"{key:28s} {value}", file=sys.stderr)
    for key, met in targets.items():
        print(f"target {key} < {TARGET_MB}: {'met' if met else 'MISSED'}", file=sys.stderr)
    print(json.dumps({**figures, "leftovers": len(left), "targets_met": all(targets.values())}))


if __name__ == "__main__":
    main()
