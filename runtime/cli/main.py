"""`berth`: the command-line client, local or remote (ADR/0015).

With `-H unix:///PATH` or BERTH_HOST, every command is a Docker Engine API request to that
berthd (runtime/cli/client/); without them the engine runs in-process on --root. Imports are
lazy on purpose: `berth -H ... run` must not pay for trio, eventsourcing or rich.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from berth.domain.container.exit_codes import run_failure_code
from berth.domain.errors import BerthError, NotModified

from ..views.filters import parse_cli_filters
from . import audit as cli_audit
from . import containers as cli_containers
from . import images as cli_images
from . import replay as cli_replay
from . import system as cli_system

if TYPE_CHECKING:
    from rich.console import Console

    from berth.adapters.rootlock import RootLock
    from berth.domain.cause import Actor

    from ..service.engine import Engine
    from .client.http import DaemonClient

# The engine's DEFAULT_ROOT, not imported from it: the engine is heavy to import.
DEFAULT_ROOT = "/var/lib/berth"
ROOT_WAIT_STEP_S = 0.2
# The commands that record nothing: all a log that failed verification still serves.
READ_COMMANDS = frozenset(
    {"audit", "events", "history", "images", "info", "inspect", "logs", "projections", "ps"}
    | {"version", "wait"}
)
LOCAL_ONLY_NOTE = (
    "Local only: reads the event log under --root directly (there is no Docker API for "
    "it), also when -H or BERTH_HOST is set."
)


class LazyConsole:
    """rich's Console, made on first use: most commands never print through rich."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def _made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # Piped output (scripts, `make run`) gets full-width lines, not rich's 80 columns.
            self._console = Console(
                highlight=False,
                markup=False,
                soft_wrap=True,
                width=None if sys.stdout.isatty() else 250,
            )
        return self._console

    def print(self, *objects: Any, **options: Any) -> None:
        self._made().print(*objects, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)


console = LazyConsole()


def Table(*args: Any, **options: Any) -> Any:
    """rich's Table, imported only when a table is drawn."""
    from rich.table import Table as RichTable

    return RichTable(*args, **options)


def cli_actor() -> Actor:
    from berth.domain.cause import Actor, ActorKind
    from berth.domain.redaction import command_text

    command = command_text(sys.argv)
    return Actor(ActorKind.CLI, uid=os.getuid(), pid=os.getpid(), command=command)


@contextmanager
def open_engine(ctx: click.Context) -> Iterator[Engine]:
    """The engine on --root, once the log's tail verifies (as berthd checks it at start);
    with --ignore-log-verification a log that fails is opened read-only."""
    from ..service.engine import Engine
    from ..store.integrity import (
        LogVerificationFailed,
        ReadOnlyLog,
        read_only,
        verify_tail,
    )

    root: Path = ctx.obj["root"]
    try:
        problem = verify_tail(root / "events.db").problem
        top = ctx.find_root()
        if problem is not None and not top.obj.get("ignore_log_verification"):
            raise LogVerificationFailed(problem)
        serving = read_only(problem, "berth") if problem is not None else None
        if serving is not None and top.invoked_subcommand not in READ_COMMANDS:
            raise ReadOnlyLog(serving.message)
        with Engine(root) as engine:
            if serving is not None:
                engine.store.read_only = serving
                click.echo(f"warning: {serving.message}", err=True)
            yield engine
    except NotModified:
        pass
    except BerthError as error:
        click.echo(f"Error response from daemon: {error.message}", err=True)
        ctx.exit(error_exit_code(ctx, error))


def remote_client(ctx: click.Context) -> DaemonClient | None:
    """The client of the berthd named by -H or BERTH_HOST, or of the berthd that holds
    --root (a command acting there in-process would race it); None in local mode."""
    host: str | None = ctx.find_root().obj.get("host")
    if not host:
        from berth.adapters.rootlock import RootLock

        holder = RootLock(ctx.find_root().obj["root"]).holder()
        if holder is None or holder.socket is None:
            return None
        host = f"unix://{holder.socket}"
    from .client.http import DaemonClient

    return DaemonClient(host)


def hold_root(ctx: click.Context, lock: RootLock, *, wait: bool) -> None:
    """Take the root's lock for an in-process engine; while another berth command holds
    it, wait (saying so once). A daemon holding it is an error naming it."""
    from berth.adapters.rootlock import RootLocked

    told = False
    while True:
        try:
            lock.acquire("berth", wait_s=ROOT_WAIT_STEP_S)
            return
        except RootLocked as locked:
            if not wait or locked.holder is None or locked.holder.socket is not None:
                click.echo(f"Error: {locked.message}", err=True)
                ctx.exit(error_exit_code(ctx, locked))
            if not told:
                click.echo(f"waiting for {locked.holder.describe()} to finish", err=True)
                told = True


def local_only(command: click.Command) -> None:
    """Say in --help that a log-reading command ignores -H (it has no Docker API)."""
    if LOCAL_ONLY_NOTE not in (command.help or ""):
        command.help = f"{command.help or ''}\n\n{LOCAL_ONLY_NOTE}".strip()


