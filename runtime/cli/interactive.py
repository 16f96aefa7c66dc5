"""`berth attach` and `berth start -a -i`: attached sessions (cli/terminal.py)."""

from __future__ import annotations

from typing import Any

import click

from .client.http import DaemonClient, DaemonError, Response, segment
from .containers import post_to_each
from .session import ExitWith, connect, daemon_errors, report
from .terminal import Session


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
