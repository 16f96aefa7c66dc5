"""`berth volume create|ls|inspect|rm|prune`: docker's volume commands and their output,
each one body, a client of the engine's `/volumes` (cli/session.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..views.filters import parse_cli_filters
from .client.http import DaemonError, segment
from .client.render import human_size, table
from .session import Access, connect, daemon_errors, each_ref

PRUNE_WARNING = (
    "WARNING! This will remove all local volumes not used by at least one container.\n"
    "Are you sure you want to continue?"
)


def key_values(items: tuple[str, ...], what: str) -> dict[str, str]:
    """Repeated KEY=VALUE options (a KEY alone is an empty value), as the docker CLI's."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise click.BadParameter(f"invalid {what}: {item!r} (KEY=VALUE)")
        pairs[key] = value if sep else ""
    return pairs


def inspect_each(ctx: click.Context, refs: tuple[str, ...], collection: str, kind: str) -> None:
    """docker's `<kind> inspect`: the documents found as one JSON list, then an error line
    for each ref not found (exit 1 if any)."""
    found, missing = [], []
    with daemon_errors(ctx):
        client = connect(ctx, Access.READ)
        for ref in refs:
            try:
                found.append(client.call("GET", f"/{collection}/{segment(ref)}"))
            except DaemonError as error:
                if error.status != 404:
                    raise
                missing.append(ref)
    click.echo(json.dumps(found, indent=4))
    for ref in missing:
        click.echo(f"Error: No such {kind}: {ref}", err=True)
    if missing:
        ctx.exit(1)


@click.group()
def volume() -> None:
    """Manage volumes."""


@volume.command()
@click.option("--name", "name_option", default="", help="Specify volume name.")
@click.option("-d", "--driver", default="local", show_default=True, help="Volume driver.")
@click.option("-o", "--opt", "opts", multiple=True, help="Driver options (KEY=VALUE).")
@click.option("--label", "labels", multiple=True, help="Metadata (KEY=VALUE).")
@click.argument("name", required=False, default="")
@click.pass_context
def create(
    ctx: click.Context,
    name_option: str,
    driver: str,
    opts: tuple[str, ...],
    labels: tuple[str, ...],
    name: str,
) -> None:
    """Create a volume."""
    if name and name_option and name != name_option:
        raise click.UsageError(
            "conflicting options: either specify --name or provide positional arg, not both"
        )
    body = {
        "Name": name or name_option,
        "Driver": driver,
        "DriverOpts": key_values(opts, "option"),
        "Labels": key_values(labels, "label"),
    }
    with daemon_errors(ctx):
        made = connect(ctx).call("POST", "/volumes/create", body=body)
    click.echo(made["Name"])


@volume.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value).")
@click.pass_context
def list_volumes(ctx: click.Context, quiet: bool, filters: tuple[str, ...]) -> None:
    """List volumes."""
    with daemon_errors(ctx):
        query = {"filters": parse_cli_filters(filters) or None}
        found = connect(ctx, Access.READ).call("GET", "/volumes", query)["Volumes"] or []
    found.sort(key=lambda v: v["Name"])
    if quiet:
        for entry in found:
            click.echo(entry["Name"])
        return
    click.echo(table(["DRIVER", "VOLUME NAME"], [[v["Driver"], v["Name"]] for v in found]))


@volume.command()
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    inspect_each(ctx, names, "volumes", "volume")


@volume.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes.")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rm(ctx: click.Context, force: bool, names: tuple[str, ...]) -> None:
    """Remove one or more volumes."""
    with daemon_errors(ctx):
        client = connect(ctx)
        query = {"force": force or None}
        each_ref(names, lambda name: client.call("DELETE", f"/volumes/{segment(name)}", query))


@volume.command()
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (label=...).")
@click.pass_context
def prune(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all unused local volumes."""
    report = pruned(ctx, force, filters, PRUNE_WARNING, "/volumes/prune")
    if report is None:
        return
    if echo_section("Deleted Volumes:", report.get("VolumesDeleted")):
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}")


def pruned(
    ctx: click.Context, force: bool, filters: tuple[str, ...], warning: str, path: str
) -> dict[str, Any] | None:
    """A prune's report once confirmed (`--force` or the prompt); None if declined."""
    if not force and not click.confirm(warning, default=False):
        return None
    with daemon_errors(ctx):
        query = {"filters": parse_cli_filters(filters) or None}
        report: dict[str, Any] = connect(ctx).call("POST", path, query)
    return report


def echo_section(title: str, names: list[str] | None) -> bool:
    """A prune's `Deleted ...:` list, if anything was; whether it was."""
    if not names:
        return False
    click.echo(title)
    for name in names:
        click.echo(name)
    return True


COMMANDS = [volume]
