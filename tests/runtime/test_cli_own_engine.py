"""`berth` without a daemon: the command's own engine, served in-process, is found by the
next command on the root, which becomes its client instead of waiting (ADR/0024)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from berth.adapters.rootlock import RootLock
from berth.runtime.cli.client.http import DaemonClient
from berth.runtime.cli.main import main
from berth.runtime.cli.own_engine import start_own_engine
from berth.runtime.cli.session import Access, RootClient, RootFinder

from ..integration.conftest import busybox_tarball, leftovers

BERTH = Path(sys.executable).parent / "berth"


def berth(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BERTH), "--root", str(root), *args], capture_output=True, text=True, timeout=120
    )


def background(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BERTH), "--root", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def serving_socket(root: Path, process: subprocess.Popen[str]) -> str:
    """The socket of the engine `process` serves on `root`, once it answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        holder = RootLock(root).holder()
        if holder is not None and holder.pid == process.pid and holder.socket:
            probe = DaemonClient(f"unix://{holder.socket}")
            if probe.ping():
                probe.close()
                return holder.socket
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the command's engine never answered")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "root"
    imported = berth(root, "import", str(busybox_tarball(tmp_path / "bb.tar")), "busybox")
    assert imported.returncode == 0, imported.stderr
    yield root
    ids = berth(root, "ps", "-aq").stdout.split()
    if ids:
        berth(root, "rm", "-f", *ids)
    assert leftovers(root) == []


def test_a_second_command_is_a_client_of_the_first_which_serves_it_to_its_end(
    root: Path,
) -> None:
    assert berth(root, "run", "-d", "--name", "short", "busybox", "sleep", "1000").returncode == 0
    first = background(root, "wait", "short")
    socket = serving_socket(root, first)
    assert Path(socket).parent == root / "run"
    second = background(
        root, "run", "--rm", "--name", "long", "busybox", "sh", "-c", "sleep 2; echo B"
    )
    engine = DaemonClient(f"unix://{socket}")
    # Once the second command's container runs on the first's engine, the first command
    # gets its answer and ends: its engine serves the second to its end first.
    while not engine.call("GET", "/containers/json", {"filters": {"name": ["long"]}}):
        assert second.poll() is None, second.communicate()
        time.sleep(0.05)
    engine.request("POST", "/containers/short/kill").read()
    engine.close()
    assert second.communicate(timeout=60) == ("B\n", "")
    assert second.returncode == 0
    assert first.communicate(timeout=60) == ("137\n", "")
    assert first.returncode == 0
    audit = berth(root, "audit", "--format", "json", "--action", "create")
    created = [json.loads(line) for line in audit.stdout.splitlines()]
    by_name = {entry["name"]: entry["actor"] for entry in created}
    # Recorded by the first command's engine, for a caller that was another process.
    assert by_name["/long"]["kind"] == "api"
    assert by_name["/long"]["pid"] == second.pid
    assert by_name["/short"]["kind"] == "cli"
    short_id = json.loads(berth(root, "inspect", "short").stdout)[0]["Id"]
    assert berth(root, "ps", "-aq").stdout.split() == [short_id[:12]]  # `long` was removed
    assert RootLock(root).holder() is None
    assert not Path(socket).exists()


def test_a_client_whose_engine_ended_finds_the_next(root: Path) -> None:
    first = start_own_engine(root, acting=True, insecure=(), ignore_log_verification=False)
    assert first is not None
    context = click.Context(main, obj={"root": root, "host": None})
    with context:
        client = RootClient(RootFinder(context, Access.ACT, (), examines_log=False))
        assert client.path == str(first.serving.socket)
        assert client.call("GET", "/images/json")[0]["RepoTags"] == ["busybox:latest"]
        first.stop()  # its command ended: the client's kept-alive connection is closed
        assert not first.serving.socket.exists()
        assert client.call("GET", "/images/json")[0]["RepoTags"] == ["busybox:latest"]
        holder = RootLock(root).holder()
        assert holder is not None and holder.socket == client.path  # its own engine now
    assert RootLock(root).holder() is None  # ended with the command


def test_logs_with_timestamps_print_dockers_format(root: Path) -> None:
    run = berth(root, "run", "--name", "stamped", "busybox", "sh", "-c", "echo one; echo two >&2")
    assert run.returncode == 0, run.stderr
    logs = berth(root, "logs", "-t", "stamped")
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
    assert re.fullmatch(f"{stamp} one\n", logs.stdout), logs.stdout
    assert re.fullmatch(f"{stamp} two\n", logs.stderr), logs.stderr
