"""runc under conmon, for real: exit codes, output, signals, pause, failures and idempotency,
unknown containers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from berth.adapters.logs import read_log
from berth.adapters.runc import StartFailure, parse_signal
from berth.adapters.runc.commands import Runc
from berth.domain.errors import Conflict, InvalidParameter, NotFound

from .runc_harness import NEEDS_RUNC, Harness, conmon_pids_with, new_id, stdout_texts

pytestmark = NEEDS_RUNC


# -- exit codes and output ------------------------------------------------------------------


async def test_echo_logs_a_timestamped_line_and_exits_zero(harness: Harness) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    cid, _ = await harness.run(["echo", "hi"])
    status = await harness.rt.wait_exited(cid)
    assert status.exit_code == 0
    assert status.oom_killed is False
    assert before <= status.finished_at <= datetime.now(UTC) + timedelta(seconds=1)
    lines = read_log(harness.log_path(cid))
    assert [(x.stream, x.text) for x in lines] == [("stdout", b"hi")]
    assert before <= lines[0].time <= datetime.now(UTC) + timedelta(seconds=1)
    assert (await harness.rt.state(cid)).status == "stopped"  # type: ignore[union-attr]
    await harness.rt.delete(cid)
    assert await harness.rt.state(cid) is None


async def test_both_streams_in_order_and_exit_3(harness: Harness) -> None:
    script = "echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf tail; exit 3"
    cid, _ = await harness.run(["sh", "-c", script])
    status = await harness.rt.wait_exited(cid)
    assert status.exit_code == 3
    lines = read_log(harness.log_path(cid))
    assert stdout_texts(lines) == [b"out1", b"out2", b"tail"]
    assert [x.text for x in lines if x.stream == "stderr"] == [b"err1", b"err2"]
    assert [x.partial for x in lines if x.text == b"tail"] == [True]
    assert read_log(harness.log_path(cid), stdout=False) == [
        x for x in lines if x.stream == "stderr"
    ]
    await harness.rt.delete(cid)


async def test_sigkill_gives_137(harness: Harness) -> None:
    cid, _ = await harness.run(["sleep", "100"])
    state = await harness.rt.state(cid)
    assert state is not None and state.status == "running" and state.start_time is not None
    await harness.rt.kill(cid, "KILL")
    assert (await harness.rt.wait_exited(cid)).exit_code == 137
    await harness.rt.delete(cid)


async def test_a_signal_to_a_running_container_runs_no_runtime_process(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop costs no `runc state`/`kill` (a process each): the init is signalled
    directly, as a child of the container's monitor."""
    ran: list[tuple[str, ...]] = []
    cid, _ = await harness.run(["sh", "-c", 'trap "exit 143" TERM; sleep 100 & wait'])
    original = Runc.run

    async def recorded(self: Runc, *args: str) -> tuple[int, bytes, bytes]:
        ran.append(args)
        return await original(self, *args)

    monkeypatch.setattr(Runc, "run", recorded)
    await trio.sleep(0.2)  # let the shell install its trap
    assert not harness.rt.paused(cid)
    await harness.rt.kill(cid, "SIGTERM")
    with trio.fail_after(10):
        assert (await harness.rt.wait_exited(cid)).exit_code == 143
    assert ran == []
    with pytest.raises(Conflict):  # gone: the runtime says so
        await harness.rt.kill(cid, "SIGKILL")
    assert [args[0] for args in ran] == ["kill", "state"]
    await harness.rt.delete(cid, force=True)


async def test_sigterm_with_a_trap_gives_143(harness: Harness) -> None:
    cid, _ = await harness.run(["sh", "-c", 'trap "exit 143" TERM; sleep 100 & wait'])
    await trio.sleep(0.2)  # let the shell install its trap
    await harness.rt.kill(cid, "SIGTERM")
    with trio.fail_after(10):
        assert (await harness.rt.wait_exited(cid)).exit_code == 143
    await harness.rt.delete(cid, force=True)


