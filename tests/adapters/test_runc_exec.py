"""Execs under conmon, for real: exit codes, attached output and stdin, a tty's size, a
missing binary, and an exit code kept for a later engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from berth.adapters.runc import StartFailure
from berth.adapters.runc.attach import STDERR, STDOUT, StdioStream
from berth.adapters.runc.exec import ExecMonitors
from berth.adapters.runc.runtime import Runtime

from .runc_harness import NEEDS_RUNC, Harness, conmon_pids_with, monitor_cgroups

pytestmark = NEEDS_RUNC


def _execs(rt: Runtime, cid: str) -> ExecMonitors:
    return rt.execs(cid)


def _process(bundle: Path, args: list[str], *, tty: bool = False) -> dict[str, Any]:
    process: dict[str, Any] = json.loads((bundle / "config.json").read_text())["process"]
    return {**process, "args": args, "terminal": tty}


async def _read_all(stdio: StdioStream) -> list[tuple[int, bytes]]:
    packets = []
    while (pieces := await stdio.receive()) is not None:
        packets += pieces
    await stdio.aclose()
    return packets


async def test_detached_exec_exit_code_is_kept_until_its_files_are_removed(
    harness: Harness,
) -> None:
    cid, bundle = await harness.run(["sleep", "100"])
    execs = _execs(harness.rt, cid)
    started = await execs.start("e1", _process(bundle, ["sh", "-c", "exit 7"]), stdin=False,
                                attach=False)  # fmt: skip
    assert started.pid > 0 and started.attach is None
    assert (await execs.wait_exited("e1")).exit_code == 7
    # A new engine (a new adapter on the same state) finds it too.
    assert _execs(Runtime(harness.state_dir), cid).exit_status("e1").exit_code == 7  # type: ignore[union-attr]
    assert execs.exec_ids() == ["e1"]
    await execs.remove_files("e1")
    assert execs.exec_ids() == [] and execs.exit_status("e1") is None
    await harness.rt.delete(cid, force=True)
    assert conmon_pids_with(["e1"]) == []


async def test_an_exec_monitor_joins_its_containers_monitor_cgroup_and_leaves_it_there(
    harness: Harness,
) -> None:
    cid, bundle = await harness.run(["sleep", "100"])
    container_cgroups = monitor_cgroups(cid)
    assert container_cgroups
    execs = _execs(harness.rt, cid)
    await execs.start("e5", _process(bundle, ["sleep", "100"]), stdin=False, attach=False)
    [monitor] = conmon_pids_with(["e5"])
    placed = {line.split(":", 2)[2] for line in Path(f"/proc/{monitor}/cgroup").read_text().split()}
    assert f"/berth/conmon-{cid}" in placed
    assert monitor_cgroups("e5") == []
    await execs.stop("e5")
    await execs.remove_files("e5")
    assert monitor_cgroups(cid) == container_cgroups
    await harness.rt.delete(cid, force=True)
    assert monitor_cgroups(cid) == []


async def test_attached_exec_streams_stdout_and_stderr_and_takes_stdin(harness: Harness) -> None:
    cid, bundle = await harness.run(["sleep", "100"])
    execs = _execs(harness.rt, cid)
    script = "echo out; echo err >&2; cat; exit 3"
    started = await execs.start("e2", _process(bundle, ["sh", "-c", script]), stdin=True,
                                attach=True)  # fmt: skip
    stdio = started.attach
    assert stdio is not None
    await stdio.send(b"from stdin\n")
    await stdio.close_stdin()
    packets = await _read_all(stdio)
    out = b"".join(data for pipe, data in packets if pipe == STDOUT)
    err = b"".join(data for pipe, data in packets if pipe == STDERR)
    assert out == b"out\nfrom stdin\n" and err == b"err\n"
    assert (await execs.wait_exited("e2")).exit_code == 3
    await harness.rt.delete(cid, force=True)


async def test_tty_exec_has_the_size_asked_for(harness: Harness) -> None:
    cid, bundle = await harness.run(["sleep", "100"])
    execs = _execs(harness.rt, cid)
    process = _process(bundle, ["sh", "-c", "sleep 0.2; stty size"], tty=True)
    started = await execs.start("e3", process, stdin=False, attach=True, console_size=(33, 101))
    assert started.attach is not None
    packets = await _read_all(started.attach)
    assert b"33 101" in b"".join(data for _, data in packets)
    assert (await execs.wait_exited("e3")).exit_code == 0
    await harness.rt.delete(cid, force=True)


@pytest.mark.parametrize("attach", [False, True])
async def test_a_missing_binary_is_runcs_message_and_leaves_nothing(
    harness: Harness, attach: bool
) -> None:
    cid, bundle = await harness.run(["sleep", "100"])
    execs = _execs(harness.rt, cid)
    with pytest.raises(StartFailure) as failure:
        await execs.start("e4", _process(bundle, ["nosuchbinary"]), stdin=False, attach=attach)
    assert 'exec: "nosuchbinary": executable file not found in $PATH' in failure.value.message
    assert execs.exec_ids() == []
    assert conmon_pids_with(["e4"]) == []
    await harness.rt.delete(cid, force=True)
