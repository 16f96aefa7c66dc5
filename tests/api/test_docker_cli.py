"""The real docker CLI (28.x) against berthd: every command of the capture and more."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from tests.fixtures.images import make_image
from tests.fixtures.layers import busybox_layer
from tests.fixtures.registry import RunningRegistry

from .conftest import Berthd


def test_ping_version_and_info(berthd: Berthd) -> None:
    version = berthd.docker("version", "--format", "{{json .Server}}")
    assert version.returncode == 0, version.stderr
    server = json.loads(version.stdout)
    assert server["ApiVersion"] == "1.41"
    assert server["MinAPIVersion"] == "1.24"
    info = berthd.docker("info", "--format", "{{json .}}")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["Images"] == 1


def test_run_rm_prints_output_and_exits_0(berthd: Berthd) -> None:
    result = berthd.docker("run", "--rm", "busybox", "echo", "hi")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    assert berthd.docker("ps", "-aq").stdout == ""


def test_run_exit_code_and_stderr(berthd: Berthd) -> None:
    result = berthd.docker("run", "busybox", "sh", "-c", "exit 3")
    assert result.returncode == 3, result.stderr
    streams = berthd.docker(
        "run", "--rm", "busybox", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 4"
    )
    assert streams.returncode == 4
    assert streams.stdout == "to-stdout\n"
    assert streams.stderr == "to-stderr\n"


def test_detached_lifecycle_ps_inspect_logs_stop_rm(berthd: Berthd) -> None:
    run = berthd.docker(
        "run", "-d", "--name", "web1", "busybox", "sh", "-c", "echo out1; echo err1 >&2; sleep 30"
    )
    assert run.returncode == 0, run.stderr
    container_id = run.stdout.strip()
    assert len(container_id) == 64
    ps = berthd.docker("ps", "--format", "{{.ID}} {{.Names}} {{.State}}")
    assert ps.stdout.split() == [container_id[:12], "web1", "running"]
    inspect = berthd.docker("inspect", "web1")
    assert inspect.returncode == 0, inspect.stderr
    (doc,) = json.loads(inspect.stdout)
    assert doc["Id"] == container_id
    assert doc["State"]["Running"] is True
    deadline = time.monotonic() + 10
    while True:
        logs = berthd.docker("logs", "web1")
        if (logs.stdout == "out1\n" and logs.stderr == "err1\n") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "out1\n", "err1\n")
    started = time.monotonic()
    stop = berthd.docker("stop", "-t", "1", "web1")
    assert stop.returncode == 0, stop.stderr
    assert time.monotonic() - started < 8
    state = berthd.docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web1")
    assert state.stdout.split() == ["exited", "137"]
    exited = berthd.docker("ps", "-a", "--filter", "exited=137", "--format", "{{.Names}}")
    assert exited.stdout.split() == ["web1"]
    assert berthd.docker("rm", "web1").returncode == 0
    assert berthd.docker("ps", "-aq").stdout == ""
    assert berthd.docker("inspect", "web1").returncode != 0


def test_create_then_start_and_start_attached(berthd: Berthd) -> None:
    create = berthd.docker("create", "--name", "made", "busybox", "echo", "created")
    assert create.returncode == 0, create.stderr
    status = berthd.docker("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}")
    assert status.stdout.split() == ["made"]
    attached = berthd.docker("start", "-a", "made")
    assert (attached.returncode, attached.stdout) == (0, "created\n"), attached.stderr
    wait = berthd.docker("wait", "made")
    assert wait.stdout.strip() == "0"
    again = berthd.docker("start", "made")
    assert again.returncode == 0, again.stderr


def test_start_failure_is_docker_error(berthd: Berthd) -> None:
    assert berthd.docker("create", "--name", "badcmd", "busybox", "no-such-cmd").returncode == 0
    start = berthd.docker("start", "badcmd")
    assert start.returncode == 1
    assert "Error response from daemon" in start.stderr


def test_run_with_a_taken_name_is_a_conflict(berthd: Berthd) -> None:
    assert berthd.docker("create", "--name", "taken", "busybox", "true").returncode == 0
    result = berthd.docker("run", "--name", "taken", "busybox", "true")
    assert result.returncode == 125
    assert 'Conflict. The container name "/taken" is already in use by container' in result.stderr


def test_kill_restart_pause_unpause_rename_wait(berthd: Berthd) -> None:
    assert berthd.docker("run", "-d", "--name", "svc", "busybox", "sleep", "30").returncode == 0
    assert berthd.docker("pause", "svc").returncode == 0
    paused = berthd.docker("inspect", "--format", "{{.State.Status}}", "svc")
    assert paused.stdout.strip() == "paused"
    assert berthd.docker("unpause", "svc").returncode == 0
    assert berthd.docker("rename", "svc", "svc2").returncode == 0
    assert berthd.docker("kill", "svc2").returncode == 0
    wait = berthd.docker("wait", "svc2")
    assert wait.stdout.strip() == "137"
    kill_stopped = berthd.docker("kill", "svc2")
    assert kill_stopped.returncode == 1
    assert "is not running" in kill_stopped.stderr
    assert berthd.docker("rm", "svc2").returncode == 0


def test_rm_force_and_prune(berthd: Berthd) -> None:
    assert berthd.docker("run", "-d", "--name", "live", "busybox", "sleep", "30").returncode == 0
    refused = berthd.docker("rm", "live")
    assert refused.returncode == 1
    assert "You cannot remove a running container" in refused.stderr
    assert berthd.docker("rm", "-f", "live").returncode == 0
    assert berthd.docker("create", "busybox", "true").returncode == 0
    prune = berthd.docker("container", "prune", "-f")
    assert prune.returncode == 0, prune.stderr
    assert berthd.docker("ps", "-aq").stdout == ""


def test_images_tag_inspect_rmi(berthd: Berthd) -> None:
    images = berthd.docker("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert images.stdout.split() == ["busybox:latest"]
    assert berthd.docker("tag", "busybox", "mybox:v1").returncode == 0
    only = berthd.docker("images", "mybox", "--format", "{{.Repository}}:{{.Tag}}")
    assert only.stdout.split() == ["mybox:v1"]
    labelled = berthd.docker("images", "--filter", "label=nothing", "-q")
    assert (labelled.returncode, labelled.stdout) == (0, "")
    inspect = berthd.docker("image", "inspect", "mybox:v1")
    assert inspect.returncode == 0, inspect.stderr
    rmi = berthd.docker("rmi", "mybox:v1")
    assert rmi.returncode == 0, rmi.stderr
    assert "Untagged: mybox:v1" in rmi.stdout
    missing = berthd.docker("image", "inspect", "nothere")
    assert missing.returncode == 1


def test_pull_and_run_of_an_image_not_yet_pulled(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry
) -> None:
    registry.push("library/busybox", make_image([busybox_layer()]))
    registry.push("library/other", make_image([busybox_layer()]))
    daemon = start_berthd(insecure=(registry.host,))
    ref = f"{registry.host}/library/busybox:latest"
    pull = daemon.docker("pull", ref)
    assert pull.returncode == 0, pull.stderr
    assert "Status: Downloaded newer image for" in pull.stdout
    assert ref in daemon.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    other = f"{registry.host}/library/other:latest"
    run = daemon.docker("run", "--rm", other, "echo", "pulled")
    assert run.returncode == 0, run.stderr
    assert run.stdout.endswith("pulled\n")
    assert f"Unable to find image '{other}' locally" in run.stderr
    missing = daemon.docker("pull", f"{registry.host}/library/absent:latest")
    assert missing.returncode == 1
    assert "Error response from daemon" in missing.stderr


def test_logs_follow_ends_when_the_container_exits(berthd: Berthd) -> None:
    run = berthd.docker(
        "run", "-d", "--name", "follow", "busybox", "sh", "-c", "echo a; sleep 1; echo b"
    )
    assert run.returncode == 0, run.stderr
    logs = berthd.docker("logs", "-f", "follow", timeout=20)
    assert (logs.returncode, logs.stdout) == (0, "a\nb\n")


def test_ps_filters_and_limit(berthd: Berthd) -> None:
    first = berthd.docker("create", "--name", "one", "-l", "tier=web", "busybox", "true")
    second = berthd.docker("create", "--name", "two", "-l", "tier=db", "busybox", "true")
    assert first.returncode == 0 and second.returncode == 0

    def names(*args: str) -> list[str]:
        result = berthd.docker("ps", "-a", "--format", "{{.Names}}", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert names() == ["two", "one"]
    assert names("--filter", "label=tier=web") == ["one"]
    assert names("--filter", "label=tier") == ["two", "one"]
    assert names("--filter", "name=^tw") == ["two"]
    assert names("--filter", f"id={first.stdout.strip()[:8]}") == ["one"]
    assert names("--filter", "ancestor=busybox") == ["two", "one"]
    assert names("--filter", "ancestor=other") == []
    assert names("--filter", "before=two") == ["one"]
    assert names("--filter", "since=one") == ["two"]
    assert names("-n", "1") == ["two"]
    assert names("--filter", "status=running") == []
