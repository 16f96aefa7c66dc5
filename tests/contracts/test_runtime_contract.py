"""The `ContainerRuntime` contract (adapters/runc/protocol.py), for the fake and for runc
under conmon."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from berth.adapters.runc import ContainerRuntime, MonitorLost, StartFailure
from berth.domain.errors import Conflict, InvalidParameter, NotFound

from ..adapters.runc_harness import BACKENDS, Harness, needs_backend
from ..fakes.runtime import FakeRuntime
from .conftest import needs

LONG = ["sleep", "100"]
#: Ends with 143 on SIGTERM; writes /ready once the handler is in place.
TRAPS_TERM = ["sh", "-c", 'trap "exit 143" TERM; echo > /ready; sleep 100 & wait']
APPLETS = ("sh", "echo", "sleep", "true", "cat", "printf")


class FakeHarness:
    """Harness's bundles (a busybox layout, the command in config.json) for the fake."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.fake = FakeRuntime()
        self.rt: ContainerRuntime = self.fake
        self.ids: list[str] = []

    def bundle(self, args: list[str]) -> tuple[str, Path]:
        cid = f"fake-{len(self.ids)}"
        self.ids.append(cid)
        bundle = self.tmp_path / cid
        (bundle / "rootfs" / "bin").mkdir(parents=True)
        (bundle / "rootfs" / "bin" / "busybox").write_bytes(b"")
        for applet in APPLETS:
            (bundle / "rootfs" / "bin" / applet).symlink_to("busybox")
        process = {"args": args, "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}
        config = {"process": process, "root": {"path": str(bundle / "rootfs")}}
        (bundle / "config.json").write_text(json.dumps(config))
        return cid, bundle

    def log_path(self, cid: str) -> Path:
        return self.tmp_path / "logs" / f"{cid}.log"


class Subject:
    def __init__(self, harness: Harness | FakeHarness) -> None:
        self.harness = harness
        self.rt: ContainerRuntime = harness.rt

    async def created(self, args: list[str]) -> tuple[str, Path, int]:
        cid, bundle = self.harness.bundle(args)
        pid = await self.rt.create(cid, bundle, self.harness.log_path(cid))
        return cid, bundle, pid

    async def run(self, args: list[str]) -> str:
        cid, _, _ = await self.created(args)
        await self.rt.start(cid)
        return cid

    async def ready(self, cid: str, bundle: Path) -> None:
        """The process has set itself up (its signal handlers): it wrote /ready."""
        if isinstance(self.harness, FakeHarness):
            return
        with trio.fail_after(20):
            while not (bundle / "rootfs" / "ready").exists():
                await trio.sleep(0.02)

    def kill_monitor(self, cid: str) -> None:
        """The monitor is killed behind the engine's back."""
        if isinstance(self.harness, FakeHarness):
            self.harness.fake.lose_monitor(cid)
            return
        pid = self.rt.monitor_pid(cid)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)

    def reopened(self) -> ContainerRuntime:
        """The runtime as a new engine on the same state finds it."""
        if isinstance(self.harness, FakeHarness):
            return self.harness.fake  # the fake's world is the object itself
        return self.harness.reopen()


@pytest.fixture(params=["fake", *BACKENDS])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "fake":
        yield Subject(FakeHarness(tmp_path))
        return
    needs(root=True, commands=("conmon",))
    needs_backend(request.param)
    harness = Harness(tmp_path, request.param)
    yield Subject(harness)
    left = harness.leftovers()
    if any(left.values()):
        harness.force_clean()
    assert not any(left.values()), f"left behind: {left}"


