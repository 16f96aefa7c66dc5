"""berth's own CLI against a berthd: events, version, info, and a daemon that is not there."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from .berth_cli import berth
from .conftest import BIN, Berthd

UNREACHABLE = "Cannot connect to the berth daemon at unix://{}. Is the berth daemon running?"


def test_events_since_until_and_filters(berthd: Berthd) -> None:
    since = f"{time.time() - 1:.3f}"
    run = berth(berthd, "run", "--name", "evt", "busybox", "true")
    assert run.returncode == 0, run.stderr
    container_id = json.loads(berth(berthd, "inspect", "evt").stdout)[0]["Id"]
    listed = berth(
        berthd, "events", "--since", since, "--until", "0s", "--format", "json", timeout=20
    )
    assert listed.returncode == 0, listed.stderr
    events = [json.loads(line) for line in listed.stdout.splitlines()]
    actions = [
        e["Action"] for e in events if e["Type"] == "container" and e["Actor"]["ID"] == container_id
    ]
    assert actions[0] == "create"
    assert {"start", "die"} <= set(actions)
    only = berth(
        berthd, "events", "--since", since, "--until", "0s", "--filter", "event=start", timeout=20
    )
    lines = only.stdout.splitlines()
    assert lines and all(" container start " in line for line in lines)
    assert any(container_id in line for line in lines)
    before = berth(berthd, "events", "--since", "#0", "--until", since, "--format", "json")
    assert before.returncode == 0, before.stderr
    assert container_id not in before.stdout


def test_version_and_info_speak_to_the_daemon(berthd: Berthd) -> None:
    version = berth(berthd, "version")
    assert version.returncode == 0, version.stderr
    assert "Server:" in version.stdout and "API version:  1.41" in version.stdout
    info = berth(berthd, "info")
    assert "Images: 1" in info.stdout
    assert f"Root Dir: {berthd.root}" in info.stdout


def test_unreachable_daemon_message(tmp_path: Path) -> None:
    sock = tmp_path / "nobody.sock"
    listing = berth(sock, "ps")
    assert (listing.returncode, listing.stderr) == (1, UNREACHABLE.format(sock) + "\n")
    run = berth(sock, "run", "--rm", "busybox", "true")
    assert (run.returncode, run.stderr) == (125, UNREACHABLE.format(sock) + "\n")
    tcp = subprocess.run(
        [str(BIN / "berth"), "-H", "tcp://127.0.0.1:2375", "ps"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tcp.returncode == 2 and "unix:///PATH" in tcp.stderr
