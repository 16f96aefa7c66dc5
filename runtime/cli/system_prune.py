"""`berth system prune`: docker's, for what berth has — stopped containers, then the
networks no container uses (and the bridges of berth roots that no longer exist, which
`/networks/prune` removes too), with `--volumes` the unused volumes, then the dangling
images (berth keeps no build cache)."""

from __future__ import annotations

import click

from .client.render import human_size
from .session import connect, daemon_errors
from .volumes import echo_section

WARNING = """WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
{volumes}  - all dangling images

Are you sure you want to continue?"""


@click.group()
def system() -> None:
    """Manage berth."""


@system.command()
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--volumes", is_flag=True, help="Prune volumes.")
@click.pass_context
def prune(ctx: click.Context, force: bool, volumes: bool) -> None:
    """Remove unused data."""
    shown = "  - all volumes not used by at least one container\n" if volumes else ""
    if not force and not click.confirm(WARNING.format(volumes=shown), default=False):
        return
    reclaimed = 0
    with daemon_errors(ctx):
        client = connect(ctx)
        containers = client.call("POST", "/containers/prune")
        reclaimed += containers.get("SpaceReclaimed") or 0
        sections = [
            ("Deleted Containers:", containers.get("ContainersDeleted")),
            ("Deleted Networks:", client.call("POST", "/networks/prune")["NetworksDeleted"]),
        ]
        if volumes:
            report = client.call("POST", "/volumes/prune")
            sections.append(("Deleted Volumes:", report.get("VolumesDeleted")))
            reclaimed += report.get("SpaceReclaimed") or 0
        images = client.call("POST", "/images/prune")
        deleted = images.get("ImagesDeleted") or []
        sections.append(
            ("Deleted Images:", [f"{k.lower()}: {v}" for d in deleted for k, v in d.items()])
        )
        reclaimed += images.get("SpaceReclaimed") or 0
    for title, names in sections:
        if echo_section(title, names):
            click.echo("")
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")


COMMANDS = [system]
