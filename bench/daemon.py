"""A private berthd for a bench: its own root with busybox imported, its own socket, and
the docker CLI's arguments and environment to talk to it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from berth.runtime.service.network_files import default_bridge_name
from tests.integration.conftest import busybox_tarball

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class PrivateBerthd:
    pid: int
    root: Path
    sock: Path
    docker: list[str]  # the docker CLI's command line for this daemon
    env: dict[str, str]  # with a docker config of its own


@contextmanager
def private_berthd(work: Path, bin_dir: Path = BIN) -> Iterator[PrivateBerthd]:
    """`bin_dir`: where the berth and berthd to run are (another build's, for an A/B)."""
    root, sock = work / "root", work / "berth.sock"
    subprocess.run(
        [str(bin_dir / "berth"), "--root", str(root), "import",
         str(busybox_tarball(work / "bb.tar")), "busybox"],
        check=True, capture_output=True,
    )  # fmt: skip
    daemon = subprocess.Popen(
        [str(bin_dir / "berthd"), "--root", str(root), "-H", f"unix://{sock}"],
        stderr=subprocess.PIPE,
    )
    try:
        assert daemon.stderr is not None
        assert b"berthd ready" in daemon.stderr.readline()
        (work / "docker-config").mkdir()
        env = {**os.environ, "DOCKER_CONFIG": str(work / "docker-config")}
        yield PrivateBerthd(daemon.pid, root, sock, ["docker", "-H", f"unix://{sock}"], env)
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
        # berthd made the root's bridge at boot; it outlives berthd, as docker0 does.
        subprocess.run(["ip", "link", "del", default_bridge_name(root)], check=False)
