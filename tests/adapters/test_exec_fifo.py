"""Starting through the runtime's exec.fifo (adapters/runc/exec_fifo.py), for runc and for
crun: the payload runs, the runtime then calls the container started, and whatever the
fifo cannot settle falls back to the runtime's own `start`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from berth.adapters.processes import wait_process_gone
from berth.adapters.runc import Runtime, exec_fifo
from berth.adapters.runc.exec_fifo import EXEC_FIFO, start_by_fifo

from .runc_harness import NEEDS_RUNC, Harness, needs_backend

pytestmark = NEEDS_RUNC
RUNTIMES = [name for name in ("runc", "crun") if shutil.which(name)]
#: Writes /started in its rootfs once it runs, then waits to be killed.
MARKS_STARTED = ["sh", "-c", "echo started > /started; sleep 100"]


class BareRuntime:
    """runc or crun run directly (no monitor), as the fifo sees either."""

    def __init__(self, binary: str, tmp_path: Path) -> None:
        self.binary = binary
        self.root = tmp_path / f"{binary}-root"
        self.harness = Harness(tmp_path)
        self.ids: list[str] = []

    def command(self, *args: str) -> tuple[int, bytes]:
        """Its exit code and output; through a file, since a created init keeps the
        descriptors it was given (a pipe would never end)."""
        with open(self.root.parent / f"{self.binary}.out", "w+b") as out:
            code = subprocess.run(
                [self.binary, "--root", str(self.root), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                check=False,
            ).returncode
            out.seek(0)
            return code, out.read()

    def created(self, args: list[str]) -> tuple[str, Path, int]:
        cid, bundle = self.harness.bundle(args)
        self.ids.append(cid)
        code, output = self.command("create", "--bundle", str(bundle), cid)
        assert code == 0, output
        return cid, bundle, self.state(cid)["pid"]

    def state(self, cid: str) -> dict[str, object]:
        return dict(json.loads(self.command("state", cid)[1]))

    def clean(self) -> None:
        for cid in self.ids:
            self.command("delete", "--force", cid)


@pytest.fixture(params=RUNTIMES)
def bare(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BareRuntime]:
    needs_backend(request.param)
    runtime = BareRuntime(request.param, tmp_path)
    try:
        yield runtime
    finally:
        runtime.clean()


async def until_exists(path: Path) -> None:
    with trio.fail_after(10):
        while not path.exists():
            await trio.sleep(0.01)


async def test_opening_the_fifo_runs_the_payload_and_the_runtime_calls_it_running(
    bare: BareRuntime,
) -> None:
    cid, bundle, pid = bare.created(MARKS_STARTED)
    fifo = bare.root / cid / EXEC_FIFO
    assert fifo.exists()
    assert bare.state(cid)["status"] == "created"

    assert await start_by_fifo(fifo, pid) is True

    await until_exists(bundle / "rootfs" / "started")
    assert not fifo.exists()
    assert bare.state(cid)["status"] == "running"


async def test_without_a_fifo_nothing_is_done_and_the_caller_is_told(tmp_path: Path) -> None:
    assert await start_by_fifo(tmp_path / "gone" / EXEC_FIFO, None) is False


async def test_an_init_that_wrote_and_ended_while_the_starter_slept_has_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runc's way on a busy machine: the starter's poll passes its deadline while the init
    opens its end, writes its word, execs a short payload that ends; the starter finds it
    dead, and the word still in the fifo says it started (not "left to the runtime",
    whose `start` would call the container stopped)."""
    fifo = tmp_path / EXEC_FIFO
    os.mkfifo(fifo)
    writer: list[int] = []

    def init_runs_its_whole_life(pid: int) -> bool:
        if not writer:
            writer.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            os.write(writer[0], b"0")
            os.close(writer[0])
        return False

    monkeypatch.setattr(exec_fifo, "ALIVE_CHECK_S", 0)
    monkeypatch.setattr(exec_fifo, "process_alive", init_runs_its_whole_life)
    assert await start_by_fifo(fifo, init_pid=1 << 22)
    assert writer and not fifo.exists()


async def test_an_init_that_died_before_the_start_is_left_to_the_runtime(
    bare: BareRuntime,
) -> None:
    cid, bundle, pid = bare.created(MARKS_STARTED)
    os.kill(pid, signal.SIGKILL)
    await wait_process_gone(pid)

    assert await start_by_fifo(bare.root / cid / EXEC_FIFO, pid) is False

    assert not (bundle / "rootfs" / "started").exists()
    assert bare.command("start", cid)[0] != 0  # the runtime's own word on it


def logging_runc(tmp_path: Path) -> tuple[Path, Path]:
    """A runc that notes each command's verb before running the real one."""
    log = tmp_path / "runc-verbs.log"
    wrapper = tmp_path / "runc-logging"
    real = shutil.which("runc")
    wrapper.write_text(
        f'#!/bin/sh\nfor a in "$@"; do case "$a" in -*|/*) ;; *) echo "$a" >> {log}; break;; '
        f'esac; done\nexec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, log


async def test_the_runtime_starts_without_spawning_runc_start_and_falls_back_after(
    tmp_path: Path,
) -> None:
    harness = Harness(tmp_path)
    wrapper, log = logging_runc(tmp_path)
    harness.rt = Runtime(harness.state_dir, runc=str(wrapper))
    cid, bundle = harness.bundle(MARKS_STARTED)
    try:
        await harness.rt.create(cid, bundle, harness.log_path(cid))
        await harness.rt.start(cid)
        await until_exists(bundle / "rootfs" / "started")
        assert "start" not in log.read_text().split()

        await harness.rt.start(cid)  # no fifo now: runc's own start says it already runs

        assert "start" in log.read_text().split()
        state = await harness.rt.state(cid)
        assert state is not None and state.status == "running"
    finally:
        await harness.rt.delete(cid, force=True)
        harness.force_clean()