async def test_pause_blocks_progress_and_resume_continues(harness: Harness) -> None:
    loop = "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.02; done"
    cid, bundle = await harness.run(["sh", "-c", loop])
    count = bundle / "rootfs" / "count"

    def read() -> int:
        try:
            return int(count.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    with trio.fail_after(10):
        while read() < 3:  # the loop is running (a loaded machine may start it late)
            await trio.sleep(0.05)
    await harness.rt.pause(cid)
    await harness.rt.pause(cid)  # idempotent
    assert (await harness.rt.state(cid)).status == "paused"  # type: ignore[union-attr]
    # A write caught half-way (the file truncated, not yet written) reads as 0: fine, it
    # stays that way while frozen.
    frozen = read()
    await trio.sleep(0.5)
    assert read() == frozen
    await harness.rt.resume(cid)
    await harness.rt.resume(cid)  # idempotent
    with trio.fail_after(10):
        while read() <= max(frozen, 3):
            await trio.sleep(0.05)
    await harness.rt.kill(cid, 9)
    assert (await harness.rt.wait_exited(cid)).exit_code == 137
    await harness.rt.delete(cid)


# -- failures and idempotency ---------------------------------------------------------------


async def test_missing_executable_fails_with_dockers_message_and_leaves_nothing(
    harness: Harness,
) -> None:
    cid, bundle = harness.bundle(["nonexistent-cmd"])
    with pytest.raises(StartFailure) as info:
        await harness.rt.create(cid, bundle, harness.log_path(cid))
    assert 'exec: "nonexistent-cmd": executable file not found in $PATH' in info.value.message
    assert info.value.http_status == 400
    assert await harness.rt.state(cid) is None
    assert conmon_pids_with([cid]) == []
    assert not (harness.state_dir / "monitor" / cid).exists()
    assert sorted(p.name for p in bundle.iterdir()) == ["config.json", "rootfs"]


async def test_create_start_delete_are_idempotent(harness: Harness) -> None:
    cid, bundle = harness.bundle(["sleep", "100"])
    log = harness.log_path(cid)
    pid = await harness.rt.create(cid, bundle, log)
    assert await harness.rt.create(cid, bundle, log) == pid
    state = await harness.rt.state(cid)
    assert state is not None and state.status == "created" and state.pid == pid
    assert harness.rt.monitor_pid(cid) is not None
    assert harness.rt.exit_status(cid) is None
    await harness.rt.start(cid)
    await harness.rt.start(cid)
    assert (await harness.rt.state(cid)).status == "running"  # type: ignore[union-attr]
    await harness.rt.delete(cid, force=True)
    await harness.rt.delete(cid, force=True)
    await harness.rt.delete(cid)
    assert harness.rt.monitor_pid(cid) is None
    assert sorted(p.name for p in bundle.iterdir()) == ["config.json", "rootfs"]


async def test_memory_limit_oom_kill_is_reported(harness: Harness) -> None:
    cid, _ = await harness.run(
        ["sh", "-c", "a=x; while true; do a=$a$a; done"], memory_limit=16 * 1024 * 1024
    )
    with trio.fail_after(30):
        status = await harness.rt.wait_exited(cid)
    assert status.exit_code == 137
    assert status.oom_killed is True
    await harness.rt.delete(cid)


def test_parse_signal() -> None:
    assert parse_signal("SIGTERM") == parse_signal("TERM") == parse_signal("term") == 15
    assert parse_signal("9") == parse_signal(9) == 9
    for bad in ("SIGNOPE", "0", "-1", "999"):
        with pytest.raises(InvalidParameter):
            parse_signal(bad)


def test_harness_helpers_see_nothing_for_unknown_ids(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.ids.append(new_id())
    assert not any(h.leftovers().values())


async def test_unknown_container_is_absent_and_delete_is_a_no_op(harness: Harness) -> None:
    cid = new_id()
    harness.ids.append(cid)
    assert await harness.rt.state(cid) is None
    assert harness.rt.exit_status(cid) is None
    assert harness.rt.monitor_pid(cid) is None
    await harness.rt.delete(cid)
    await harness.rt.delete(cid, force=True)
    with pytest.raises(NotFound):
        await harness.rt.kill(cid, "TERM")
    with pytest.raises(NotFound):
        await harness.rt.start(cid)
