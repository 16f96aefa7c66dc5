"""conmon, the container's monitor: the container outlives the engine and the engine's
cgroup, waiters are woken by its exit, its cgroups are cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import trio

from berth.adapters import cgroups
from berth.adapters.logs import read_log
from berth.adapters.runc import Runtime
from berth.adapters.runc import monitor as runc_monitor

from .proc_cgroups import process_cgroups
from .runc_harness import NEEDS_RUNC, REPO, Harness, _counter, monitor_cgroups, stdout_texts

pytestmark = NEEDS_RUNC


# -- the engine dies, the container does not ------------------------------------------------

ENGINE_CHILD = textwrap.dedent(
    """
    import sys, trio
    from pathlib import Path
    from berth.adapters.runc import Runtime

    async def main():
        rt = Runtime(Path(sys.argv[1]))
        await rt.create(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        await rt.start(sys.argv[2])
        print("started", flush=True)
        await trio.sleep_forever()

    trio.run(main)
    """
)


async def test_container_and_exit_code_survive_engine_sigkill(harness: Harness) -> None:
    cid, bundle = harness.bundle(["sh", "-c", "echo before; sleep 2; echo after"])
    log = harness.log_path(cid)
    engine = subprocess.Popen(
        [sys.executable, "-c", ENGINE_CHILD, str(harness.state_dir), cid, str(bundle), str(log)],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert engine.stdout is not None
        line = await trio.to_thread.run_sync(engine.stdout.readline)
        assert line == b"started\n"
    finally:
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait()
    assert engine.returncode == -signal.SIGKILL

    rt = Runtime(harness.state_dir)  # a new engine
    state = await rt.state(cid)
    assert state is not None and state.status == "running"
    assert rt.monitor_pid(cid) is not None
    assert rt.exit_status(cid) is None
    with trio.fail_after(20):
        status = await rt.wait_exited(cid)
    assert status.exit_code == 0
    assert stdout_texts(read_log(log)) == [b"before", b"after"]
    await rt.delete(cid)


# -- the monitor's own cgroup -----------------------------------------------------------------

ENGINE_IN_CGROUP = textwrap.dedent(
    """
    import os, sys, trio
    from pathlib import Path
    from berth.adapters import cgroups
    from berth.adapters.runc import Runtime

    async def main():
        # Like berthd under a service manager: the engine has a cgroup of its own.
        joined = cgroups.create_and_join(sys.argv[5], os.getpid())
        print(" ".join(str(d) for d in joined), flush=True)
        rt = Runtime(Path(sys.argv[1]))
        await rt.create(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        await rt.start(sys.argv[2])
        print(rt.monitor_pid(sys.argv[2]), flush=True)
        await trio.sleep_forever()

    trio.run(main)
    """
)


async def test_monitor_has_its_own_cgroup_and_survives_the_engines_cgroup_being_killed(
    harness: Harness,
) -> None:
    cid, bundle = harness.bundle(["sh", "-c", "echo before; sleep 2; echo after; exit 7"])
    log = harness.log_path(cid)
    top = f"berth-test-{os.getpid()}-{next(_counter)}"
    engine_dirs = [h.mount / top / "engine" for h in cgroups.hierarchies()]
    engine = subprocess.Popen(
        [sys.executable, "-c", ENGINE_IN_CGROUP, str(harness.state_dir), cid, str(bundle),
         str(log), f"{top}/engine"],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )  # fmt: skip
    try:
        assert engine.stdout is not None
        joined = (await trio.to_thread.run_sync(engine.stdout.readline)).decode().split()
        assert sorted(joined) == sorted(str(d) for d in engine_dirs)
        monitor = int(await trio.to_thread.run_sync(engine.stdout.readline))
        assert all(cgroups.members(d) == [engine.pid] for d in engine_dirs)
        # The monitor is in none of the engine's cgroups, but in its own in every hierarchy.
        own = monitor_cgroups(cid)
        assert len(own) == len(engine_dirs) and all(cgroups.members(d) == [monitor] for d in own)
        # What systemd's KillMode=control-group does: SIGKILL every process in the cgroup.
        for directory in engine_dirs:
            for pid in cgroups.members(directory):
                assert pid == engine.pid  # only the process this test started
                os.kill(pid, signal.SIGKILL)
        engine.wait()
    finally:
        if engine.poll() is None:
            os.kill(engine.pid, signal.SIGKILL)
            engine.wait()
        assert cgroups.remove([*engine_dirs, *(d.parent for d in engine_dirs)]) == []

    rt = Runtime(harness.state_dir)  # a new engine
    assert rt.monitor_pid(cid) == monitor
    state = await rt.state(cid)
    assert state is not None and state.status == "running"
    with trio.fail_after(20):
        status = await rt.wait_exited(cid)
    assert status.exit_code == 7
    assert stdout_texts(read_log(log)) == [b"before", b"after"]
    await rt.delete(cid)
    assert monitor_cgroups(cid) == []


async def test_without_a_cgroup_parent_the_monitor_stays_in_the_engines_cgroup(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path)
    h.rt = Runtime(h.state_dir, monitor_cgroup_parent=None)
    try:
        cid, _ = await h.run(["sleep", "100"])
        monitor = h.rt.monitor_pid(cid)
        assert monitor is not None
        assert monitor_cgroups(cid) == []
        assert process_cgroups(monitor) == process_cgroups(os.getpid())
        await h.rt.delete(cid, force=True)
    finally:
        left = h.leftovers()
        if any(left.values()):
            h.force_clean()
    assert not any(left.values()), f"left behind: {left}"


async def test_wait_exited_is_woken_by_the_monitors_exit_not_by_polling(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With polls this slow, only a wake-up on the monitor's exit can answer in time.
    monkeypatch.setattr(runc_monitor, "POLL_S", 30.0)
    monkeypatch.setattr(runc_monitor, "EXIT_RECHECK_S", 30.0)
    cid, _ = await harness.run(["sleep", "100"])
    waited: list[float] = []

    async def waiter() -> None:
        assert (await harness.rt.wait_exited(cid)).exit_code == 137
        waited.append(time.monotonic())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(0.3)  # the waiter is blocked on the monitor by now
        killed = time.monotonic()
        await harness.rt.kill(cid, "KILL")
    assert waited[0] - killed < 5.0
    with trio.fail_after(5):
        await harness.rt.delete(cid)  # its wait for the monitor does not poll either


async def test_delete_finds_the_monitors_cgroups_without_their_list(harness: Harness) -> None:
    cid, _ = await harness.run(["sleep", "100"])
    assert monitor_cgroups(cid)
    # As if the engine had died between moving conmon and writing the list down.
    (harness.state_dir / "monitor" / cid / "cgroups").unlink()
    await harness.rt.delete(cid, force=True)
    assert monitor_cgroups(cid) == []
