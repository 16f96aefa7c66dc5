"""An attached session without click: its hijacked stream copied to stdout and stderr,
stdin to the container, a raw terminal, resize and detach keys (ADR/0024). The fast path
(cli/fast.py) and the click commands (attach, start -a, run, exec) share it.

As the docker CLI: with `-t` and a terminal on stdin, the terminal is put in raw mode
(restored on the way out) so every key reaches the container's own terminal, and the
window's size follows it (SIGWINCH → `resize`). The input is watched for the detach keys
here too, so that a detach is told apart from the container's end (the daemon closes
the stream either way).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import termios
import threading
import tty
from collections.abc import Iterator

from berth.domain.detach_keys import DetachScanner, parse_detach_keys

from .client.frames import PIECE, copy_frames
from .client.http import DaemonClient, DaemonError, DaemonUnreachable, Response


def window_size() -> tuple[int, int] | None:
    """(rows, columns) of the terminal on stdout, or None without one."""
    if not sys.stdout.isatty():
        return None
    size = os.get_terminal_size(sys.stdout.fileno())
    return size.lines, size.columns


@contextlib.contextmanager
def raw_terminal(active: bool) -> Iterator[None]:
    """stdin's terminal in raw mode while inside (nothing when it is not a terminal)."""
    fd = sys.stdin.fileno()
    if not (active and os.isatty(fd)):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)  # not TCSAFLUSH: keys typed ahead are kept
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class Session:
    """One attach to a container: its hijacked stream, and how it is copied."""

    def __init__(
        self,
        client: DaemonClient,
        container_id: str,
        *,
        stdin: bool,
        tty: bool,
        detach_keys: str = "",
    ) -> None:
        self.client = client
        self.container_id = container_id
        self.stdin, self.tty = stdin, tty
        self.keys = parse_detach_keys(detach_keys)
        query = {"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1}
        if detach_keys:
            query["detachKeys"] = detach_keys  # type: ignore[assignment]
        self.stream: Response = client.hijack(
            f"/containers/{container_id}/attach", query, keep_stdin=stdin
        )
        self.detached = False
        self.resize_path = f"/containers/{container_id}/resize"

    def resize(self) -> None:
        size = window_size()
        if not self.tty or size is None:
            return
        with contextlib.suppress(DaemonError, DaemonUnreachable, OSError):
            own = DaemonClient(self.client.host)  # the session's connections are busy
            query = {"h": size[0], "w": size[1]}
            own.request("POST", self.resize_path, query).read()

    def _send_stdin(self) -> None:
        # Signals go to the main thread, whose blocked read they interrupt: a SIGWINCH
        # taken by this thread would wait for the next output to be handled.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGWINCH, signal.SIGINT, signal.SIGTERM})
        sock = self.stream.connection.sock
        scanner = DetachScanner(self.keys if self.tty else b"")
        fd = sys.stdin.fileno()
        with contextlib.suppress(OSError):
            while data := os.read(fd, PIECE):
                passed, self.detached = scanner.feed(data)
                if self.detached:
                    # The keys go on too: the daemon, watching for the same, ends the stream.
                    sock.sendall(passed + self.keys)
                    return
                sock.sendall(passed)
            sock.shutdown(socket.SHUT_WR)

    def copy(self) -> None:
        """Until the stream ends: the container's end, or a detach (`detached`)."""
        if self.stdin:
            threading.Thread(target=self._send_stdin, daemon=True).start()
        previous = signal.signal(signal.SIGWINCH, lambda *_: self.resize()) if self.tty else None
        try:
            with raw_terminal(self.tty and self.stdin):
                if self.tty:
                    out = sys.stdout.buffer
                    for piece in self.stream.pieces():
                        out.write(piece)
                        out.flush()
                else:
                    copy_frames(self.stream, sys.stdout.buffer, sys.stderr.buffer)
        finally:
            if previous is not None:
                signal.signal(signal.SIGWINCH, previous)
            self.stream.close()


class ExecSession(Session):
    """An attach's session (interactive.py) on an exec's start: its stdin, raw terminal,
    detach keys and resizes."""

    def __init__(
        self, client: DaemonClient, exec_id: str, *, stdin: bool, tty: bool, keys: str
    ) -> None:
        self.client, self.exec_id = client, exec_id
        self.stdin, self.tty = stdin, tty
        self.keys = parse_detach_keys(keys)
        start = {"Detach": False, "Tty": tty}
        self.stream = client.hijack(f"/exec/{exec_id}/start", keep_stdin=stdin, body=start)
        self.detached = False
        self.resize_path = f"/exec/{exec_id}/resize"
