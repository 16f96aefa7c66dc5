"""`berth ps|inspect|start|stop|restart|kill|pause|unpause|rm|prune|rename|wait|logs`.

Each command has one body: Docker Engine API requests to the engine it talks to
(cli/session.py), berthd's or its own; `create` and `run` are in cli/run.py.
"""

from __future__ import annotations

import json
from typing import Any

import click

from berth.domain.signals import DEFAULT_KILL_SIGNAL

from ..views.filters import parse_cli_filters
from .client.http import DaemonError, segment
from .flows import inspect_objects, list_containers, print_logs, remove_containers
from .flows import post_to_each as post_each
from .session import Access, api_time, connect, daemon_errors, each_ref

refs_argument = click.argument("refs", nargs=-1, required=True)


@click.command()
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all containers.")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value).")
@click.option("-n", "--last", default=None, type=int, help="Show n last created containers.")
@click.option("--format", "output", default="", help="'json' for one JSON object a line.")
@click.option(
    "--fleet",
    is_flag=True,
    help="Every host's containers in the store, all states, with a HOST column.",
)
@click.pass_context
def ps(
    ctx: click.Context,
    show_all: bool,
    quiet: bool,
    no_trunc: bool,
    filters: tuple[str, ...],
    last: int | None,
    output: str,
    fleet: bool,
) -> None:
    """List containers."""
    with daemon_errors(ctx):
        wanted = parse_cli_filters(filters)
        # Without a daemon, the command's own engine reconciles first: a container may
        # have exited while no berth process watched it.
        list_containers(
            connect(ctx, Access.LIST),
            show_all=show_all,
            quiet=quiet,
            no_trunc=no_trunc,
            last=last,
            output=output,
            filters=wanted,
            fleet=fleet,
        )


@click.command()
@click.option(
    "--at",
    default=None,
    help="As it was at TIME (RFC 3339, unix, 10m) or #POSITION, removed containers too.",
)
@refs_argument
@click.pass_context
def inspect(ctx: click.Context, at: str | None, refs: tuple[str, ...]) -> None:
    """Return low-level information on containers (and images)."""
    with daemon_errors(ctx):
        client = connect(ctx, Access.READ)
        if at is not None:
            docs = [
                client.call("GET", f"/berth/containers/{segment(ref)}/json", {"at": at})
                for ref in refs
            ]
            click.echo(json.dumps(docs, indent=4))
            return
        inspect_objects(client, refs)


def post_to_each(ctx: click.Context, verb: str, refs: tuple[str, ...], **query: Any) -> None:
    """start, stop, kill, restart, pause, unpause: one POST a container, its ref echoed."""
    with daemon_errors(ctx):
        post_each(connect(ctx), verb, refs, **query)


def _post_each(verb: str) -> click.Command:
    @click.command(verb)
    @refs_argument
    @click.pass_context
    def command(ctx: click.Context, refs: tuple[str, ...]) -> None:
        post_to_each(ctx, verb, refs)

    command.help = f"{verb.capitalize()} one or more containers."
    return command


pause, unpause = (_post_each(verb) for verb in ("pause", "unpause"))


@click.command()
@click.option(
    "-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before killing."
)
@refs_argument
@click.pass_context
def stop(ctx: click.Context, timeout: int | None, refs: tuple[str, ...]) -> None:
    """Stop one or more running containers."""
    post_to_each(ctx, "stop", refs, t=timeout)


@click.command()
@click.option(
    "-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before killing."
)
@refs_argument
@click.pass_context
def restart(ctx: click.Context, timeout: int | None, refs: tuple[str, ...]) -> None:
    """Restart one or more containers."""
    post_to_each(ctx, "restart", refs, t=timeout)


@click.command()
@click.option(
    "-s", "--signal", default=DEFAULT_KILL_SIGNAL, help="Signal to send to the container."
)
@refs_argument
@click.pass_context
def kill(ctx: click.Context, signal: str, refs: tuple[str, ...]) -> None:
    """Kill one or more running containers."""
    post_to_each(ctx, "kill", refs, signal=signal)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container.")
@click.option(
    "-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container."
)
@refs_argument
@click.pass_context
def rm(ctx: click.Context, force: bool, volumes: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    with daemon_errors(ctx):
        remove_containers(connect(ctx), refs, force=force, volumes=volumes)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_context
def prune(ctx: click.Context, force: bool) -> None:
    """Remove all stopped containers."""
    if not force:
        click.confirm("This will remove all stopped containers. Continue?", abort=True)
    with daemon_errors(ctx):
        removed = connect(ctx).call("POST", "/containers/prune").get("ContainersDeleted") or []
    if removed:
        click.echo("Deleted Containers:")
        for container_id in removed:
            click.echo(container_id)


@click.command()
@click.argument("container")
@click.argument("new_name")
@click.pass_context
def rename(ctx: click.Context, container: str, new_name: str) -> None:
    """Rename a container."""
    with daemon_errors(ctx):
        path = f"/containers/{segment(container)}/rename"
        connect(ctx).request("POST", path, {"name": new_name}).read()


@click.command()
@click.option(
    "--condition",
    default="not-running",
    type=click.Choice(["not-running", "next-exit", "removed"]),
)
@refs_argument
@click.pass_context
def wait(ctx: click.Context, condition: str, refs: tuple[str, ...]) -> None:
    """Block until containers stop, then print their exit codes."""
    with daemon_errors(ctx):
        client = connect(ctx)

        def wait_one(ref: str) -> None:
            path = f"/containers/{segment(ref)}/wait"
            answer = client.call("POST", path, {"condition": condition})
            if answer.get("Error"):
                raise DaemonError(500, str(answer["Error"].get("Message")))
            click.echo(answer["StatusCode"])

        each_ref(refs, wait_one, echo_ref=False)


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("--since", default=None, help="Show logs since a timestamp (RFC 3339 or unix).")
@click.option("--until", default=None, help="Show logs before a timestamp.")
@click.option("-n", "--tail", default="all", help="Number of lines from the end.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps (RFC 3339, nanoseconds).")
@click.argument("ref")
@click.pass_context
def logs(
    ctx: click.Context,
    follow: bool,
    since: str | None,
    until: str | None,
    tail: str,
    timestamps: bool,
    ref: str,
) -> None:
    """Fetch the logs of a container."""
    with daemon_errors(ctx):
        print_logs(
            connect(ctx),
            ref,
            follow=follow,
            timestamps=timestamps,
            tail=tail,
            since=api_time(since),
            until=api_time(until),
        )


COMMANDS = [ps, inspect, stop, restart, kill, pause, unpause, rm, prune, rename, wait, logs]
