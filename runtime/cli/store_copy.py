"""`berth store copy --from sqlite:///ROOT --to postgresql://…`: a host's history into a
fleet's store (ADR/0043). It reads and writes the stores themselves: no engine may serve
the source root meanwhile, which holding the root's lock ensures."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import click

from berth.domain.errors import BerthError

from .root_values import default_host_id


@click.group()
def store() -> None:
    """The event store: copy a host's log into a fleet's."""


@store.command("copy")
@click.option("--from", "source", required=True, help="sqlite:///ROOT, the root to copy.")
@click.option("--to", "target", required=True, help="postgresql://user@host:port/dbname")
@click.option(
    "--host-id",
    envvar="BERTH_HOST_ID",
    default=default_host_id,
    help="The host the copied events belong to [default: /etc/machine-id].",
)
def copy(source: str, target: str, host_id: str) -> None:
    """Copy a SQLite log, its positions' order and actors, verifying both chains."""
    from berth.adapters.rootlock import RootLock

    from ..store.copy import copy_log

    parts = urlsplit(source)
    if parts.scheme != "sqlite" or not parts.path:
        raise click.BadParameter("sqlite:///ROOT", param_hint="--from")
    if not target.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("postgresql://…", param_hint="--to")
    root = Path(parts.path)
    try:
        with RootLock(root) as lock:
            lock.acquire("berth")  # RootLocked (409) while an engine serves the root
            copied = copy_log(root, target, host_id, lambda n: click.echo(f"copied {n}", err=True))
    except BerthError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"copied {copied.events} events as host {host_id} (positions {copied.first_position}-"
        f"{copied.last_position}); both chains verified"
    )


COMMANDS = [store]
