"""`docker exec` with the real docker CLI against berthd: exit codes, a missing binary,
user, working dir, env, stdin, the 409s of a paused or stopped container, `/events`, and
an exit code recorded after berthd was killed and started again mid-exec."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from berth.runtime.cli.client.http import DaemonClient, DaemonError

from ..fixtures.berthd import launch_berthd
from .conftest import Berthd
from .terminal import docker_piped


def _running(berthd: Berthd, name: str = "c1") -> str:
    run = berthd.docker("run", "-d", "--name", name, "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_exec_exit_code_output_user_workdir_env(berthd: Berthd) -> None:
    _running(berthd)
    assert berthd.docker("exec", "c1", "sh", "-c", "exit 7").returncode == 7
    both = berthd.docker("exec", "c1", "sh", "-c", "echo out; echo err >&2")
    assert (both.returncode, both.stdout, both.stderr) == (0, "out\n", "err\n")
    unknown = berthd.docker("exec", "-u", "nobody", "c1", "id", "-u")
    assert unknown.returncode == 126
    assert unknown.stdout == "unable to find user nobody: no matching entries in passwd file\n"
    passwd = "echo nobody:x:65534:65534:nobody:/nonexistent:/bin/false >/etc/passwd"
    assert berthd.docker("exec", "c1", "sh", "-c", passwd).returncode == 0
    assert berthd.docker("exec", "-u", "nobody", "c1", "id", "-u").stdout == "65534\n"
    assert berthd.docker("exec", "-w", "/etc", "c1", "sh", "-c", "pwd").stdout == "/etc\n"
    env = berthd.docker("exec", "-e", "A=1", "c1", "sh", "-c", 'echo "$A $HOSTNAME"')
    assert env.stdout.split()[0] == "1" and len(env.stdout.split()) == 2


def test_exec_of_a_missing_binary_is_126_with_dockerds_message(berthd: Berthd) -> None:
    _running(berthd)
    missing = berthd.docker("exec", "c1", "nosuchbinary")
    assert missing.returncode == 126, (missing.stdout, missing.stderr)
    said = missing.stdout + missing.stderr
    assert said.startswith("OCI runtime exec failed: ")
    assert 'exec: "nosuchbinary": executable file not found in $PATH: unknown' in said


def test_exec_stdin(berthd: Berthd) -> None:
    _running(berthd)
    echoed = docker_piped(berthd, "exec", "-i", "c1", "cat", stdin=b"hi\n")
    assert (echoed.returncode, echoed.stdout) == (0, b"hi\n"), echoed.stderr


def test_exec_in_a_paused_or_stopped_container_is_409(berthd: Berthd) -> None:
    container_id = _running(berthd)
    assert berthd.docker("pause", "c1").returncode == 0
    paused = berthd.docker("exec", "c1", "true")
    assert paused.returncode != 0
    assert "Container c1 is paused, unpause the container before exec" in paused.stderr
    assert berthd.docker("unpause", "c1").returncode == 0
    assert berthd.docker("stop", "-t", "0", "c1").returncode == 0
    stopped = berthd.docker("exec", "c1", "true")
    assert f"Container {container_id} is not running" in stopped.stderr
    client = DaemonClient(f"unix://{berthd.socket}")
    try:
        for body, status in (({"Cmd": ["true"]}, 409), ({"Cmd": []}, 400)):
            try:
                client.call("POST", "/containers/c1/exec", body=body)
            except DaemonError as refused:
                assert refused.status == status
            else:
                raise AssertionError("exec create was not refused")
    finally:
        client.close()


def _exec_events(berthd: Berthd, container_id: str) -> list[dict[str, object]]:
    events = berthd.docker(
        "events", "--since", "0", "--until", str(int(time.time()) + 1),
        "--filter", f"container={container_id}", "--format", "{{json .}}",
    )  # fmt: skip
    found = [json.loads(line) for line in events.stdout.splitlines()]
    return [e for e in found if str(e["Action"]).startswith("exec_")]


def test_exec_events(berthd: Berthd) -> None:
    container_id = _running(berthd)
    assert berthd.docker("exec", "c1", "sh", "-c", "exit 7").returncode == 7
    events = _exec_events(berthd, container_id)
    actions = [e["Action"] for e in events]
    assert actions == ["exec_create: sh -c exit 7", "exec_start: sh -c exit 7", "exec_die"]
    attributes = events[2]["Actor"]["Attributes"]  # type: ignore[index]
    assert attributes["exitCode"] == "7" and attributes["name"] == "c1"
    assert len({e["Actor"]["Attributes"]["execID"] for e in events}) == 1  # type: ignore[index]


def test_exec_exit_survives_berthd_killed_and_restarted(
    tmp_path: Path, start_berthd: Callable[..., Berthd]
) -> None:
    berthd = start_berthd()
    container_id = _running(berthd)
    client = DaemonClient(f"unix://{berthd.socket}")
    body = {"Cmd": ["sh", "-c", "sleep 2; exit 5"], "AttachStdout": False}
    exec_id = client.call("POST", f"/containers/{container_id}/exec", body=body)["Id"]
    client.call("POST", f"/exec/{exec_id}/start", body={"Detach": True})
    assert client.call("GET", f"/exec/{exec_id}/json")["Running"] is True
    client.close()
    os.kill(berthd.process.pid, signal.SIGKILL)
    berthd.process.wait(10)
    time.sleep(2.5)  # the exec ends while no berthd runs
    again = launch_berthd(tmp_path)
    berthd.process = again.process  # the fixture stops and cleans up this one
    berthd.lines, berthd.reader = again.lines, again.reader
    client = DaemonClient(f"unix://{berthd.socket}")
    try:
        shown = client.call("GET", f"/exec/{exec_id}/json")
        assert (shown["ExitCode"], shown["Running"]) == (5, False)
        inspect = client.call("GET", f"/containers/{container_id}/json")
        assert inspect["ExecIDs"] is None
    finally:
        client.close()
    die = [e for e in _exec_events(berthd, container_id) if e["Action"] == "exec_die"]
    assert [e["Actor"]["Attributes"]["exitCode"] for e in die] == ["5"]  # type: ignore[index]


def test_exec_ids_privileged_and_404_once_the_container_is_removed(berthd: Berthd) -> None:
    container_id = _running(berthd)
    client = DaemonClient(f"unix://{berthd.socket}")
    try:
        body = {"Cmd": ["sleep", "300"]}
        exec_id = client.call("POST", f"/containers/{container_id}/exec", body=body)["Id"]
        assert client.call("GET", f"/containers/{container_id}/json")["ExecIDs"] == [exec_id]
        client.call("POST", f"/exec/{exec_id}/start", body={"Detach": True})
        shown = client.call("GET", f"/exec/{exec_id}/json")
        assert shown["Running"] is True and shown["Pid"] > 0 and shown["ExitCode"] is None
        again = client.request("POST", f"/exec/{exec_id}/start", body={"Detach": True})
        raise AssertionError(f"a second start answered {again.status}")
    except DaemonError as refused:
        assert refused.status == 409
        assert refused.message == f"Error: Exec command {exec_id} is already running"
    finally:
        client.close()
    capabilities = "grep CapEff /proc/self/status"
    plain = berthd.docker("exec", "c1", "sh", "-c", capabilities).stdout.split()[1]
    privileged = berthd.docker("exec", "--privileged", "c1", "sh", "-c", capabilities)
    assert int(privileged.stdout.split()[1], 16) > int(plain, 16)
    assert berthd.docker("rm", "-f", "c1").returncode == 0
    client = DaemonClient(f"unix://{berthd.socket}")
    try:
        client.call("GET", f"/exec/{exec_id}/json")
        raise AssertionError("the exec of a removed container is still there")
    except DaemonError as gone:
        assert (gone.status, gone.message) == (404, f"No such exec instance: {exec_id}")
    finally:
        client.close()