async def test_a_container_is_created_then_started_and_both_are_idempotent(
    subject: Subject,
) -> None:
    rt = subject.rt
    cid, bundle, pid = await subject.created(LONG)
    state = await rt.state(cid)
    assert state is not None and (state.id, state.status, state.pid) == (cid, "created", pid)
    assert rt.monitor_pid(cid) is not None
    assert rt.exit_status(cid) is None
    assert rt.knows(cid) and cid in rt.container_ids()
    assert await rt.create(cid, bundle, subject.harness.log_path(cid)) == pid
    await rt.start(cid)
    await rt.start(cid)
    state = await rt.state(cid)
    assert state is not None and state.status == "running" and state.pid == pid
    assert state.start_time is not None
    await rt.delete(cid, force=True)


async def test_an_exit_is_kept_with_its_code_until_delete(subject: Subject) -> None:
    rt = subject.rt
    cid = await subject.run(["sh", "-c", "exit 3"])
    status = await rt.wait_exited(cid)
    assert (status.exit_code, status.oom_killed) == (3, False)
    assert rt.exit_status(cid) == status
    state = await rt.state(cid)
    assert state is not None and state.status == "stopped"
    assert rt.monitor_pid(cid) is None
    await rt.delete(cid)
    await rt.delete(cid)
    assert await rt.state(cid) is None
    assert rt.exit_status(cid) is None
    assert not rt.knows(cid) and cid not in rt.container_ids()


async def test_sigkill_ends_a_process_with_137(subject: Subject) -> None:
    cid = await subject.run(LONG)
    await subject.rt.kill(cid, "SIGKILL")
    assert (await subject.rt.wait_exited(cid)).exit_code == 137
    await subject.rt.delete(cid)


async def test_a_handled_signal_ends_the_process_as_its_handler_says(subject: Subject) -> None:
    cid, bundle, _ = await subject.created(TRAPS_TERM)
    await subject.rt.start(cid)
    await subject.ready(cid, bundle)
    await subject.rt.kill(cid, "TERM")
    with trio.fail_after(20):
        assert (await subject.rt.wait_exited(cid)).exit_code == 143
    await subject.rt.delete(cid)


@pytest.mark.parametrize("bad", ["SIGNOPE", "0", "-1", "999"])
async def test_a_bad_signal_is_refused_before_anything_is_sent(subject: Subject, bad: str) -> None:
    cid = await subject.run(LONG)
    with pytest.raises(InvalidParameter):
        await subject.rt.kill(cid, bad)
    state = await subject.rt.state(cid)
    assert state is not None and state.status == "running"
    await subject.rt.delete(cid, force=True)


async def test_an_unknown_container_is_not_found_and_has_nothing(subject: Subject) -> None:
    rt = subject.rt
    for call in (
        rt.start("nothing-here"),
        rt.kill("nothing-here", "KILL"),
        rt.pause("nothing-here"),
        rt.resume("nothing-here"),
    ):
        with pytest.raises(NotFound):
            await call
    assert await rt.state("nothing-here") is None
    assert not rt.paused("nothing-here")
    assert rt.exit_status("nothing-here") is None
    assert rt.monitor_pid("nothing-here") is None
    assert not rt.knows("nothing-here")
    await rt.delete("nothing-here")
    await rt.wait_process_gone("nothing-here")
    with pytest.raises(MonitorLost):
        await rt.wait_exited("nothing-here")


async def test_a_stopped_container_cannot_start_be_signalled_or_paused(subject: Subject) -> None:
    rt = subject.rt
    cid = await subject.run(["true"])
    await rt.wait_exited(cid)
    with pytest.raises(Conflict):
        await rt.start(cid)
    with pytest.raises(Conflict):
        await rt.kill(cid, "KILL")
    with pytest.raises(Conflict):
        await rt.pause(cid)
    await rt.delete(cid)


async def test_pause_and_resume_are_idempotent(subject: Subject) -> None:
    rt = subject.rt
    cid = await subject.run(LONG)
    assert not rt.paused(cid)
    await rt.pause(cid)
    await rt.pause(cid)
    assert (await rt.state(cid)).status == "paused"  # type: ignore[union-attr]
    assert rt.paused(cid)
    await rt.resume(cid)
    await rt.resume(cid)
    assert (await rt.state(cid)).status == "running"  # type: ignore[union-attr]
    assert not rt.paused(cid)
    await rt.delete(cid, force=True)
    assert not rt.paused(cid)


