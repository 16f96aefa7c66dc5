"""`berth version`, `info` and `events` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..integration.conftest import busybox_tarball, leftovers

BERTH = Path(sys.executable).parent / "berth"


def berth(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BERTH), "--root", str(root), *args], capture_output=True, text=True, timeout=120
    )


def test_version_info_and_events(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert "API version:  1.41" in berth(root, "version").stdout
    assert (
        berth(root, "import", str(busybox_tarball(tmp_path / "bb.tar")), "busybox").returncode == 0
    )
    assert (
        berth(root, "run", "--rm", "--name", "once", "busybox", "sh", "-c", "exit 2").returncode
        == 2
    )
    info = berth(root, "info").stdout
    assert "Containers: 0" in info and "Images: 1" in info
    listed = berth(root, "events", "--since", "#0", "--until", "0s", "--format", "json")
    every = [json.loads(line) for line in listed.stdout.splitlines()]
    # As dockerd: the container is connected to the bridge before it starts, and
    # disconnected after it dies.
    assert [(m["Type"], m["Action"]) for m in every if m["Type"] == "network"][-2:] == [
        ("network", "connect"),
        ("network", "disconnect"),
    ]
    messages = [m for m in every if m["Type"] != "network"]
    # As dockerd: an attached run attaches between create and start.
    actions = [m["Action"] for m in messages]
    assert actions == ["import", "create", "attach", "start", "die", "destroy"]
    assert messages[0]["Actor"]["ID"] == "docker.io/library/busybox:latest"
    assert messages[4]["Actor"]["Attributes"]["exitCode"] == "2"
    after_create = messages[1]["berth.position"]
    resumed = berth(
        root,
        "events",
        "--since",
        f"#{after_create}",
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--format",
        "json",
    )
    assert [json.loads(line)["Action"] for line in resumed.stdout.splitlines()] == ["die"], (
        resumed.stdout + resumed.stderr
    )
    assert leftovers(root) == []


def test_run_exit_codes_follow_docker(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert (
        berth(root, "import", str(busybox_tarball(tmp_path / "bb.tar")), "busybox").returncode == 0
    )
    missing = berth(root, "run", "--rm", "busybox", "nosuchcmd")
    assert missing.returncode == 127
    assert (
        'exec: "nosuchcmd": executable file not found in $PATH' in missing.stdout + missing.stderr
    )
    assert berth(root, "ps", "-aq").stdout == ""  # --rm removed the container that failed
    bad_name = berth(root, "run", "--name", "x", "busybox", "true")
    assert bad_name.returncode == 125
    assert "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in bad_name.stdout + bad_name.stderr
    assert berth(root, "run", "busybox", "sh", "-c", "exit 9").returncode == 9
    assert berth(root, "prune", "-f").returncode == 0
    assert leftovers(root) == []


def test_ps_sees_exits_nobody_watched_and_filters(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert (
        berth(root, "import", str(busybox_tarball(tmp_path / "bb.tar")), "busybox").returncode == 0
    )
    detached = berth(
        root,
        "run",
        "-d",
        "--name",
        "quick",
        "-l",
        "tier=web",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; exit 5",
    )
    assert detached.returncode == 0
    import time

    time.sleep(1.5)  # it exits while no berth process runs
    listed = berth(root, "ps", "-a", "--format", "json", "--filter", "label=tier=web")
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["State"] == "exited" and entry["Status"].startswith("Exited (5)")
    assert berth(root, "ps", "-a", "-q", "--filter", "exited=5").stdout.strip() == entry["Id"][:12]
    assert berth(root, "ps", "-a", "-q", "--filter", "exited=4").stdout.strip() == ""
    assert berth(root, "ps", "-q").stdout.strip() == ""
    assert berth(root, "rm", "quick").returncode == 0
    assert leftovers(root) == []
