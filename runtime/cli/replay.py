"""`berth replay FILE [--dry-run]`: re-issue a recorded command log against a berthd."""

from __future__ import annotations

from pathlib import Path

import click

from .session import daemon_errors, find_daemon


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def replay(ctx: click.Context, dry_run: bool, file: Path) -> None:
    """Re-issue the requests of FILE (from `berth audit --format commands`) in order.

    Needs -H or BERTH_HOST: the requests go to that berthd. Original container ids are
    mapped to the ids the target's creates answer. Each line printed is a request and its
    status. A failed request is reported and the replay goes on with the next one (it
    does not stop); the exit code is then 1. --dry-run prints the requests with mapped
    paths (a container created earlier in FILE shows as <new:#POSITION>).
    """
    from .client.replay import Command, InvalidCommandLog, Replay, read_commands

    client = find_daemon(ctx)
    if client is None and not dry_run:
        raise click.UsageError("replay sends requests to a berthd: give -H or BERTH_HOST")
    try:
        commands: list[Command] = list(read_commands(file))
    except InvalidCommandLog as error:
        raise click.BadParameter(str(error), param_hint="FILE") from None
    if dry_run:
        plan = Replay(None)
        for command in commands:
            click.echo(plan.dry_run(command))
        return
    replayer = Replay(client)
    failed = 0
    with daemon_errors(ctx):
        for command in commands:
            line, ok = replayer.send(command)
            click.echo(line)
            failed += not ok
    if failed:
        click.echo(f"{failed} of {len(commands)} requests failed", err=True)
        ctx.exit(1)


COMMANDS = [replay]
