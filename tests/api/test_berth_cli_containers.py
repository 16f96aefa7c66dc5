"""berth's own CLI against a berthd the test starts: run, create, logs, ps, inspect, stop, kill,
restart, pause, rename, wait, rm (the docker CLI's scenarios, test_docker_cli.py)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .berth_cli import berth, eventually, state_of
from .conftest import Berthd


def test_run_rm_prints_output_and_exits_0_with_berth_host(berthd: Berthd) -> None:
    result = berth(berthd, "run", "--rm", "busybox", "echo", "hi", via_env=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hi\n", "")
    assert berth(berthd, "ps", "-aq", via_env=True).stdout == ""


def test_run_exit_code_and_separate_streams(berthd: Berthd) -> None:
    result = berth(
        berthd, "run", "busybox", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"
    )
    assert result.returncode == 3
    assert (result.stdout, result.stderr) == ("to-stdout\n", "to-stderr\n")
    (entry,) = [
        json.loads(line)
        for line in berth(berthd, "ps", "-a", "--format", "json").stdout.splitlines()
    ]
    assert entry["State"] == "exited" and entry["Status"].startswith("Exited (3)")


def test_run_of_a_missing_command_is_127_and_bad_flags_125(berthd: Berthd) -> None:
    missing = berth(berthd, "run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == 127
    assert missing.stderr.startswith("Error response from daemon:")
    assert "executable file not found" in missing.stderr
    assert berth(berthd, "ps", "-aq").stdout == ""  # --rm removed it, as dockerd does
    bad = berth(berthd, "run", "-m", "lots", "busybox", "true")
    assert bad.returncode == 125
    assert "invalid size: 'lots'" in bad.stderr


def test_detached_lifecycle_ps_inspect_logs_stop_rm(berthd: Berthd) -> None:
    script = "echo out1; echo err1 >&2; sleep 30"
    run = berth(
        berthd, "run", "-d", "--name", "web1", "-l", "tier=web", "busybox", "sh", "-c", script
    )
    assert run.returncode == 0, run.stderr
    container_id = run.stdout.strip()
    assert len(container_id) == 64
    table = berth(berthd, "ps").stdout.splitlines()
    assert table[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert table[1].startswith(container_id[:12] + "   busybox   ")
    assert table[1].endswith("web1") and "Up " in table[1]
    assert (
        berth(berthd, "ps", "-q", "--filter", "label=tier=web").stdout == container_id[:12] + "\n"
    )
    assert berth(berthd, "ps", "-q", "--no-trunc").stdout == container_id + "\n"
    assert state_of(berthd, "web1")["Running"] is True
    assert eventually(lambda: berth(berthd, "logs", "web1").stderr == "err1\n")
    logs = berth(berthd, "logs", "web1")
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "out1\n", "err1\n")
    stamped = berth(berthd, "logs", "-t", "web1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out1\n", stamped.stdout)
    assert berth(berthd, "logs", "--tail", "0", "web1").stdout == ""
    started = time.monotonic()
    stop = berth(berthd, "stop", "-t", "1", "web1")
    assert (stop.returncode, stop.stdout) == (0, "web1\n"), stop.stderr
    assert time.monotonic() - started < 8
    state = state_of(berthd, "web1")
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    exited = berth(berthd, "ps", "-a", "-q", "--filter", "exited=137")
    assert exited.stdout == container_id[:12] + "\n"
    assert berth(berthd, "rm", "web1").returncode == 0
    assert berth(berthd, "ps", "-aq").stdout == ""
    gone = berth(berthd, "inspect", "web1")
    assert (gone.returncode, gone.stderr) == (1, "Error: No such object: web1\n")


def test_logs_follow_ends_when_the_container_exits(berthd: Berthd) -> None:
    script = "echo a; sleep 1; echo b >&2"
    run = berth(berthd, "run", "-d", "--name", "follow", "busybox", "sh", "-c", script)
    assert run.returncode == 0, run.stderr
    logs = berth(berthd, "logs", "-f", "follow", timeout=20)
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "a\n", "b\n")


def test_run_with_a_taken_name_is_a_conflict(berthd: Berthd) -> None:
    assert berth(berthd, "create", "--name", "taken", "busybox", "true").returncode == 0
    result = berth(berthd, "run", "--name", "taken", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.startswith(
        'Error response from daemon: Conflict. The container name "/taken" is already in use'
    )


def test_cidfile_is_written_and_an_existing_one_refused(berthd: Berthd, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    run = berth(berthd, "run", "-d", "--cidfile", str(cidfile), "busybox", "true")
    assert run.returncode == 0, run.stderr
    assert cidfile.read_text() == run.stdout.strip()
    again = berth(berthd, "run", "--cidfile", str(cidfile), "busybox", "true")
    assert again.returncode == 125
    assert "Container ID file found" in again.stderr
    assert berth(berthd, "ps", "-aq").stdout.split() == [run.stdout.strip()[:12]]


def test_kill_restart_pause_unpause_rename_wait(berthd: Berthd) -> None:
    assert berth(berthd, "run", "-d", "--name", "svc", "busybox", "sleep", "30").returncode == 0
    assert berth(berthd, "pause", "svc").stdout == "svc\n"
    assert state_of(berthd, "svc")["Status"] == "paused"
    assert berth(berthd, "unpause", "svc").returncode == 0
    assert berth(berthd, "rename", "svc", "svc2").returncode == 0
    restarted = berth(berthd, "restart", "-t", "0", "svc2")
    assert restarted.returncode == 0, restarted.stderr
    assert state_of(berthd, "svc2")["Running"] is True
    assert berth(berthd, "kill", "svc2").returncode == 0
    wait = berth(berthd, "wait", "svc2")
    assert (wait.returncode, wait.stdout) == (0, "137\n")
    again = berth(berthd, "kill", "svc2")
    assert again.returncode == 1
    assert again.stderr.startswith("Error response from daemon:")
    assert "is not running" in again.stderr
    refused = berth(berthd, "rm", "svc2", "nothere")
    assert refused.returncode == 1  # docker goes on after a failed ref, then exits 1
    assert refused.stdout == "svc2\n"
    assert "No such container: nothere" in refused.stderr
