"""`berth`: the command-line client of berth's engine (ADR/0024).

Every command is a client of the Docker Engine API (and of berth's own routes): with
-H unix:///PATH or BERTH_HOST, of that berthd; without them, of whoever serves --root, or
of the command's own engine, started in-process for as long as it runs (cli/session.py).
Imports are lazy on purpose: `berth -H ... run` must not pay for trio, eventsourcing or
rich.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import (
    audit,
    containers,
    execs,
    files,
    images,
    interactive,
    networks,
    observe,
    replay,
    run,
    store_copy,
    system,
    system_prune,
    volumes,
)
from .client.http import socket_path
from .root_option import host_id_option, root_option, store_option


def _check_host(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if not value:
        return None
    try:
        socket_path(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.group()
@root_option
@store_option
@host_id_option
@click.option(
    "-H",
    "--host",
    envvar="BERTH_HOST",
    default=None,
    callback=_check_host,
    help="berthd to talk to (unix:///PATH; env BERTH_HOST). Without it: whoever serves "
    "--root, or the command's own engine, in-process.",
)
@click.option(
    "--ignore-log-verification",
    is_flag=True,
    help="Open an event log that failed verification read-only, for recovery (for the "
    "command's own engine).",
)
@click.pass_context
def main(
    ctx: click.Context,
    root: Path,
    store: str | None,
    host_id: str,
    host: str | None,
    ignore_log_verification: bool,
) -> None:
    """berth: an event-sourced, Docker-compatible container engine."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = root
    ctx.obj["store"] = store
    ctx.obj["host_id"] = host_id
    ctx.obj["host"] = host
    ctx.obj["ignore_log_verification"] = ignore_log_verification


for group in (
    containers,
    interactive,
    observe,
    run,
    execs,
    files,
    images,
    system,
    audit,
    replay,
    volumes,
    networks,
    system_prune,
    store_copy,
):
    for command in group.COMMANDS:
        main.add_command(command)

if __name__ == "__main__":
    main()
