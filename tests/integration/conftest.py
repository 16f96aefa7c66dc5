"""A real engine for lifecycle tests: busybox imported, runc under conmon, leftovers checked."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from berth.adapters.runc import Runtime
from berth.domain.errors import NotFound
from berth.runtime.demo import busybox_rootfs
from berth.runtime.service.engine import Engine
from berth.runtime.service.images import ImageService
from berth.runtime.service.runner import Runner, running

from ..conftest import API
from ..fixtures.network import network_leftovers, remove_bridge
from ..fixtures.world import runc_states, runtime_command

APPLETS = (
    *("sh", "echo", "true", "sleep", "cat", "ls", "id", "hostname", "grep", "head", "trap"),
    *("ping", "httpd", "wget", "nc", "ip", "ifconfig", "mkdir", "dd"),
)
USERS = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    "etc/group": "root:x:0:\napp:x:1000:\n",
}


def busybox_tarball(path: Path) -> Path:
    """Debian's busybox-static with the applets and users the tests use."""
    return busybox_rootfs(path, APPLETS, USERS)


@dataclass
class Stack:
    root: Path
    engine: Engine
    images: ImageService
    runtime: Runtime
    runner: Runner

    def body(self, *cmd: str, **extra: object) -> dict[str, object]:
        return {"Image": "busybox", "Cmd": list(cmd), **extra}

    async def run(self, *cmd: str, name: str | None = None, **extra: object) -> str:
        created = await self.runner.create(self.body(*cmd, **extra), name, API)
        await self.runner.start(created.id, API)
        return created.id


def leftovers(root: Path) -> list[str]:
    found = []
    found += [f"runc container {c}" for c in runc_states(root)]
    with open("/proc/self/mountinfo") as info:
        found += [f"mount {line.split()[4]}" for line in info if str(root) in line]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"conmon" in cmdline and str(root).encode() in cmdline:
                found.append(f"conmon {pid}")
    return found


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    root = tmp_path / "berth"
    engine = Engine(root)
    images = ImageService(engine)
    await images.import_rootfs(busybox_tarball(tmp_path / "busybox.tar"), "busybox:latest", API)
    runtime = Runtime(root / "run")
    try:
        async with running(engine, images, runtime, daemon=True) as runner:
            yield Stack(root, engine, images, runtime, runner)
            for row in engine.views.container_rows():
                with contextlib.suppress(NotFound):  # an auto-remove may get there first
                    await runner.remove(row["id"], API, force=True)
    finally:
        engine.close()
        left = leftovers(root) + network_leftovers(root, bridge_too=False)
        await remove_bridge(root)
        left += network_leftovers(root)
        for line in left:
            if line.startswith("runc container"):
                cid = line.split()[-1]
                subprocess.run([*runtime_command(root, cid), "delete", "-f", cid], check=False)
        assert left == []
