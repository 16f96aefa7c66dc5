"""Docker's container lifecycle with real runc, conmon and overlay mounts."""

from __future__ import annotations

import pytest
import trio

from berth.adapters.logs import read_log
from berth.adapters.runc import StartFailure
from berth.domain.errors import Conflict, NotFound
from berth.runtime.service.engine import Engine
from berth.runtime.service.runner import running

from ..conftest import API
from .conftest import Stack

pytestmark = pytest.mark.slow


def events(stack: Stack, cid: str) -> list[str]:
    return [e.name for e in stack.engine.history(cid)]


async def test_run_echo_records_the_lifecycle_and_keeps_the_output(stack: Stack) -> None:
    cid = await stack.run("echo", "hi", name="hello")
    with trio.fail_after(20):
        assert await stack.runner.wait(cid) == 0
    doc = stack.engine.inspect_container("hello")
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 0
    assert doc["State"]["StartedAt"] != "0001-01-01T00:00:00Z"
    lines = read_log(stack.runner.log_path(cid))
    assert [(line.stream, line.text) for line in lines] == [("stdout", b"hi")]
    with trio.fail_after(10):  # the exit's watcher releases the network just after
        while "NetworkDisconnected" not in events(stack, cid):
            await trio.sleep(0.05)
    assert events(stack, cid) == [
        *("Created", "Prepared", "StartRequested", "NetworkConnected", "Started", "Exited"),
        "NetworkDisconnected",
    ]


async def test_exit_code_and_stream_order(stack: Stack) -> None:
    cid = await stack.run("sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3")
    with trio.fail_after(20):
        assert await stack.runner.wait(cid) == 3
    lines = read_log(stack.runner.log_path(cid))
    assert [line.text for line in lines if line.stream == "stdout"] == [b"out1", b"out2"]
    assert [line.text for line in lines if line.stream == "stderr"] == [b"err1"]


async def test_stop_gives_143_with_a_handler_and_137_after_the_timeout(stack: Stack) -> None:
    polite = await stack.run("sh", "-c", "trap 'exit 143' TERM; while true; do sleep 0.1; done")
    stubborn = await stack.run("sleep", "100")  # PID 1 ignores SIGTERM
    await trio.sleep(0.3)
    with trio.fail_after(20):
        await stack.runner.stop(polite, API, timeout=10)
        await stack.runner.stop(stubborn, API, timeout=1)
    assert stack.engine.inspect_container(polite)["State"]["ExitCode"] == 143
    assert stack.engine.inspect_container(stubborn)["State"]["ExitCode"] == 137


async def test_a_missing_executable_fails_start_and_leaves_the_container_created(
    stack: Stack,
) -> None:
    created = await stack.runner.create(stack.body("nonexistent-cmd"), "broken", API)
    with pytest.raises(StartFailure) as raised:
        await stack.runner.start("broken", API)
    assert 'exec: "nonexistent-cmd": executable file not found in $PATH' in raised.value.message
    doc = stack.engine.inspect_container(created.id)
    assert doc["State"]["Status"] == "created"
    assert doc["State"]["ExitCode"] == 127
    assert "executable file not found" in doc["State"]["Error"]


async def test_pause_and_unpause(stack: Stack) -> None:
    cid = await stack.run(
        "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.02; done"
    )
    count = stack.images.snapshots.rootfs(cid) / "count"

    def read() -> int:
        try:
            return int(count.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    with trio.fail_after(10):
        while read() < 3:
            await trio.sleep(0.05)
    await stack.runner.pause(cid, API)
    assert stack.engine.inspect_container(cid)["State"]["Paused"] is True
    with pytest.raises(Conflict, match="is already paused"):
        await stack.runner.pause(cid, API)
    frozen = read()
    await trio.sleep(0.4)
    assert read() == frozen
    await stack.runner.unpause(cid, API)
    with trio.fail_after(10):
        while read() <= max(frozen, 3):
            await trio.sleep(0.05)


async def test_auto_remove_and_force_remove(stack: Stack) -> None:
    gone = await stack.run("true", name="ephemeral", HostConfig={"AutoRemove": True})
    with trio.fail_after(20):
        await stack.runner.wait(gone, "removed")
    with pytest.raises(NotFound):
        stack.engine.inspect_container("ephemeral")
    busy = await stack.run("sleep", "100", name="busy")
    with pytest.raises(Conflict, match="You cannot remove a running container"):
        await stack.runner.remove("busy", API)
    await stack.runner.remove("busy", API, force=True)
    assert stack.engine.list_containers(all=True) == []
    assert not stack.runner.container_dir(busy).exists()
    assert not stack.images.snapshots.container_dir(busy).exists()


async def test_restart_policy_always_restarts_with_backoff(stack: Stack) -> None:
    cid = await stack.run("sh", "-c", "exit 1", HostConfig={"RestartPolicy": {"Name": "always"}})
    with trio.fail_after(30):
        while stack.engine.inspect_container(cid)["RestartCount"] < 2:
            await trio.sleep(0.05)
    assert "RestartScheduled" in events(stack, cid)


async def test_an_exit_while_the_engine_is_down_is_recorded_by_reconcile(stack: Stack) -> None:
    cid = await stack.run("sh", "-c", "sleep 1; exit 7")
    # The engine goes away (its watchers with it); the container keeps running.
    engine = Engine(stack.root)
    try:
        with trio.fail_after(20):
            await stack.runtime.wait_exited(cid)
        async with running(engine, stack.images, stack.runtime):
            pass
        doc = engine.inspect_container(cid)
    finally:
        engine.close()
    assert doc["State"]["ExitCode"] == 7
    assert doc["State"]["Status"] == "exited"


async def test_restart_of_a_running_container(stack: Stack) -> None:
    cid = await stack.run("sh", "-c", "trap 'exit 143' TERM; while true; do sleep 0.1; done")
    await trio.sleep(0.3)
    first = stack.engine.inspect_container(cid)["State"]["Pid"]
    with trio.fail_after(30):
        await stack.runner.restart(cid, API, timeout=5)
    state = stack.engine.inspect_container(cid)["State"]
    assert state["Status"] == "running" and state["Pid"] != first
