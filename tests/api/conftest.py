"""berthd as a real process on a socket under tmp_path, driven by real clients.

`start_berthd(insecure=...)` imports a busybox image with `berth import`, starts berthd
with `--root` and `-H unix://...` under tmp_path and waits for "berthd ready". On
teardown berthd is stopped by pid (SIGTERM, then kill), every container left is removed
with `berth rm -f`, and no runc container, mount or conmon process may remain.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from ..fixtures.network import network_leftovers, remove_bridge_sync
from ..integration.conftest import busybox_tarball, leftovers

BIN = Path(sys.executable).parent
DOCKER = "/usr/local/bin/docker"
READY_TIMEOUT = 30


@dataclass
class Berthd:
    root: Path
    socket: Path
    process: subprocess.Popen[bytes]
    docker_config: Path
    ready_line: str = ""

    def docker(
        self, *args: str, timeout: float = 60, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_CONFIG": str(self.docker_config)}
        env.pop("DOCKER_HOST", None)
        return subprocess.run(
            [DOCKER, "-H", f"unix://{self.socket}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def berth(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "berth"), "--root", str(self.root), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(self.socket))
        return sock

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start_berthd(tmp_path: Path) -> Iterator[Callable[..., Berthd]]:
    started: list[Berthd] = []

    def start(
        insecure: tuple[str, ...] = (),
        import_busybox: bool = True,
        args: tuple[str, ...] = (),
        name: str = "",
    ) -> Berthd:
        """`name` gives another daemon its own root and socket (root-NAME, run-NAME)."""
        root = tmp_path / ("root" + (f"-{name}" if name else ""))
        if import_busybox and not (root / "events.db").exists():
            imported = subprocess.run(
                [
                    str(BIN / "berth"),
                    "--root",
                    str(root),
                    "import",
                    str(busybox_tarball(tmp_path / "busybox.tar")),
                    "busybox:latest",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            assert imported.returncode == 0, imported.stderr
        sock = tmp_path / ("run" + (f"-{name}" if name else "")) / "berth.sock"
        command = [str(BIN / "berthd"), "--root", str(root), "-H", f"unix://{sock}"]
        for host in insecure:
            command += ["--insecure-registry", host]
        command += args
        process = subprocess.Popen(command, stderr=subprocess.PIPE)
        config = tmp_path / "docker-config"
        config.mkdir(exist_ok=True)
        daemon = Berthd(root, sock, process, config)
        started.append(daemon)
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        assert "berthd ready" in line, line + process.stderr.read().decode()
        daemon.ready_line = line
        assert sock.is_socket()
        return daemon

    yield start
    # Every daemon is stopped and cleaned up before anything is asserted, so that one
    # daemon's failure does not leave the others' containers behind.
    tracebacks, left = [], []
    for daemon in started:
        daemon.stop()
        if daemon.process.stderr is not None:
            rest = daemon.process.stderr.read().decode(errors="replace")
            if "Traceback" in rest:
                tracebacks.append(rest)
        ids = daemon.berth("ps", "-a", "-q").stdout.split()
        if ids:
            daemon.berth("rm", "-f", *ids)
        left += leftovers(daemon.root) + network_leftovers(daemon.root, bridge_too=False)
        remove_bridge_sync(daemon.root)
        left += network_leftovers(daemon.root)
    assert tracebacks == []
    assert left == []


@pytest.fixture
def berthd(start_berthd: Callable[..., Berthd]) -> Berthd:
    return start_berthd()


METRICS = ("--metrics-addr", "127.0.0.1:0")


def base_url(daemon: Berthd) -> str:
    """The metrics and dashboard address berthd printed in its ready line."""
    found = re.search(r"metrics=(http://\S+)/metrics", daemon.ready_line)
    assert found, daemon.ready_line
    return found.group(1)


@pytest.fixture
def api(start_berthd: Callable[..., Berthd]) -> Iterator[tuple[docker.APIClient, Berthd]]:
    """berthd with metrics and the dashboard, and a docker API client on its socket."""
    daemon = start_berthd(args=METRICS)
    client = docker.APIClient(base_url=f"unix://{daemon.socket}", version="1.41", timeout=60)
    try:
        yield client, daemon
    finally:
        client.close()