async def test_a_paused_container_is_killed_by_sigkill(subject: Subject) -> None:
    cid = await subject.run(LONG)
    await subject.rt.pause(cid)
    await subject.rt.kill(cid, "KILL")
    with trio.fail_after(20):
        assert (await subject.rt.wait_exited(cid)).exit_code == 137
    await subject.rt.delete(cid)


async def test_deleting_a_running_container_takes_force(subject: Subject) -> None:
    rt = subject.rt
    cid, bundle, _ = await subject.created(LONG)
    await rt.start(cid)
    with pytest.raises(Conflict):
        await rt.delete(cid)
    assert (await rt.state(cid)).status == "running"  # type: ignore[union-attr]
    await rt.delete(cid, force=True)
    assert await rt.state(cid) is None
    assert rt.monitor_pid(cid) is None and not rt.knows(cid)
    assert sorted(p.name for p in bundle.iterdir()) == ["config.json", "rootfs"]


async def test_a_missing_executable_fails_create_with_runcs_words_and_leaves_nothing(
    subject: Subject,
) -> None:
    cid, bundle = subject.harness.bundle(["nonexistent-cmd"])
    with pytest.raises(StartFailure) as raised:
        await subject.rt.create(cid, bundle, subject.harness.log_path(cid))
    assert 'exec: "nonexistent-cmd": executable file not found in $PATH' in raised.value.message
    assert raised.value.http_status == 400
    assert await subject.rt.state(cid) is None
    assert subject.rt.monitor_pid(cid) is None and not subject.rt.knows(cid)
    assert sorted(p.name for p in bundle.iterdir()) == ["config.json", "rootfs"]


async def test_a_lost_monitor_loses_the_exit_but_not_the_process(subject: Subject) -> None:
    rt = subject.rt
    cid = await subject.run(LONG)
    subject.kill_monitor(cid)
    with trio.fail_after(20), pytest.raises(MonitorLost):
        await rt.wait_exited(cid)
    state = await rt.state(cid)
    assert state is not None and state.status == "running"
    assert rt.monitor_pid(cid) is None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rt.wait_process_gone, cid)
        await rt.kill(cid, "KILL")
    assert rt.exit_status(cid) is None
    await rt.delete(cid, force=True)
    assert not rt.knows(cid)


async def test_a_new_engine_finds_the_container_and_its_exit(subject: Subject) -> None:
    cid = await subject.run(LONG)
    monitor = subject.rt.monitor_pid(cid)
    again = subject.reopened()
    state = await again.state(cid)
    assert state is not None and state.status == "running"
    assert again.monitor_pid(cid) == monitor and again.knows(cid)
    await again.kill(cid, "KILL")
    assert (await again.wait_exited(cid)).exit_code == 137
    assert subject.reopened().exit_status(cid) is not None
    await again.delete(cid)


async def test_create_after_an_exit_starts_afresh(subject: Subject) -> None:
    rt = subject.rt
    cid, bundle, first = await subject.created(["true"])
    await rt.start(cid)
    await rt.wait_exited(cid)
    second = await rt.create(cid, bundle, subject.harness.log_path(cid))
    assert second != first
    assert rt.exit_status(cid) is None
    assert (await rt.state(cid)).status == "created"  # type: ignore[union-attr]
    await rt.delete(cid, force=True)


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
async def test_a_container_id_is_checked_before_it_is_used(subject: Subject, bad: str) -> None:
    rt = subject.rt
    for call in (rt.state(bad), rt.delete(bad, force=True), rt.wait_exited(bad)):
        with pytest.raises(InvalidParameter, match="invalid container id"):
            await call
    with pytest.raises(InvalidParameter):
        rt.exit_status(bad)
    with pytest.raises(InvalidParameter):
        rt.knows(bad)
