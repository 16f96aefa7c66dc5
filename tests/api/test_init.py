"""`--init`: tini runs as PID 1 (bound read-only at /sbin/docker-init, as dockerd's
docker-init), reaps orphans that the command never waits for and forwards signals.

What runs in the container is read from the host's /proc: the processes in the
container's PID namespace and their states.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .conftest import Berthd

# A subshell leaves `sleep 0.1` an orphan (re-parented to PID 1); `exec sleep` makes PID 1
# (without --init) a process that never waits for children, so the orphan stays a zombie.
ORPHAN_MAKER = "(sleep 0.1 &); exec sleep 300"
WAIT_S = 30.0


def init_pid(berthd: Berthd, name: str) -> int:
    shown = berthd.docker("inspect", name)
    assert shown.returncode == 0, shown.stderr
    return int(json.loads(shown.stdout)[0]["State"]["Pid"])


LONG_LIVED = b"sleep\x00300\x00"


def processes_in_namespace_of(pid: int) -> dict[int, tuple[str, str, bytes]]:
    """pid -> (command, state, cmdline) of every process in `pid`'s PID namespace."""
    namespace = os.readlink(f"/proc/{pid}/ns/pid")
    found: dict[int, tuple[str, str, bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "pid") != namespace:
                continue
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        found[int(entry.name)] = (command, stat[stat.rindex(")") + 2], cmdline)
    return found


def settled(pid: int) -> dict[int, tuple[str, str]]:
    """(command, state) of the namespace's processes once the command has become `sleep
    300` and the orphan has exited (reaped, or left a zombie)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = processes_in_namespace_of(pid)
        cmdlines = [cmdline for _, _, cmdline in found.values()]
        passing = [p for p, (_, state, cmdline) in found.items()
                   if state != "Z" and p != pid and cmdline != LONG_LIVED]  # fmt: skip
        if LONG_LIVED in cmdlines and not passing:
            return {p: (command, state) for p, (command, state, _) in found.items()}
        time.sleep(0.05)
    raise AssertionError(f"the orphan did not exit: {processes_in_namespace_of(pid)}")


def test_init_reaps_an_orphan_that_the_command_never_waits_for(berthd: Berthd) -> None:
    for name, flags in (("plain", ()), ("with-init", ("--init",))):
        ran = berthd.docker("run", "-d", "--name", name, *flags, "busybox", "sh", "-c",
                            ORPHAN_MAKER)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    try:
        plain = settled(init_pid(berthd, "plain"))
        # Without an init the orphan is a zombie for as long as the container runs ...
        assert sorted(state for _, state in plain.values()) == ["S", "Z"], plain
        pid = init_pid(berthd, "with-init")
        with_init = settled(pid)
        # ... with one, PID 1 is tini, the command its child, and the orphan reaped.
        assert sorted(with_init.values()) == [("docker-init", "S"), ("sleep", "S")], with_init
        assert with_init[pid] == ("docker-init", "S")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[:3] == [b"/sbin/docker-init", b"--", b"sh"]
    finally:
        assert berthd.docker("rm", "-f", "plain", "with-init").returncode == 0


def test_stop_under_init_reaches_a_shell_without_a_trap(berthd: Berthd) -> None:
    """PID 1 ignores signals it has no handler for: a bare `sh` as PID 1 would only end
    by SIGKILL (137). Under --init, tini forwards SIGTERM to it and exits with its status."""
    ran = berthd.docker("run", "-d", "--init", "--name", "shell", "busybox", "sh", "-c",
                        "while true; do sleep 1; done")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    try:
        assert berthd.docker("stop", "-t", "60", "shell").returncode == 0
        shown = json.loads(berthd.docker("inspect", "shell").stdout)[0]
        assert shown["State"]["ExitCode"] == 143
        assert shown["HostConfig"]["Init"] is True
    finally:
        assert berthd.docker("rm", "-f", "shell").returncode == 0
