"""`berth exec`: the docker CLI's flow (create, start, inspect for the exit code).

Without -d the start hijacks the connection, copied as an attach's (interactive.py): with
-t the output is the terminal's, raw, the local terminal raw and its size sent (again on
SIGWINCH), the detach keys watched; without it, stdcopy frames onto stdout and stderr.
With -i the local stdin goes to the exec, and its end closes the exec's stdin. The
command ends with the exec's exit code.
"""

from __future__ import annotations

import os
from typing import Any

import click

from berth.domain.detach_keys import parse_detach_keys

from .client.http import DaemonClient, segment
from .interactive import Session, window_size
from .session import connect, daemon_errors


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("-t", "--tty", "use_tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-u", "--user", default="", help="Username or UID (<name|uid>[:<group|gid>]).")
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
    size = window_size() if use_tty and not detach else None
    if size is not None:
        body["ConsoleSize"] = list(size)
    with daemon_errors(ctx):
        client = connect(ctx)
        exec_id = client.call("POST", f"/containers/{segment(container)}/exec", body=body)["Id"]
        if detach:
            start = {"Detach": True, "Tty": use_tty}
            client.request("POST", f"/exec/{exec_id}/start", body=start).read()
            return
        session = ExecSession(client, exec_id, stdin=interactive, tty=use_tty, keys=detach_keys)
        session.resize()
        session.copy()
        if session.detached:
            click.echo("read escape sequence", err=True)
            ctx.exit(1)
        shown = client.call("GET", f"/exec/{exec_id}/json")
    ctx.exit(int(shown.get("ExitCode") or 0))


def _env_entry(entry: str) -> str:
    """docker's `-e NAME` takes NAME's value from the caller's environment."""
    if "=" in entry or entry not in os.environ:
        return entry
    return f"{entry}={os.environ[entry]}"


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


exec_.name = "exec"
COMMANDS = [exec_]
