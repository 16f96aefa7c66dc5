"""`berth version|info|events`: the system commands of the CLI, local or remote (-H)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import click

from berth.domain.timestamps import unix_seconds

from ..views.filters import parse_cli_filters
from .times import user_time

API_VERSION = "1.41"


def _relative(text: str | None) -> str | None:
    """Docker's `--since 10m` and `--until 0s` become absolute unix seconds, as the CLI's
    (a log position `#N` is sent as it is)."""
    if not text or text.startswith("#"):
        return text
    return unix_seconds(user_time(text))


def _tool_version(command: list[str]) -> str:
    import subprocess

    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    return (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else ""


def register(main: click.Group) -> None:
    from .main import open_engine, remote_client

    @main.command()
    @click.pass_context
    def version(ctx: click.Context) -> None:
        """Show the berth version information (and the daemon's, with -H)."""
        client = remote_client(ctx)
        if client is not None:
            click.echo("Client:")
        from importlib.metadata import version as package_version

        click.echo(f"Version:      {package_version('berth')}")
        click.echo(f"API version:  {API_VERSION} (minimum version 1.24)")
        click.echo("OS/Arch:      linux/amd64")
        click.echo(f"runc:         {_tool_version(['runc', '--version'])}")
        click.echo(f"conmon:       {_tool_version(['conmon', '--version'])}")
        if client is not None:
            from .client import remote

            click.echo()
            with remote.daemon_errors(ctx):
                remote.version(client)

    @main.command()
    @click.pass_context
    def info(ctx: click.Context) -> None:
        """Display system-wide information."""
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.info(client)
            return
        with open_engine(ctx) as engine:
            states = Counter(e["State"] for e in engine.list_containers(all=True))
            images = engine.images.list_entries()
            click.echo(f"Containers: {sum(states.values())}")
            for state in ("running", "paused", "exited", "created"):
                click.echo(f" {state.capitalize()}: {states.get(state, 0)}")
            click.echo(f"Images: {len(images)}")
            click.echo(f"Root Dir: {engine.root}")
            click.echo(f"Event log position: {engine.store.max_position()}")

    @main.command()
    @click.option(
        "--since", default=None, help="Events since (time, duration like 10m, or #position)."
    )
    @click.option("--until", default=None, help="Events until (same forms); default: follow.")
    @click.option("-f", "--filter", "filters", multiple=True, help="key=value filter.")
    @click.option("--format", "output", default="", help="'json' for one JSON object a line.")
    @click.pass_context
    def events(
        ctx: click.Context,
        since: str | None,
        until: str | None,
        filters: tuple[str, ...],
        output: str,
    ) -> None:
        """Get real time events from the engine (from the durable log)."""
        wanted = parse_cli_filters(filters)
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.events(client, since, until, wanted, output)
            return
        import trio

        from ..api.events import EventFilters, stream_events

        async def show() -> None:
            with open_engine(ctx) as engine:
                async for message in stream_events(
                    engine, _relative(since), _relative(until), EventFilters(wanted)
                ):
                    click.echo(_format(message, output))

        trio.run(show)


def _format(message: dict[str, Any], output: str) -> str:
    if output == "json" or output == "{{json .}}":
        return json.dumps(message)
    stamp = datetime.fromtimestamp(message["timeNano"] / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(message["Actor"]["Attributes"].items()))
    return (
        f"{stamp}000Z {message['Type']} {message['Action']} {message['Actor']['ID']} ({attributes})"
    )
