"""`--root`, shared by `berth` and `berthd` without berthd loading berth's commands."""

from __future__ import annotations

from pathlib import Path

import click

# The engine's DEFAULT_ROOT, not imported from it: the engine is heavy to import.
DEFAULT_ROOT = "/var/lib/berth"

root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_ROOT",
    default=DEFAULT_ROOT,
    show_default=True,
    help="State directory (events.db, projections.db).",
)

MACHINE_ID = Path("/etc/machine-id")


def default_host_id() -> str:
    """The machine's id, as the fleet knows this host unless told otherwise."""
    try:
        return MACHINE_ID.read_text().strip() or "localhost"
    except OSError:
        return "localhost"


def _store_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """None for SQLite under --root (absent, or any sqlite: URL); a postgresql:// URL."""
    if value is None or value.startswith("sqlite:"):
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("postgresql://[user[:password]@]host[:port]/dbname or sqlite:")
    return value


store_option = click.option(
    "--store",
    envvar="BERTH_STORE",
    default=None,
    callback=_store_url,
    metavar="URL",
    help="Event store: postgresql://user@host:port/dbname, shared by a fleet of hosts "
    "[default: SQLite, events.db under --root].",
)

host_id_option = click.option(
    "--host-id",
    envvar="BERTH_HOST_ID",
    default=default_host_id,
    metavar="ID",
    help="Who this host is in a fleet's store [default: /etc/machine-id].",
)
