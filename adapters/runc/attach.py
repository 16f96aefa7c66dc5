"""A container's stdio through its monitor: conmon's attach socket and control fifo.

conmon (started with `-t`, or `-i`) keeps the container's terminal or stdin pipe and its
output, so they outlive the engine (ADR/0033). Each container's bundle holds:

- `attach`: a SOCK_SEQPACKET socket. Every message conmon sends is one read of the
  container's output, its first byte the stream (2 stdout — a terminal's output is
  stdout — 3 stderr); every message sent to it is written to the container's stdin.
  Shutting down the sending side closes the container's stdin when conmon was told so
  (`-i` without `--leave-stdin-open`: StdinOnce).
- `ctl`: a fifo of lines `<type> <rows> <cols>`; type 1 resizes the terminal.

The socket's path is too long for `sun_path` under a long state dir, so it is reached
through `/proc/self/fd/<the bundle, opened O_PATH>/attach`, as conmon binds it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from berth.domain.errors import Conflict

#: The stream byte conmon puts before each piece of output.
STDOUT, STDERR = 2, 3
#: conmon reads one message of at most this many bytes (CONN_SOCK_BUF_SIZE - 1).
MAX_INPUT_MESSAGE = 32767
#: conmon sends at most STDIO_BUF_SIZE (8192) bytes and the stream byte per message.
RECEIVE_SIZE = 64 * 1024
RESIZE_EVENT = 1


@dataclass(frozen=True, slots=True)
class Stdio:
    """How the monitor holds the container's stdio (Config's Tty, OpenStdin, StdinOnce)."""

    terminal: bool = False
    stdin: bool = False
    stdin_once: bool = False

    def conmon_args(self) -> list[str]:
        """podman's use of conmon: `-t` owns the terminal (its stdin too, never closed by
        an attach ending); `-i` a stdin pipe, closed when an attach ends unless kept."""
        if self.terminal:
            return ["--terminal"]
        if not self.stdin:
            return []
        return ["--stdin", *([] if self.stdin_once else ["--leave-stdin-open"])]


NO_STDIN = Stdio()


class StdioStream(Protocol):
    """One connection to a container's stdio."""

    async def receive(self) -> tuple[int, bytes] | None:
        """The next output: (STDOUT or STDERR, bytes); None once the monitor is gone."""
        ...

    async def send(self, data: bytes) -> None:
        """Write to the container's stdin."""
        ...

    async def close_stdin(self) -> None:
        """The end of this client's input: the monitor closes stdin if StdinOnce."""
        ...

    async def aclose(self) -> None: ...


class ContainerStdio(Protocol):
    """Reaching the stdio of containers whose monitors hold it."""

    async def connect(self, bundle: Path) -> StdioStream:
        """Connect to the stdio of the container of `bundle`; `Conflict` if its monitor
        does not serve one (gone, or never started)."""
        ...

    async def resize(self, bundle: Path, rows: int, cols: int) -> None:
        """Set the terminal's size; nothing for a container without a terminal."""
        ...


class AttachSocketStream:
    """A connection to conmon's attach socket."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self._sock = sock

    async def receive(self) -> tuple[int, bytes] | None:
        while True:
            try:
                message = await self._sock.recv(RECEIVE_SIZE)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not message:
                return None
            if len(message) > 1:
                return message[0], message[1:]

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), MAX_INPUT_MESSAGE):
            await self._sock.send(view[start : start + MAX_INPUT_MESSAGE])

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        self._sock.close()


class ConmonStdio:
    """The real `ContainerStdio`: conmon's files in each bundle."""

    async def connect(self, bundle: Path) -> StdioStream:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            dir_fd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            sock.close()
            raise Conflict(f"the container's stdio is not served: {error.strerror}") from None
        try:
            await sock.connect(f"/proc/self/fd/{dir_fd}/attach")
        except OSError as error:
            sock.close()
            raise Conflict(f"the container's stdio is not served: {error.strerror}") from None
        finally:
            os.close(dir_fd)
        return AttachSocketStream(sock)

    async def resize(self, bundle: Path, rows: int, cols: int) -> None:
        await trio.to_thread.run_sync(_write_control, bundle / "ctl", RESIZE_EVENT, rows, cols)


def _write_control(fifo: Path, event: int, rows: int, cols: int) -> None:
    # Non-blocking: a fifo nobody reads (its conmon gone) fails with ENXIO, never hangs.
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENXIO):
            return
        raise
    try:
        os.write(fd, f"{event} {rows} {cols}\n".encode())
    finally:
        os.close(fd)
