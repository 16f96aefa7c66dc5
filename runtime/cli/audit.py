"""`berth history`, `berth audit [verify|rebuild]` and `berth projections rebuild`.

What the log knows and the Docker API does not say: each command is a client of berth's
own routes (`/berth/...`, runtime/api/routes_berth.py), so it answers from the log of the
engine it talks to — berthd's with -H or when berthd holds --root, else the command's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .client.http import DaemonClient, segment
from .client.render import audit_table, console, history_table
from .images import messages
from .session import Access, ExitWith, connect, daemon_errors

root_override = click.option(
    "--root",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory (default: berth's --root).",
)


def _use_root(ctx: click.Context, root: Path | None) -> None:
    if root is not None:
        ctx.find_root().obj["root"] = root


@click.command()
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
@click.argument("container")
@click.pass_context
def history(ctx: click.Context, output: str, container: str) -> None:
    """Every event of a container, oldest first, removed ones too: when, who (with the API
    caller's command line), and what changed (before → after)."""
    with daemon_errors(ctx):
        path = f"/berth/containers/{segment(container)}/history"
        entries = connect(ctx, Access.READ).call("GET", path)
    if output == "json":
        # One object a line, as docker's `--format json`.
        click.echo("\n".join(map(json.JSONEncoder().encode, entries)))
    else:
        console.print(history_table(entries))


@click.group(invoke_without_command=True)
@click.option("--since", default=None, help="From this time (RFC 3339, unix, 10m) or after #POS.")
@click.option("--until", default=None, help="Up to this time, or up to #POS included.")
@click.option("--user", "users", multiple=True, help="Caller's uid (or user name); repeatable.")
@click.option("--action", "actions", multiple=True, help="e.g. create, rm, pull, or an event.")
@click.option("--container", "refs", multiple=True, help="A container, removed ones included.")
@click.option("--host", "hosts", multiple=True, help="In a fleet's store: this host's, or all.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json", "commands"]),
    default="table",
    help="commands: the users' requests as Docker API calls, one JSON line each.",
)
@root_override
@click.pass_context
def audit(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    users: tuple[str, ...],
    actions: tuple[str, ...],
    refs: tuple[str, ...],
    hosts: tuple[str, ...],
    output: str,
    root: Path | None,
) -> None:
    """Who did what, when, to which container or image."""
    _use_root(ctx, root)
    if ctx.invoked_subcommand is not None:
        return
    filters = {
        "user": list(users),
        "action": list(actions),
        "container": list(refs),
        "host": list(hosts),
    }
    query = {
        "since": since,
        "until": until,
        "filters": {key: values for key, values in filters.items() if values} or None,
        "format": "commands" if output == "commands" else "json",
    }
    with daemon_errors(ctx):
        response = connect(ctx, Access.READ).request("GET", "/berth/audit", query)
        if output == "table":
            console.print(audit_table([json.loads(line) for line in response.lines()]))
            return
        for line in response.lines():
            if output == "commands":  # compact: a command log is for `berth replay`
                click.echo(json.dumps(json.loads(line), separators=(",", ":")))
            else:
                click.echo(line.decode())


@audit.command("verify")
@click.option("--jobs", type=int, default=None, help="Worker processes (default: CPUs).")
@click.option(
    "--from",
    "start",
    type=int,
    default=0,
    help="Only from the checkpoint at or before this position (default: the whole log).",
)
@click.option(
    "--host", "host", default=None, help="In a fleet's store: this host's chain, or all (default)."
)
@root_override
@click.pass_context
def verify(
    ctx: click.Context, jobs: int | None, start: int, host: str | None, root: Path | None
) -> None:
    """Check the log's hash chain: exit 0 if intact, 1 naming the first bad position."""
    _use_root(ctx, root)
    with daemon_errors(ctx):
        client = connect(ctx, Access.READ, examines_log=True)
        query = {"jobs": jobs, "from": start or None, "host": host}
        report = client.call("GET", "/berth/verify", query)
        for note in report["notes"]:
            click.echo(f"note: {note}")
        problem = report["problem"]
        if problem is not None:
            click.echo(
                f"TAMPERED: position {problem['position']}: {problem['kind']}: {problem['detail']}"
            )
            click.echo(f"checked {report['events']} events before it in {report['seconds']:.2f}s")
            raise ExitWith(1)
    click.echo(
        f"intact: {report['events']} events (positions {report['first_position']}-"
        f"{report['head_position']}), {report['checkpoints']} checkpoints, checked in "
        f"{report['segments']} segments in {report['seconds']:.2f}s"
    )
    click.echo(f"head: position {report['head_position']} sha256 {report['head_hash']}")


def rebuild_projections(client: DaemonClient, name: str, show: Any = None) -> int:
    """`POST /berth/projections/rebuild`: the position rebuilt up to; progress to `show`."""
    response = client.request("POST", "/berth/projections/rebuild", {"name": name})
    position = 0
    for message in messages(response.lines()):
        if "progress" in message and show is not None:
            show(message["progress"]["current"], message["progress"]["total"])
        position = int(message.get("position", position))
    return position


@audit.command("rebuild")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also the views ps, inspect and images read, in the same pass over the log.",
)
@root_override
@click.pass_context
def rebuild_audit(ctx: click.Context, everything: bool, root: Path | None) -> None:
    """Drop the audit view and rebuild it from the event log."""
    _use_root(ctx, root)
    with daemon_errors(ctx):
        client = connect(ctx, Access.READ)
        position = rebuild_projections(client, "all" if everything else "audit")
    what = "the audit view and the views" if everything else "the audit view"
    click.echo(f"rebuilt {what} up to log position {position}")


@click.group()
def projections() -> None:
    """Manage the views `ps`, `inspect` and `images` read."""


@projections.command("rebuild")
@click.argument("name", required=False, type=click.Choice(["all", "views", "audit"]))
@click.pass_context
def rebuild(ctx: click.Context, name: str | None) -> None:
    """Drop projections and rebuild them from the event log, with a progress bar.

    NAME: `views` (what ps, inspect and images read), `audit`, or `all` (the default, in
    one pass over the log). berthd may keep serving meanwhile: every batch is applied
    exactly once, whoever applies it.
    """
    from rich.progress import Progress

    with daemon_errors(ctx), Progress(console=console.made(), transient=True) as progress:
        task = progress.add_task("rebuilding", total=None)

        def show(current: int, total: int) -> None:
            progress.update(task, completed=current, total=total or 1)

        position = rebuild_projections(connect(ctx, Access.READ), name or "all", show)
    click.echo(f"rebuilt {name or 'all'} projections up to log position {position}")


COMMANDS = [history, audit, projections]
