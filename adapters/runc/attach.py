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
#: The most messages one receive gathers (~512 KiB of output).
MAX_BATCH = 64


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

    async def receive(self) -> list[tuple[int, bytes]] | None:
        """The output there is (waiting for some): [(STDOUT or STDERR, bytes), ...], one
        item per run of the same stream; None once the monitor is gone."""
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
    """A connection to conmon's attach socket (non-blocking; trio waits for readiness)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock

    def _recv(self) -> bytes | None:
        """A message; None when there is none yet. b"" at the end."""
        try:
            return self._sock.recv(RECEIVE_SIZE)
        except BlockingIOError:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return b""

    async def receive(self) -> list[tuple[int, bytes]] | None:
        while (message := self._recv()) is None:
            await trio.lowlevel.wait_readable(self._sock)
        if not message:
            return None
        pieces = [(message[0], [message[1:]])]
        # What else is already there goes in the same batch: one write to the client
        # rather than one per 8 KiB conmon read.
        for _ in range(MAX_BATCH):
            message = self._recv()
            if not message:
                break  # none yet, or the end (the next receive answers None)
            if message[0] == pieces[-1][0]:
                pieces[-1][1].append(message[1:])
            else:
                pieces.append((message[0], [message[1:]]))
        return [(stream, b"".join(parts)) for stream, parts in pieces]

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), MAX_INPUT_MESSAGE):
            message = view[start : start + MAX_INPUT_MESSAGE]
            while True:
                try:
                    self._sock.send(message)
                    break
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self._sock)

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        trio.lowlevel.notify_closing(self._sock)  # wakes a task still waiting on it
        self._sock.close()


class ConmonStdio:
    """The real `ContainerStdio`: conmon's files in each bundle."""

    async def connect(self, bundle: Path) -> StdioStream:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            dir_fd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                # A local socket: connecting does not wait (conmon accepts from its loop).
                sock.connect(f"/proc/self/fd/{dir_fd}/attach")
            finally:
                os.close(dir_fd)
        except OSError as error:
            sock.close()
            raise Conflict(f"the container's stdio is not served: {error.strerror}") from None
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
