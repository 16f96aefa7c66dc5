"""`berth exec`: the docker CLI's flow (create, start, inspect for the exit code).

Without -d the start hijacks the connection: with -t the output is the terminal's, raw,
and the local terminal is put in raw mode and its size sent (again on SIGWINCH); without
it, stdcopy frames onto stdout and stderr. With -i the local stdin goes to the exec, and
its end closes the exec's stdin. The command ends with the exec's exit code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from typing import Any

import click

from .client.frames import PIECE, copy_frames
from .client.http import DaemonClient, DaemonError, DaemonUnreachable, Response
from .session import connect, daemon_errors


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("-t", "--tty", "use_tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option(
    "-u", "--user", default="", help="Username or UID (<name|uid>[:<group|gid>])."
)
@click.option("-w", "--workdir", default="", help="Working directory inside the container.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.option("--detach-keys", default="", help="Override the key sequence for detaching.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True)
@click.pass_context
def exec_(
    ctx: click.Context,
    detach: bool,
    interactive: bool,
    use_tty: bool,
    user: str,
    workdir: str,
    env: tuple[str, ...],
    privileged: bool,
    detach_keys: str,
    container: str,
    command: tuple[str, ...],
) -> None:
    """Execute a command in a running container."""
    body: dict[str, Any] = {
        "User": user,
        "Privileged": privileged,
        "Tty": use_tty,
        "AttachStdin": interactive and not detach,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "DetachKeys": detach_keys,
        "Env": [_env_entry(e) for e in env],
        "WorkingDir": workdir,
        "Cmd": list(command),
    }
    if use_tty and not detach:
        body["ConsoleSize"] = list(_terminal_size())
    with daemon_errors(ctx):
        client = connect(ctx)
        exec_id = client.call("POST", f"/containers/{container}/exec", body=body)["Id"]
        start = {"Detach": detach, "Tty": use_tty}
        if detach:
            client.request("POST", f"/exec/{exec_id}/start", body=start).read()
            return
        stream = client.hijack(f"/exec/{exec_id}/start", body=start, stdin=interactive)
        with _raw_terminal(use_tty and sys.stdin.isatty()), _resizing(client, exec_id, use_tty):
            if interactive:
                _send_stdin(stream)
            if use_tty:
                _copy_raw(stream)
            else:
                copy_frames(stream, sys.stdout.buffer, sys.stderr.buffer)
        stream.close()
        shown = client.call("GET", f"/exec/{exec_id}/json")
    ctx.exit(int(shown.get("ExitCode") or 0))


def _env_entry(entry: str) -> str:
    """docker's `-e NAME` takes NAME's value from the caller's environment."""
    if "=" in entry or entry not in os.environ:
        return entry
    return f"{entry}={os.environ[entry]}"


def _terminal_size() -> tuple[int, int]:
    size = shutil.get_terminal_size()
    return size.lines, size.columns


def _send_stdin(stream: Response) -> None:
    """Copy our stdin to the exec in the background; its end half-closes the connection."""
    sock = stream.connection.sock

    def copy() -> None:
        with contextlib.suppress(OSError):
            while data := os.read(sys.stdin.fileno(), PIECE):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=copy, daemon=True).start()


def _copy_raw(stream: Response) -> None:
    out = sys.stdout.buffer
    for piece in stream.pieces():
        out.write(piece)
        out.flush()


@contextlib.contextmanager
def _raw_terminal(active: bool) -> Iterator[None]:
    if not active:
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _resizing(client: DaemonClient, exec_id: str, active: bool) -> Iterator[None]:
    """Send the terminal's size whenever it changes (docker's monitorTtySize)."""
    if not active or not sys.stdout.isatty():
        yield
        return

    def resize(*_: object) -> None:
        height, width = _terminal_size()
        with contextlib.suppress(DaemonError, DaemonUnreachable, OSError):
            own = DaemonClient(client.host)  # the main connection is mid-answer
            own.request("POST", f"/exec/{exec_id}/resize", {"h": height, "w": width}).read()

    previous = signal.signal(signal.SIGWINCH, resize)
    resize()
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


exec_.name = "exec"
COMMANDS = [exec_]
