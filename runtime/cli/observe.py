"""`berth top|stats`: what a container's processes are doing (routes_observe.py)."""

from __future__ import annotations

import json

import click

from .client.http import segment
from .client.render import table
from .client.stats_render import HEADERS, stats_row
from .session import connect, daemon_errors


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("ref")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def top(ctx: click.Context, ref: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container (`ps` options after its name)."""
    with daemon_errors(ctx):
        query = {"ps_args": " ".join(ps_args) or None}
        listed = connect(ctx).call("GET", f"/containers/{segment(ref)}/top", query)
        click.echo(table(listed["Titles"], listed["Processes"] or []))


@click.command()
@click.option("--no-stream", is_flag=True, help="Print one reading and exit.")
@click.option("--format", "output", default="", help="'json' for the API's JSON, a line each.")
@click.argument("ref")
@click.pass_context
def stats(ctx: click.Context, no_stream: bool, output: str, ref: str) -> None:
    """Display a container's resource usage (CPU, memory, network, block I/O, pids)."""
    with daemon_errors(ctx):
        path = f"/containers/{segment(ref)}/stats"
        response = connect(ctx).request("GET", path, {"stream": 0 if no_stream else 1})
        for line in response.lines():
            doc = json.loads(line)
            if output == "json":
                click.echo(json.dumps(doc))
            else:
                click.echo(table(HEADERS, [stats_row(doc)]))


COMMANDS = [top, stats]
