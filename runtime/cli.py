"""`berth`: the command-line client (in-process on the engine until berthd's API exists)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from berth.domain.cause import Actor, ActorKind
from berth.domain.errors import BerthError, NotModified

from . import cli_containers, cli_images, cli_system
from .engine import Engine, default_root
from .filters import parse_cli_filters
from .projections.timefmt import docker_time
from .store import LoggedEvent

# Piped output (scripts, `make run`) gets full-width lines instead of rich's 80 columns.
console = Console(
    highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250
)


def cli_actor() -> Actor:
    return Actor(ActorKind.CLI, uid=os.getuid(), pid=os.getpid(), command=" ".join(sys.argv))


@contextmanager
def open_engine(ctx: click.Context) -> Iterator[Engine]:
    root: Path = ctx.obj["root"]
    try:
        with Engine(root) as engine:
            yield engine
    except NotModified:
        pass
    except BerthError as error:
        console.print(f"Error response from daemon: {error.message}", style="red")
        ctx.exit(error_exit_code(ctx, error))


def error_exit_code(ctx: click.Context, error: BerthError) -> int:
    """Docker's exit codes: `run` answers 125 for an engine error, 127 when the command was
    not found and 126 when it could not be run; other commands answer 1."""
    if not ctx.meta.get("berth.run"):
        return 1
    if error.http_status == 400 and "executable file not found" in error.message:
        return 127
    if type(error).__name__ == "StartFailure":
        return 126
    return 125


root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_ROOT",
    default=str(default_root()),
    show_default=True,
    help="State directory (events.db, projections.db).",
)


@click.group()
@root_option
@click.pass_context
def main(ctx: click.Context, root: Path) -> None:
    """berth: an event-sourced, Docker-compatible container engine."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = root


@main.command()
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all containers.")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value).")
@click.option("-n", "--last", default=None, type=int, help="Show n last created containers.")
@click.option("--format", "output", default="", help="'json' for one JSON object a line.")
@click.pass_context
def ps(
    ctx: click.Context,
    show_all: bool,
    quiet: bool,
    no_trunc: bool,
    filters: tuple[str, ...],
    last: int | None,
    output: str,
) -> None:
    """List containers."""
    from .api.routes_containers import list_filtered

    wanted = parse_cli_filters(filters)
    # Reconcile first: a container may have exited while no berth process watched it.
    from .cli_containers import run_with_runner

    async def listing(runner: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = list_filtered(
            runner.engine, show_all or last is not None, last, wanted
        )
        return found

    entries = run_with_runner(ctx, listing)
    if output in ("json", "{{json .}}"):
        for entry in entries:
            click.echo(json.dumps(entry))
        return
    if quiet:
        for entry in entries:
            click.echo(entry["Id"] if no_trunc else entry["Id"][:12])
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"):
        table.add_column(column, no_wrap=True)
    for entry in entries:
        command = entry["Command"]
        if not no_trunc and len(command) > 20:
            command = command[:19] + "…"
        created = datetime.fromtimestamp(entry["Created"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            entry["Id"] if no_trunc else entry["Id"][:12],
            entry["Image"],
            f'"{command}"',
            created,
            entry["Status"],
            "",
            ",".join(n.lstrip("/") for n in entry["Names"]),
        )
    console.print(table)


@main.command()
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Return low-level information on containers."""
    with open_engine(ctx) as engine:
        docs = [engine.inspect_container(ref) for ref in refs]
        click.echo(json.dumps(docs, indent=4))


@main.command()
@click.argument("container")
@click.argument("new_name")
@click.pass_context
def rename(ctx: click.Context, container: str, new_name: str) -> None:
    """Rename a container."""
    with open_engine(ctx) as engine:
        engine.rename(container, new_name, cli_actor())


@main.command()
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
@click.argument("container")
@click.pass_context
def history(ctx: click.Context, output: str, container: str) -> None:
    """Every event of a container, oldest first, from the event log."""
    with open_engine(ctx) as engine:
        events = engine.history(engine.find_container_id(container))
        if output == "json":
            click.echo(json.dumps([_event_json(e) for e in events], indent=2))
            return
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("POSITION", "TIME", "ACTION", "ACTOR", "DETAILS"):
            table.add_column(column)
        for event in events:
            actor = event.data["actor"]
            who = f"{actor.kind.value} uid={actor.uid} pid={actor.pid}"
            table.add_row(
                str(event.position), docker_time(event.timestamp), event.name, who, _details(event)
            )
        console.print(table)


@main.command()
@click.pass_context
def images(ctx: click.Context) -> None:
    """List images."""
    with open_engine(ctx) as engine:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("REPOSITORY", "TAG", "IMAGE ID", "SIZE"):
            table.add_column(column)
        for entry in engine.images.list_entries():
            for tag in entry["RepoTags"] or ["<none>:<none>"]:
                repository, _, name = tag.rpartition(":")
                table.add_row(repository, name, entry["Id"][7:19], f"{entry['Size'] / 1e6:.3g}MB")
        console.print(table)


@main.group()
def projections() -> None:
    """Manage the views `ps`, `inspect` and `images` read."""


@projections.command("rebuild")
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Drop the views and rebuild them from the event log."""
    with open_engine(ctx) as engine:
        position = engine.views.rebuild(engine.store)
        click.echo(f"rebuilt projections up to log position {position}")


_HIDDEN_FIELDS = {"timestamp", "actor", "correlation_id", "originator_topic"}


def _details(event: LoggedEvent) -> str:
    if event.name == "Renamed":
        return f"name: {event.data['old_name']} → {event.data['new_name']}"
    if event.name == "Created":
        return f"name={event.data['name']} image={event.data['image']}"
    shown = {k: v for k, v in event.data.items() if k not in _HIDDEN_FIELDS}
    return " ".join(f"{k}={v}" for k, v in shown.items())


def _event_json(event: LoggedEvent) -> dict[str, Any]:
    actor = event.data["actor"]
    return {
        "position": event.position,
        "version": event.version,
        "time": docker_time(event.timestamp),
        "action": event.name,
        "actor": actor.to_dict(),
        "correlation_id": event.data["correlation_id"],
        "details": {
            k: (docker_time(v) if isinstance(v, datetime) else v)
            for k, v in event.data.items()
            if k not in _HIDDEN_FIELDS
        },
    }


cli_images.register(main)
cli_containers.register(main)
cli_system.register(main)

if __name__ == "__main__":
    main()
