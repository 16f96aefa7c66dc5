"""`berth version|info|events`: the system commands, each one body, a client of the
engine's API (cli/session.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from ..views.filters import parse_cli_filters
from .client.http import API_VERSION
from .session import Access, api_time, connect, daemon_errors, find_daemon


def _tool_version(command: list[str]) -> str:
    import subprocess

    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    return (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else ""


@click.command()
@click.pass_context
def version(ctx: click.Context) -> None:
    """Show the berth version information (and the daemon's, when one serves)."""
    daemon = find_daemon(ctx)
    if daemon is not None:
        click.echo("Client:")
    from importlib.metadata import version as package_version

    click.echo(f"Version:      {package_version('berth')}")
    click.echo(f"API version:  {API_VERSION} (minimum version 1.24)")
    click.echo("OS/Arch:      linux/amd64")
    click.echo(f"runc:         {_tool_version(['runc', '--version'])}")
    click.echo(f"conmon:       {_tool_version(['conmon', '--version'])}")
    if daemon is None:
        return
    click.echo()
    with daemon_errors(ctx):
        server = daemon.call("GET", "/version")
    click.echo("Server:")
    click.echo(f" Engine:        {server.get('Version')}")
    click.echo(
        f"  API version:  {server.get('ApiVersion')} (minimum version "
        f"{server.get('MinAPIVersion')})"
    )
    click.echo(f"  OS/Arch:      {server.get('Os')}/{server.get('Arch')}")
    click.echo(f"  Kernel:       {server.get('KernelVersion')}")


@click.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """Display system-wide information."""
    with daemon_errors(ctx):
        data = connect(ctx, Access.READ).call("GET", "/info")
    click.echo(f"Containers: {data.get('Containers')}")
    click.echo(f" Running: {data.get('ContainersRunning')}")
    click.echo(f" Paused: {data.get('ContainersPaused')}")
    click.echo(f" Stopped: {data.get('ContainersStopped')}")
    click.echo(f"Images: {data.get('Images')}")
    click.echo(f"Server Version: {data.get('ServerVersion')}")
    click.echo(f"Root Dir: {data.get('DockerRootDir')}")
    click.echo(f"Name: {data.get('Name')}")


@click.command()
@click.option("--since", default=None, help="Events since (time, duration like 10m, or #position).")
@click.option("--until", default=None, help="Events until (same forms); default: follow.")
@click.option("-f", "--filter", "filters", multiple=True, help="key=value filter.")
@click.option("--format", "output", default="", help="'json' for one JSON object a line.")
@click.option("--fleet", is_flag=True, help="Every host's events in a fleet's store.")
@click.pass_context
def events(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    filters: tuple[str, ...],
    output: str,
    fleet: bool,
) -> None:
    """Get real time events from the engine (from the durable log)."""
    with daemon_errors(ctx):
        wanted = parse_cli_filters(filters)
        query = {
            "since": api_time(since),
            "until": api_time(until),
            "filters": wanted or None,
            "fleet": 1 if fleet else None,
        }
        for line in connect(ctx, Access.READ).request("GET", "/events", query).lines():
            click.echo(event_line(json.loads(line), output))


def event_line(message: dict[str, Any], output: str) -> str:
    """One event as `docker events` prints it, or its JSON."""
    if output == "json" or output == "{{json .}}":
        return json.dumps(message)
    stamp = datetime.fromtimestamp(message["timeNano"] / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(message["Actor"]["Attributes"].items()))
    host = f"{message['Host']} " if "Host" in message else ""  # `--fleet`
    return (
        f"{stamp}000Z {host}{message['Type']} {message['Action']} {message['Actor']['ID']} "
        f"({attributes})"
    )


COMMANDS = [version, info, events]
