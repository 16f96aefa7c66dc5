"""berth's own CLI in remote mode (-H / BERTH_HOST) against a berthd: run a command, read a
container's state, wait for a condition."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ..fixtures.berthd import BIN, Berthd


def berth(
    daemon: Berthd | Path, *args: str, via_env: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`berth -H unix://SOCKET ARGS` (or with BERTH_HOST set instead of -H)."""
    sock = daemon.socket if isinstance(daemon, Berthd) else daemon
    env = {k: v for k, v in os.environ.items() if k not in ("BERTH_HOST", "BERTH_ROOT")}
    # A root that does not exist: remote mode must never open the engine locally.
    env["BERTH_ROOT"] = "/nonexistent/berth-remote-test"
    host = f"unix://{sock}"
    if via_env:
        env["BERTH_HOST"] = host
        command = [str(BIN / "berth"), *args]
    else:
        command = [str(BIN / "berth"), "-H", host, *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def state_of(daemon: Berthd, ref: str) -> dict[str, object]:
    inspected = berth(daemon, "inspect", ref)
    assert inspected.returncode == 0, inspected.stderr
    (doc,) = json.loads(inspected.stdout)
    state: dict[str, object] = doc["State"]
    return state


def eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
