"""The `ContainerStdio` contract (adapters/runc/attach.py) against a real conmon: stdin
pipes and terminals held by the monitor, its attach socket and its resize fifo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from berth.adapters.runc import ConmonStdio, Stdio, StdioStream
from berth.adapters.runc.attach import STDERR, STDOUT
from berth.domain.errors import Conflict

from ..adapters.runc_harness import BACKENDS, Harness, needs_backend
from .conftest import needs


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    needs(root=True, commands=("conmon",))
    needs_backend(request.param)
    made = Harness(tmp_path, request.param)
    yield made
    left = made.leftovers()
    if any(left.values()):
        made.force_clean()
    assert not any(left.values()), f"left behind: {left}"


async def created(harness: Harness, args: list[str], stdio: Stdio) -> tuple[str, Path]:
    cid, bundle = harness.bundle(args)
    if stdio.terminal:
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["terminal"] = True
        (bundle / "config.json").write_text(json.dumps(config))
    await harness.rt.create(cid, bundle, harness.log_path(cid), stdio=stdio)
    return cid, bundle


async def output_until_end(conn: StdioStream) -> list[tuple[int, bytes]]:
    pieces = []
    with trio.fail_after(30):  # a guard against a hang
        while (batch := await conn.receive()) is not None:
            pieces += batch
    return pieces


def joined(pieces: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(data for s, data in pieces if s == stream)


async def test_stdin_once_its_end_closes_the_processs_stdin(harness: Harness) -> None:
    stdio = ConmonStdio()
    cid, bundle = await created(
        harness, ["sh", "-c", "cat; echo done >&2"], Stdio(stdin=True, stdin_once=True)
    )
    conn = await stdio.connect(bundle)  # before the start: nothing written is missed
    try:
        await harness.rt.start(cid)
        big = bytes(range(256)) * 1024  # more than one message of the socket
        await conn.send(b"first\n" + big)
        await conn.close_stdin()
        pieces = await output_until_end(conn)
    finally:
        await conn.aclose()
    assert joined(pieces, STDOUT) == b"first\n" + big
    assert joined(pieces, STDERR) == b"done\n"
    assert (await harness.rt.wait_exited(cid)).exit_code == 0
    await harness.rt.delete(cid)


async def test_without_stdin_once_stdin_stays_open_for_the_next_attach(harness: Harness) -> None:
    stdio = ConmonStdio()
    cid, bundle = await created(harness, ["cat"], Stdio(stdin=True, stdin_once=False))
    await harness.rt.start(cid)
    first = await stdio.connect(bundle)
    await first.send(b"one\n")
    with trio.fail_after(30):
        assert await first.receive() == [(STDOUT, b"one\n")]
    await first.close_stdin()
    await first.aclose()
    second = await stdio.connect(bundle)
    try:
        await second.send(b"two\n")
        with trio.fail_after(30):
            assert await second.receive() == [(STDOUT, b"two\n")]
    finally:
        await second.aclose()
    await harness.rt.delete(cid, force=True)


async def test_a_terminal_is_resized_and_its_output_is_one_stream(harness: Harness) -> None:
    stdio = ConmonStdio()
    cid, bundle = await created(harness, ["sh"], Stdio(terminal=True, stdin=True))
    await harness.rt.start(cid)
    await stdio.resize(bundle, 33, 77)
    conn = await stdio.connect(bundle)
    try:
        await conn.send(b"stty size; echo o''ut >&2; exit 3\n")
        pieces = await output_until_end(conn)
    finally:
        await conn.aclose()
    assert joined(pieces, STDERR) == b""
    out = joined(pieces, STDOUT)
    assert b"33 77\r\n" in out and b"\r\nout\r\n" in out
    assert (await harness.rt.wait_exited(cid)).exit_code == 3
    await harness.rt.delete(cid)


async def test_no_monitor_no_stdio(harness: Harness, tmp_path: Path) -> None:
    stdio = ConmonStdio()
    with pytest.raises(Conflict):
        await stdio.connect(tmp_path / "no-such-bundle")
    (tmp_path / "empty-bundle").mkdir()
    with pytest.raises(Conflict):
        await stdio.connect(tmp_path / "empty-bundle")
    await stdio.resize(tmp_path / "empty-bundle", 10, 10)  # nothing to resize: no error
