"""`berth`'s click options --root, --store and --host-id (their meaning: root_values.py)."""

from __future__ import annotations

from pathlib import Path

import click

from .root_values import (
    DEFAULT_ROOT,
    HOST_ID_HELP,
    ROOT_HELP,
    STORE_HELP,
    default_host_id,
    store_url,
)

root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_ROOT",
    default=DEFAULT_ROOT,
    show_default=True,
    help=ROOT_HELP,
)


def _store_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        return store_url(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


store_option = click.option(
    "--store",
    envvar="BERTH_STORE",
    default=None,
    callback=_store_url,
    metavar="URL",
    help=STORE_HELP,
)

host_id_option = click.option(
    "--host-id",
    envvar="BERTH_HOST_ID",
    default=default_host_id,
    metavar="ID",
    help=HOST_ID_HELP,
)
