"""Attached sessions: stdin to the container, a raw terminal, resize and detach keys.

As the docker CLI: with `-t` and a terminal on stdin, the terminal is put in raw mode
(restored on the way out) so every key reaches the container's own terminal, and the
window's size follows it (SIGWINCH → `resize`). The input is watched for the detach keys
here too, so that a detach is told apart from the container's end (the daemon closes
the stream either way). `berth attach` and `berth start -a -i` are here.
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
from typing import Any

import click

from berth.domain.detach_keys import DetachScanner, parse_detach_keys

from .client.frames import PIECE, copy_frames
from .client.http import DaemonClient, DaemonError, DaemonUnreachable, Response, segment
from .containers import post_to_each
from .session import ExitWith, connect, daemon_errors, report


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


def inspect(client: DaemonClient, ref: str) -> dict[str, Any]:
    found: dict[str, Any] = client.call("GET", f"/containers/{segment(ref)}/json")
    return found


def wait_code(waiting: Response) -> int:
    answer = waiting.json() or {}
    return int(answer.get("StatusCode", 1))


@click.command()
@click.option("--detach-keys", default="", help="Override the key sequence for detaching.")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.argument("ref")
@click.pass_context
def attach(ctx: click.Context, detach_keys: str, no_stdin: bool, ref: str) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    with daemon_errors(ctx):
        client = connect(ctx)
        found = inspect(client, ref)
        state = found["State"]
        if not state.get("Running"):
            raise click.ClickException("You cannot attach to a stopped container, start it first")
        if state.get("Paused"):
            raise click.ClickException("You cannot attach to a paused container, unpause it first")
        config = found["Config"]
        container_id = found["Id"]
        waiting = client.request("POST", f"/containers/{container_id}/wait")
        session = Session(
            client,
            container_id,
            stdin=not no_stdin and bool(config.get("OpenStdin")),
            tty=bool(config.get("Tty")),
            detach_keys=detach_keys,
        )
        session.resize()
        session.copy()
        if session.detached:
            click.echo("read escape sequence", err=True)
            ctx.exit(1)
        ctx.exit(wait_code(waiting))


@click.command()
@click.option("-a", "--attach", "attach_", is_flag=True, help="Attach STDOUT/STDERR.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@click.option("--detach-keys", default="", help="Override the key sequence for detaching.")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def start(
    ctx: click.Context, attach_: bool, interactive: bool, detach_keys: str, refs: tuple[str, ...]
) -> None:
    """Start one or more stopped containers."""
    with daemon_errors(ctx):
        client = connect(ctx)
        if not (attach_ or interactive):
            post_to_each(ctx, "start", refs)
            return
        if len(refs) > 1:
            raise click.ClickException("you cannot start and attach multiple containers at once")
        found = inspect(client, refs[0])
        config, container_id = found["Config"], found["Id"]
        session = Session(
            client,
            container_id,
            stdin=interactive and bool(config.get("OpenStdin")),
            tty=bool(config.get("Tty")),
            detach_keys=detach_keys,
        )
        condition = "removed" if found["HostConfig"].get("AutoRemove") else "next-exit"
        waiting = client.request(
            "POST", f"/containers/{container_id}/wait", {"condition": condition}
        )
        try:
            client.request("POST", f"/containers/{container_id}/start").read()
        except DaemonError as error:
            session.stream.close()
            report(error)
            raise ExitWith(1) from None
        session.resize()
        session.copy()
        if not session.detached:
            ctx.exit(wait_code(waiting))


COMMANDS = [attach, start]
