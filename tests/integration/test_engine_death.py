"""berthd killed with SIGKILL: containers keep running, exits while it is down are not lost,
and restart policies apply again when it comes back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime.service.engine import Engine

from ..fixtures.network import network_leftovers, remove_bridge_sync
from ..fixtures.world import runtime_command
from .conftest import busybox_tarball, leftovers

BIN = Path(sys.executable).parent


def berth(root: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "berth"), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def start_berthd(root: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [str(BIN / "berthd"), "--root", str(root), "-H", f"unix://{root.parent}/berth.sock"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "berthd ready" in line, line
    return process


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def document(root: Path, ref: str) -> dict[str, object]:
    with Engine(root) as engine:
        doc: dict[str, object] = engine.inspect_container(ref)
        return doc


def state(root: Path, ref: str) -> dict[str, object]:
    found = document(root, ref)["State"]
    assert isinstance(found, dict)
    return found


def wait_for(predicate: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def runc_status(root: Path, container_id: str) -> str:
    done = subprocess.run(
        [*runtime_command(root, container_id), "state", container_id],
        capture_output=True,
        text=True,
    )
    return "missing" if done.returncode else done.stdout.split('"status": "')[1].split('"')[0]


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "berth"
    berth(root, "import", str(busybox_tarball(tmp_path / "bb.tar")), "busybox:latest")
    yield root
    with Engine(root) as engine:
        ids = [row["id"] for row in engine.views.container_rows()]
    for container_id in ids:
        subprocess.run(
            [str(BIN / "berth"), "--root", str(root), "rm", "-f", container_id],
            capture_output=True,
            timeout=60,
        )
    left = leftovers(root) + network_leftovers(root, bridge_too=False)
    remove_bridge_sync(root)
    assert left + network_leftovers(root) == []


def test_engine_sigkill_and_restart(root: Path) -> None:
    berthd = start_berthd(root)
    try:
        polite = berth(
            root,
            "run",
            "-d",
            "--name",
            "polite",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 143' TERM; while true; do sleep 0.1; done",
        )
        berth(root, "run", "-d", "--name", "sleeper", "busybox", "sleep", "100")
        berth(
            root,
            "run",
            "-d",
            "--name",
            "always",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "sleep 0.3; exit 1",
        )
        for policy in ("always", "unless-stopped"):
            berth(
                root,
                "run",
                "-d",
                "--name",
                f"stopped-{policy}",
                "--restart",
                policy,
                "busybox",
                "sleep",
                "100",
            )
            berth(root, "stop", "-t", "0", f"stopped-{policy}")
        # berthd adopted the container another process started and restarts it.
        wait_for(lambda: document(root, "always")["RestartCount"] >= 1)
        berthd.send_signal(signal.SIGKILL)
        berthd.wait(timeout=10)

        # The engine is gone; the containers are not.
        assert runc_status(root, polite) == "running"
        assert state(root, "sleeper")["Running"] is True
        # SIGTERM while the engine is down: the monitor still records the exit code.
        subprocess.run(
            [*runtime_command(root, polite), "kill", polite, "TERM"], check=True
        )
        wait_for(lambda: runc_status(root, polite) in ("stopped", "missing"))
        assert state(root, "polite")["Running"] is True  # the log does not know yet

        berthd = start_berthd(root)
        polite_state = state(root, "polite")
        assert polite_state["Status"] == "exited" and polite_state["ExitCode"] == 143
        with Engine(root) as engine:
            exited = [e for e in engine.history(polite) if e.name == "Exited"][-1]
            assert exited.data["actor"].kind.value == "reconcile"
        assert state(root, "sleeper")["Status"] == "running"
        # At boot berthd starts `always` containers even if stopped by hand, as dockerd;
        # `unless-stopped` ones stay stopped.
        wait_for(lambda: state(root, "stopped-always")["Status"] == "running")
        assert state(root, "stopped-unless-stopped")["Status"] == "exited"
        wait_for(
            lambda: (
                state(root, "always")["Status"] == "running"
                or document(root, "always")["RestartCount"] >= 3
            )
        )
    finally:
        stop(berthd)
    assert os.path.isdir(root)
