"""Container defaults and policies with real runc: limits, capabilities, users, failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from berth.adapters.logs import read_log
from berth.domain.errors import NotFound
from berth.runtime.views.prune_filters import PruneFilters

from ..conftest import API
from .conftest import Stack

pytestmark = pytest.mark.slow
BERTH = Path(sys.executable).parent / "berth"


async def output_of(stack: Stack, *cmd: str, **extra: object) -> tuple[int, list[str]]:
    cid = await stack.run(*cmd, **extra)
    with trio.fail_after(30):
        code = await stack.runner.wait(cid)
    lines = [line.text.decode() for line in read_log(stack.runner.log_path(cid))]
    return code, lines


async def test_a_memory_limit_oom_kills_and_is_recorded(stack: Stack) -> None:
    cid = await stack.run(
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
        HostConfig={"Memory": 16 * 1024 * 1024, "MemorySwap": 16 * 1024 * 1024},
    )
    with trio.fail_after(60):
        code = await stack.runner.wait(cid)
    state = stack.engine.inspect_container(cid)["State"]
    assert code == 137
    assert state["OOMKilled"] is True


async def test_capabilities_are_the_defaults_unless_added(stack: Stack) -> None:
    _, default = await output_of(stack, "grep", "CapEff", "/proc/self/status")
    _, added = await output_of(
        stack, "grep", "CapEff", "/proc/self/status", HostConfig={"CapAdd": ["NET_ADMIN"]}
    )
    assert default == ["CapEff:\t00000000a80425fb"]
    assert added == ["CapEff:\t00000000a80435fb"]


async def test_user_workdir_hostname_and_read_only_root(stack: Stack) -> None:
    code, lines = await output_of(
        stack,
        "sh",
        "-c",
        "id -u; pwd; hostname; touch /x 2>/dev/null || echo read-only",
        User="app",
        WorkingDir="/srv/app",
        Hostname="box",
        HostConfig={"ReadonlyRootfs": True},
    )
    assert code == 0
    assert lines == ["1000", "/srv/app", "box", "read-only"]


async def test_on_failure_stops_after_its_retry_count(stack: Stack) -> None:
    cid = await stack.run(
        "sh",
        "-c",
        "exit 2",
        HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
    )
    with trio.fail_after(30):
        while True:
            doc = stack.engine.inspect_container(cid)
            if doc["RestartCount"] == 2 and doc["State"]["Status"] == "exited":
                break
            await trio.sleep(0.05)
    await trio.sleep(1)  # a third restart would have been scheduled by now
    doc = stack.engine.inspect_container(cid)
    assert doc["RestartCount"] == 2 and doc["State"]["Status"] == "exited"
    assert doc["State"]["ExitCode"] == 2


async def test_a_create_that_cannot_prepare_is_cleaned_up_and_frees_its_name(stack: Stack) -> None:
    # An image whose layers berth does not have: recorded, but nothing to mount.
    stack.engine.images.record_loaded(
        "sha256:" + "7" * 64,
        {
            "config": {"Cmd": ["true"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "8" * 64]},
        },
        [
            {
                "digest": "sha256:" + "9" * 64,
                "diff_id": "sha256:" + "8" * 64,
                "size": 1,
                "media_type": "application/vnd.oci.image.layer.v1.tar",
            }
        ],
        1,
        ["hollow:latest"],
        API,
    )
    with pytest.raises(Exception, match="not unpacked"):
        await stack.runner.create({"Image": "hollow"}, "taken", API)
    with pytest.raises(NotFound):
        stack.engine.inspect_container("taken")
    assert stack.engine.list_containers(all=True) == []
    cid = await stack.run("true", name="taken")  # the name was released
    assert stack.engine.inspect_container("taken")["Id"] == cid


async def test_wait_next_exit_and_prune(stack: Stack) -> None:
    done = await stack.run("true")
    with trio.fail_after(20):
        await stack.runner.wait(done)
    busy = await stack.run("sleep", "100")
    async with trio.open_nursery() as nursery:
        codes: list[int] = []

        async def waiter() -> None:
            codes.append(await stack.runner.wait(busy, "next-exit"))

        nursery.start_soon(waiter)
        await trio.sleep(0.2)
        await stack.runner.kill(busy, API, "SIGKILL")
    assert codes == [137]
    pruned, _ = await stack.runner.prune(API, PruneFilters())
    assert set(pruned) == {done, busy}
    assert stack.engine.list_containers(all=True) == []


def test_logs_and_ps_from_the_cli(tmp_path: Path) -> None:
    from .conftest import busybox_tarball, leftovers

    root = tmp_path / "berth"

    def berth(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BERTH), "--root", str(root), *args], capture_output=True, text=True, timeout=60
        )

    assert berth("import", str(busybox_tarball(tmp_path / "bb.tar")), "busybox").returncode == 0
    run = berth(
        "run",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two; echo three >&2; exit 4",
    )
    assert run.returncode == 4
    assert run.stdout == "one\ntwo\n" and run.stderr == "three\n"
    tail = berth("logs", "--tail", "1", "-t", "talker")
    assert tail.stdout == "" and tail.stderr.endswith("Z three\n")
    ps = berth("ps", "-a")
    assert "Exited (4)" in ps.stdout and "talker" in ps.stdout
    assert berth("rm", "talker").returncode == 0
    assert leftovers(root) == []
    assert not os.listdir(root / "containers")
