"""The engines bench/peers.py measures, each started privately and ended by its pid.

- berthd: tests/fixtures/berthd.py's launch, on the bench's work dir (`--runtime` when the
  bench is asked for another runtime and berthd has the flag);
- dockerd (Debian's docker.io) on its own data root, exec root, socket and pidfile, with
  `--bridge=none --iptables=false`: nothing of the host's network is touched; it starts
  and ends its own containerd;
- podman with its own root, runroot and tmpdir, `--cgroup-manager cgroupfs`.

Each is a `Peer`: the argv of its docker-compatible CLI, the environment for it, the extra
flags its `run` needs, the pids whose memory is its own. Whatever a peer leaves mounted
under its directories is unmounted before they are removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.berthd import DOCKER, clean_up, launch_berthd  # noqa: E402

BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
PODMAN_ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


@dataclass
class Peer:
    name: str
    cli: list[str]
    env: dict[str, str]
    run_extra: list[str] = field(default_factory=list)
    pull_extra: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    socket: Path | None = None  # berthd's: its berth CLI talks to it too
    root: Path | None = None  # berthd's: where its containers' bundles are

    def argv(self, *args: str) -> list[str]:
        return [*self.cli, *args]

    def run_argv(self, *args: str) -> list[str]:
        """`run ARGS` with the flags this engine needs on every run."""
        return [*self.cli, "run", *self.run_extra, *args]

    def call(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(
            self.argv(*args), capture_output=True, text=True, env=self.env, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout


def installed(program: str) -> bool:
    return shutil.which(program) is not None


def berthd_has_flag(flag: str) -> bool:
    helped = subprocess.run([str(BIN / "berthd"), "--help"], capture_output=True, text=True)
    return flag in helped.stdout


@contextlib.contextmanager
def berthd_peer(
    work: Path,
    registry_host: str,
    runtime: str,
    name: str = "berthd",
    env: dict[str, str] | None = None,
) -> Iterator[Peer]:
    """berthd as a peer called `name`; `env` added to its environment (e.g. a PYTHONPATH
    of another berth to compare with)."""
    args: tuple[str, ...] = ()
    if runtime != "runc" or berthd_has_flag("--runtime"):
        args = ("--runtime", runtime)  # an error when berthd has no such flag: said loudly
    daemon = launch_berthd(
        work,
        insecure=(registry_host,),
        import_busybox=False,
        args=args,
        name="peers" if name == "berthd" else name,
        env=env,
    )
    peer = Peer(
        name,
        daemon.docker_argv(),
        daemon.docker_env(),
        pids=[daemon.process.pid],
        socket=daemon.socket,
        root=daemon.root,
    )
    try:
        yield peer
    finally:
        left = clean_up(daemon)
        if left:
            print(f"berthd left: {left}", file=sys.stderr)


@contextlib.contextmanager
def dockerd_peer(work: Path) -> Iterator[Peer]:
    base = work / "dockerd"
    data, execroot, config = base / "data", base / "exec", base / "config"
    for folder in (data, execroot, config):
        folder.mkdir(parents=True)
    sock, pidfile = base / "docker.sock", base / "dockerd.pid"
    log = (base / "dockerd.log").open("w")
    process = subprocess.Popen(
        [
            "dockerd", "--data-root", str(data), "--exec-root", str(execroot),
            "-H", f"unix://{sock}", "--pidfile", str(pidfile),
            "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge=none",
            "--insecure-registry", "127.0.0.0/8", "--storage-driver", "overlay2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    env.pop("DOCKER_HOST", None)
    peer = Peer("dockerd", [DOCKER, "-H", f"unix://{sock}"], env, pids=[process.pid])
    try:
        _wait_ready(peer, process)
        peer.pids += _children(process.pid)  # its containerd
        yield peer
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            ids = peer.call("ps", "-aq").split()
            if ids:
                peer.call("rm", "-f", *ids)
        _end(process)
        log.close()
        _remove(base)


@contextlib.contextmanager
def podman_peer(work: Path, runtime: str) -> Iterator[Peer]:
    base = work / "podman"
    cli = [
        "podman", "--root", str(base / "root"), "--runroot", str(base / "runroot"),
        "--tmpdir", str(base / "tmp"), "--cgroup-manager", "cgroupfs",
        "--events-backend", "file", "--storage-driver", "overlay", "--runtime", runtime,
    ]  # fmt: skip
    peer = Peer("podman", cli, dict(os.environ), PODMAN_ULIMITS, ["--tls-verify=false"])
    try:
        yield peer
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            peer.call("rm", "-af", "-t", "0")
            peer.call("rmi", "-af")
        _remove(base)


def _wait_ready(peer: Peer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{peer.name} ended: {process.returncode}")
        try:
            peer.call("version", timeout=10)
            return
        except (RuntimeError, subprocess.TimeoutExpired):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def _end(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by pid (the daemon ends its own children), SIGKILL after a while."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _remove(base: Path) -> None:
    """Unmount what is left under `base` (deepest first), then remove it."""
    prefix = str(base) + "/"
    mounted = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(prefix)
    ]
    for point in sorted(mounted, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def rss_kb(pids: list[int]) -> int:
    """The resident memory of these processes together."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total
