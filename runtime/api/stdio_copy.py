"""Between a hijacked connection and a process's stdio held by its monitor (attach, exec).

With a terminal the output goes as it comes (Docker's raw stream), else each piece as an
stdcopy frame of its stream. The client's input goes to stdin; with a terminal it is
watched for the detach keys. What the client's half-close means is dockerd's: with
StdinOnce and no terminal it closes the process's stdin and the output goes on;
otherwise it ends the attach (the process keeps its stdin).
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
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    close_stdin_on_eof: bool = False
    detach_keys: bytes = b""


async def copy_stdio(channel: RawChannel, conn: StdioStream, how: StdioCopy) -> bool:
    """Copy until the process's output ends, the client detaches or goes; True on a detach."""
    detached = False

    async def output(cancel: trio.CancelScope) -> None:
        while (piece := await conn.receive()) is not None:
            stream, data = piece
            if stream == STDERR:
                if how.stderr:
                    await channel.send(data if how.tty else streams.frame(streams.STDERR, data))
            elif how.stdout:
                await channel.send(data if how.tty else streams.frame(streams.STDOUT, data))
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