def error_exit_code(ctx: click.Context, error: BerthError) -> int:
    """Docker's exit codes: `run` answers 125 for an engine error, 127 when the command was
    not found and 126 when it could not be run; other commands answer 1."""
    if not ctx.meta.get("berth.run"):
        return 1
    return run_failure_code(type(error).__name__ == "StartFailure", error.message)


root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BERTH_ROOT",
    default=DEFAULT_ROOT,
    show_default=True,
    help="State directory (events.db, projections.db).",
)


class BerthGroup(click.Group):
    """berth's command group: log-reading commands say in --help that they are local only."""

    local_only = ("history", "audit", "projections")

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None and cmd_name in self.local_only:
            local_only(command)
        return command


def _check_host(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if not value:
        return None
    from .client.http import socket_path

    try:
        socket_path(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.group(cls=BerthGroup)
@root_option
@click.option(
    "-H",
    "--host",
    envvar="BERTH_HOST",
    default=None,
    callback=_check_host,
    help="berthd to talk to (unix:///PATH; env BERTH_HOST). Without it, commands run the "
    "engine in-process on --root.",
)
@click.option(
    "--ignore-log-verification",
    is_flag=True,
    help="Open an event log that failed verification read-only, for recovery (in-process "
    "commands only).",
)
@click.pass_context
def main(ctx: click.Context, root: Path, host: str | None, ignore_log_verification: bool) -> None:
    """berth: an event-sourced, Docker-compatible container engine."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = root
    ctx.obj["host"] = host
    ctx.obj["ignore_log_verification"] = ignore_log_verification


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
    from .client.render import ps_output

    wanted = parse_cli_filters(filters)
    client = remote_client(ctx)
    if client is not None:
        from .client import remote

        with remote.daemon_errors(ctx):
            remote.ps(client, show_all, quiet, no_trunc, wanted, last, output)
        return
    from ..api.routes_containers import list_filtered

    # Reconcile first: a container may have exited while no berth process watched it.
    from .containers import run_with_runner

    async def listing(runner: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = list_filtered(
            runner.engine, show_all or last is not None, last, wanted
        )
        return found

    from berth.adapters.rootlock import RootLock

    if RootLock(ctx.obj["root"]).holder() is None:
        rows = run_with_runner(ctx, listing)
    else:  # another berth command acts on the root: list what the log says
        with open_engine(ctx) as engine:
            rows = list_filtered(engine, show_all or last is not None, last, wanted)
    for line in ps_output(rows, quiet, no_trunc, output):
        click.echo(line)


@main.command()
@click.option(
    "--at",
    default=None,
    help="As it was at TIME (RFC 3339, unix, 10m) or #POSITION, removed containers too "
    "(reads the local log).",
)
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def inspect(ctx: click.Context, at: str | None, refs: tuple[str, ...]) -> None:
    """Return low-level information on containers."""
    if at is not None:
        cli_audit.inspect_at(ctx, at, refs)
        return
    client = remote_client(ctx)
    if client is not None:
        from .client import remote

        with remote.daemon_errors(ctx):
            remote.inspect(client, refs)
        return
    with open_engine(ctx) as engine:
        docs = [engine.inspect_container(ref) for ref in refs]
        click.echo(json.dumps(docs, indent=4))


@main.command()
@click.argument("container")
@click.argument("new_name")
@click.pass_context
def rename(ctx: click.Context, container: str, new_name: str) -> None:
    """Rename a container."""
    client = remote_client(ctx)
    if client is not None:
        from .client import remote

        with remote.daemon_errors(ctx):
            remote.rename(client, container, new_name)
        return
    with open_engine(ctx) as engine:
        engine.rename(container, new_name, cli_actor())


@main.command()
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table")
@click.argument("container")
@click.pass_context
def history(ctx: click.Context, output: str, container: str) -> None:
    """Every event of a container, oldest first, from the event log: when, who (with the
    API caller's command line), and what changed (before → after)."""
    with open_engine(ctx) as engine:
        cli_audit.print_history(engine, container, output)


@main.command()
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.pass_context
def images(ctx: click.Context, quiet: bool) -> None:
    """List images."""
    client = remote_client(ctx)
    if client is not None:
        from .client import remote

        with remote.daemon_errors(ctx):
            remote.images(client, quiet)
        return
    from .client.render import image_table

    with open_engine(ctx) as engine:
        click.echo(image_table(engine.images.list_entries(), quiet))


@main.group()
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

    from ..views.audit import AuditView
    from ..views.progress import ReportingStore

    with open_engine(ctx) as engine, Progress(console=console._made(), transient=True) as progress:
        task = progress.add_task("rebuilding", total=engine.store.max_position() or 1)
        store = ReportingStore(engine.store, lambda at: progress.update(task, completed=at))
        if name == "views":
            position = engine.views.rebuild(store.as_store())
        else:
            audit = AuditView(engine.root / "projections.db")
            try:
                views = None if name == "audit" else engine.views
                position = audit.rebuild(store.as_store(), views)
            finally:
                audit.close()
    click.echo(f"rebuilt {name or 'all'} projections up to log position {position}")


cli_images.register(main)
cli_containers.register(main)
cli_system.register(main)
cli_replay.register(main)
cli_audit.register(main)

if __name__ == "__main__":
    main()
