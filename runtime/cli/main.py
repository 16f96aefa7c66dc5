"""`berth`: the command-line client of berth's engine (ADR/0024).

Every command is a client of the Docker Engine API (and of berth's own routes): with
-H unix:///PATH or BERTH_HOST, of that berthd; without them, of whoever serves --root, or
of the command's own engine, started in-process for as long as it runs (cli/session.py).
Imports are lazy on purpose: a command's module is imported when it runs, and the hot
remote commands do not come here at all (cli/fast.py).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from .client.http import socket_path
from .root_option import host_id_option, root_option, store_option

#: Each command's module (its COMMANDS list has it); tests/runtime/test_cli_fast_path.py
#: holds this table to the modules' lists.
MODULES = {
    **dict.fromkeys(["attach", "start"], "interactive"),
    **dict.fromkeys(["audit", "history", "projections"], "audit"),
    **dict.fromkeys(["commit", "cp", "diff", "export"], "files"),
    **dict.fromkeys(["create", "run"], "run"),
    **dict.fromkeys(["events", "info", "version"], "system"),
    "exec": "execs",
    **dict.fromkeys(["images", "import", "load", "pull", "rmi", "tag"], "images"),
    **dict.fromkeys(
        ["inspect", "kill", "logs", "pause", "prune", "ps", "rename", "restart", "rm", "stop"],
        "containers",
    ),
    **dict.fromkeys(["unpause", "wait"], "containers"),
    "network": "networks",
    **dict.fromkeys(["login", "logout", "push", "save", "sign"], "registry"),
    "replay": "replay",
    **dict.fromkeys(["stats", "top", "update"], "observe"),
    "store": "store_copy",
    "system": "system_prune",
    "volume": "volumes",
}


class LazyCommands(click.Group):
    """A group whose commands are imported when one is asked for (--help asks for all)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f".{module_name}", __package__)
        commands: list[click.Command] = module.COMMANDS
        return next(command for command in commands if command.name == cmd_name)


def _check_host(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if not value:
        return None
    try:
        socket_path(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.group(cls=LazyCommands)
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


if __name__ == "__main__":
    main()
