"""runc under conmon, for real: exit codes, logs, signals, pause, failures, engine death."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from berth.adapters import cgroups
from berth.adapters.log_format import Selection
from berth.adapters.logs import LogLine, log_batches, read_log
from berth.adapters.runc import Runtime, StartFailure, parse_signal
from berth.adapters.runc import monitor as runc_monitor
from berth.domain.errors import InvalidParameter, NotFound

from .proc_cgroups import process_cgroups

RUNC = shutil.which("runc") or "/usr/sbin/runc"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("conmon") is None, reason="needs root, runc and conmon"
)
_counter = itertools.count()
REPO = Path(__file__).resolve().parents[2]


def new_id() -> str:
    return f"berth-t{os.getpid()}-{next(_counter)}"


def conmon_pids_with(ids: list[str]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"conmon") and any(i.encode() in argv for i in ids):
            found.append(int(entry.name))
    return found


def monitor_cgroups(cid: str) -> list[Path]:
    """The cgroup directories of this container's monitor that exist, in any hierarchy."""
    return [h.mount / "berth" / f"conmon-{cid}" for h in cgroups.hierarchies()
            if (h.mount / "berth" / f"conmon-{cid}").is_dir()]  # fmt: skip


def mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.state_dir = tmp_path / "run"
        self.rt = Runtime(self.state_dir)
        self.ids: list[str] = []

    def bundle(self, args: list[str], *, memory_limit: int | None = None) -> tuple[str, Path]:
        """A fresh id and a bundle whose rootfs is busybox."""
        cid = new_id()
        self.ids.append(cid)
        bundle = self.tmp_path / cid
        rootfs = bundle / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
        for applet in ("sh", "echo", "sleep", "true", "cat", "printf"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        subprocess.run([RUNC, "spec", "--bundle", str(bundle)], check=True)
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["args"] = args
        config["process"]["terminal"] = False
        config["root"] = {"path": str(rootfs), "readonly": False}
        config["hostname"] = cid[-12:]
        if memory_limit is not None:
            config["linux"].setdefault("resources", {})["memory"] = {
                "limit": memory_limit,
                "swap": memory_limit,
            }
        (bundle / "config.json").write_text(json.dumps(config))
        return cid, bundle

    def log_path(self, cid: str) -> Path:
        return self.tmp_path / "logs" / f"{cid}.log"

    async def run(self, args: list[str], **kw: int) -> tuple[str, Path]:
        cid, bundle = self.bundle(args, **kw)
        await self.rt.create(cid, bundle, self.log_path(cid))
        await self.rt.start(cid)
        return cid, bundle

    def leftovers(self) -> dict[str, object]:
        runc_root = self.state_dir / "runc"
        listed = []
        if runc_root.exists():
            out = subprocess.run(
                [RUNC, "--root", str(runc_root), "list", "-q"], capture_output=True, check=True
            ).stdout.decode()
            listed = [i for i in out.split() if i in self.ids]
        monitor_dirs = [i for i in self.ids if (self.state_dir / "monitor" / i).exists()]
        return {
            "runc": listed,
            "conmon": conmon_pids_with(self.ids),
            "mounts": mounts_under(self.tmp_path),
            "monitor_dirs": monitor_dirs,
            "monitor_cgroups": [str(d) for i in self.ids for d in monitor_cgroups(i)],
        }

    def force_clean(self) -> None:
        runc_root = self.state_dir / "runc"
        for cid in self.ids:
            subprocess.run(
                [RUNC, "--root", str(runc_root), "delete", "--force", cid], capture_output=True
            )
        deadline = time.monotonic() + 5
        while conmon_pids_with(self.ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in conmon_pids_with(self.ids):  # only conmons of this test's ids
            os.kill(pid, signal.SIGKILL)
        cgroups.remove([d for i in self.ids for d in monitor_cgroups(i)])


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    left = h.leftovers()
    if any(left.values()):
        h.force_clean()
    assert not any(left.values()), f"left behind: {left}"


def stdout_texts(lines: list[LogLine]) -> list[bytes]:
    return [line.text for line in lines if line.stream == "stdout"]


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


# -- logs ---------------------------------------------------------------------------------

SAMPLE = (
    b"2026-11-28T12:00:00.000000001+00:00 stdout F one\n"
    b"2026-11-28T12:00:01.5Z stderr P e-a\n"
    b"2026-11-28T12:00:02.000000000+00:00 stdout P tw\n"
    b"2026-11-28T12:00:02.100000000+00:00 stderr F -b\n"
    b"2026-11-28T12:00:02.200000000+00:00 stdout F o\n"
    b"2026-11-28T12:00:03.000000000+00:00 stdout F \n"
    b"2026-11-28T12:00:04.000000000+00:00 stdout F four has spaces\n"
)


def at(seconds: float) -> datetime:
    return datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=seconds)


def test_read_log_joins_partials_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(SAMPLE)
    lines = read_log(path)
    assert [(x.stream, x.text) for x in lines] == [
        ("stdout", b"one"),
        ("stderr", b"e-a-b"),
        ("stdout", b"two"),
        ("stdout", b""),
        ("stdout", b"four has spaces"),
    ]
    assert lines[1].time == at(1.5) and lines[2].time == at(2)
    assert stdout_texts(read_log(path, stderr=False)) == [b"one", b"two", b"", b"four has spaces"]
    assert [x.text for x in read_log(path, stdout=False)] == [b"e-a-b"]
    assert [x.text for x in read_log(path, since=at(2))] == [b"two", b"", b"four has spaces"]
    assert [x.text for x in read_log(path, until=at(1.5))] == [b"one", b"e-a-b"]
    assert [x.text for x in read_log(path, since=at(1), until=at(3))] == [b"e-a-b", b"two", b""]
    assert [x.text for x in read_log(path, tail=2)] == [b"", b"four has spaces"]
    assert [x.text for x in read_log(path, tail=1, stderr=False)] == [b"four has spaces"]
    assert read_log(path, tail=0) == []
    assert read_log(tmp_path / "missing") == []


async def test_following_a_log_yields_lines_as_written_and_stops_at_exit(
    harness: Harness,
) -> None:
    script = "echo first; sleep 0.8; echo second >&2; sleep 0.8; echo third"
    cid, _ = await harness.run(["sh", "-c", script])
    got: list[tuple[float, LogLine]] = []
    with trio.fail_after(20):
        async for batch in log_batches(
            harness.log_path(cid),
            Selection(),
            until_exit=lambda: harness.rt.monitor_pid(cid) is None,
        ):
            got.extend((time.monotonic(), line) for line in batch)
    ended = time.monotonic()
    assert [(x.stream, x.text) for _, x in got] == [
        ("stdout", b"first"),
        ("stderr", b"second"),
        ("stdout", b"third"),
    ]
    assert ended - got[0][0] > 1.0  # the first line arrived well before the container ended
    assert (await harness.rt.wait_exited(cid)).exit_code == 0
    # following an exited container's log returns what is there, with tail and filters
    done = [
        x.text
        async for batch in log_batches(
            harness.log_path(cid), Selection(stderr=False), tail=1, until_exit=lambda: True
        )
        for x in batch
    ]
    assert done == [b"third"]
    await harness.rt.delete(cid)


async def test_following_a_missing_log_after_exit_is_empty(tmp_path: Path) -> None:
    seen = [b async for b in log_batches(tmp_path / "none", Selection(), until_exit=lambda: True)]
    assert seen == []


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
