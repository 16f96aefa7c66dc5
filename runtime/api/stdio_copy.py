"""Between a hijacked connection and a process's stdio held by its monitor (attach, exec).

With a terminal (or in a websocket) the output goes as it comes (Docker's raw stream),
else each piece as an stdcopy frame of its stream. The client's input goes to stdin;
with a terminal it is watched for the detach keys. What the client's half-close means
is dockerd's: with StdinOnce and no terminal it closes the process's stdin and the
output goes on; otherwise it ends the attach (the process keeps its stdin).
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from berth.adapters.runc.attach import STDERR, StdioStream
from berth.domain.detach_keys import DetachScanner

from ..http.messages import RawChannel
from . import streams


@dataclass(frozen=True)
class StdioCopy:
    """What one attach copies, and how."""

    tty: bool
    frames: bool  # stdcopy frames (no terminal, and not a websocket)
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    close_stdin_on_eof: bool = False
    detach_keys: bytes = b""


async def copy_stdio(channel: RawChannel, conn: StdioStream, how: StdioCopy) -> bool:
    """Copy until the process's output ends, the client detaches or goes; True on a detach."""
    detached = False

    def wire(pieces: list[tuple[int, bytes]]) -> bytes:
        out = []
        for stream, data in pieces:
            if not data or not (how.stderr if stream == STDERR else how.stdout):
                continue
            if how.frames:
                data = streams.frame(streams.STDERR if stream == STDERR else streams.STDOUT, data)
            out.append(data)
        return b"".join(out)

    async def output(cancel: trio.CancelScope) -> None:
        while (pieces := await conn.receive()) is not None:
            if data := wire(pieces):
                await channel.send(data)
        cancel.cancel()

    async def input_(cancel: trio.CancelScope) -> None:
        nonlocal detached
        scanner = DetachScanner(how.detach_keys if how.tty else b"")
        while data := await channel.receive():
            passed, detached = scanner.feed(data)
            if passed:
                await conn.send(passed)
            if detached:
                cancel.cancel()
                return
        if how.close_stdin_on_eof and not how.tty:
            await conn.close_stdin()
        else:
            cancel.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(output, nursery.cancel_scope)
        if how.stdin:
            nursery.start_soon(input_, nursery.cancel_scope)
    return detached
