"""`berth pull|images|rmi|load|import|tag`: the image commands, each one body, a client of
the engine's API (cli/session.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..views.filters import parse_cli_filters
from .client.http import DaemonClient, DaemonError, segment
from .client.render import image_table
from .create import disable_content_trust
from .session import Access, connect, daemon_errors, each_ref

NO_AUTH = {"X-Registry-Auth": "e30="}  # base64 of "{}", as the docker CLI sends


class PullDisplay:
    """Docker's pull progress messages as rich progress bars, or JSON lines when asked."""

    def __init__(self, as_json: bool, to_stderr: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self.as_json = as_json
        self.bars = Progress(
            TextColumn("{task.fields[layer]}"),
            TextColumn("{task.description:<18}"),
            BarColumn(),
            DownloadColumn(),
            transient=False,
            # `run` pulls on stderr, as docker does: stdout is the container's.
            console=Console(stderr=True) if to_stderr else None,
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, message: dict[str, Any]) -> None:
        if self.as_json:
            click.echo(json.dumps(message))
            return
        layer = message.get("id")
        status = message["status"]
        if layer is None or not layer.isalnum() or len(layer) != 12:
            self.bars.console.print(f"{layer + ': ' if layer else ''}{status}")
            return
        detail = message.get("progressDetail") or {}
        task = self.tasks.get(layer)
        if task is None:
            task = self.tasks[layer] = self.bars.add_task(status, layer=layer, total=None)
        self.bars.update(
            task,
            description=status,
            completed=detail.get("current", 0),
            total=detail.get("total") or None,
        )

    def drawn(self) -> contextlib.AbstractContextManager[Any]:
        """While the pull runs: the bars, unless the messages are printed as JSON."""
        return contextlib.nullcontext() if self.as_json else self.bars


def split_reference(reference: str) -> tuple[str, str]:
    """`fromImage` and `tag` as the docker CLI sends them (`tag` may be a digest)."""
    name, at, digest = reference.partition("@")
    if at:
        return name, digest
    repository, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        return repository, tag
    return name, "latest"


def messages(lines: Any) -> Any:
    """A JSON-lines answer's messages; one with an `error` is the engine's error."""
    for line in lines:
        message = json.loads(line)
        if message.get("error"):
            raise DaemonError(500, str(message["error"]))
        yield message


def pull_image(
    client: DaemonClient, reference: str, show: Callable[[dict[str, Any]], None]
) -> None:
    """`POST /images/create?fromImage=`: the progress stream, each message to `show`."""
    image, tag = split_reference(reference)
    query = {"fromImage": image, "tag": tag}
    response = client.request("POST", "/images/create", query, headers=NO_AUTH)
    for message in messages(response.lines()):
        show(message)


@click.command()
@click.option(
    "--insecure-registry",
    multiple=True,
    envvar="BERTH_INSECURE_REGISTRIES",
    help="Registry (HOST:PORT) to reach over plain HTTP, as dockerd's flag (for this "
    "command's own engine; a berthd has its own).",
)
@click.option("--json", "as_json", is_flag=True, help="Print Docker's JSON progress stream.")
@disable_content_trust
@click.argument("reference")
@click.pass_context
def pull(
    ctx: click.Context,
    insecure_registry: tuple[str, ...],
    as_json: bool,
    disable_content_trust: bool,
    reference: str,
) -> None:
    """Download an image from a registry (the engine checks its signature policy)."""
    display = PullDisplay(as_json)
    with daemon_errors(ctx), display.drawn():
        pull_image(connect(ctx, insecure=insecure_registry), reference, display)
    if not as_json:
        from berth.domain.reference import parse_reference

        click.echo(str(parse_reference(reference)))


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value).")
@click.argument("repository", required=False)
@click.pass_context
def images(
    ctx: click.Context, quiet: bool, filters: tuple[str, ...], repository: str | None
) -> None:
    """List images."""
    wanted = parse_cli_filters(filters)
    if repository:  # as docker's CLI: `images REPO[:TAG]` is a reference filter
        wanted.setdefault("reference", []).append(repository)
    with daemon_errors(ctx):
        query = {"filters": wanted or None}
        entries = connect(ctx, Access.READ).call("GET", "/images/json", query)
    table = image_table(entries, quiet)
    if table:  # `-q` of nothing prints nothing, as docker's
        click.echo(table)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def rmi(ctx: click.Context, force: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more images."""
    with daemon_errors(ctx):
        client = connect(ctx)

        def remove(ref: str) -> None:
            query = {"force": force or None}
            for entry in client.call("DELETE", f"/images/{segment(ref)}", query):
                for key, value in entry.items():
                    click.echo(f"{key}: {value}")

        each_ref(refs, remove, echo_ref=False)


@click.command()
@click.option(
    "-i",
    "--input",
    "archive",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read from a tar archive (docker save or OCI layout).",
)
@click.pass_context
def load(ctx: click.Context, archive: Path) -> None:
    """Load an image from a tar archive."""
    with daemon_errors(ctx), archive.open("rb") as data:
        headers = {"Content-Type": "application/x-tar"}
        response = connect(ctx).request("POST", "/images/load", headers=headers, data=data)
        for message in messages(response.lines()):
            click.echo(str(message.get("stream", "")).rstrip("\n"))


@click.command("import")
@click.option("-m", "--message", default="", help="Commit message for the imported image.")
@click.argument("tarball", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("reference", required=False)
@click.pass_context
def import_(ctx: click.Context, message: str, tarball: Path, reference: str | None) -> None:
    """Import a root filesystem tarball as a one-layer image."""
    query: dict[str, Any] = {"fromSrc": "-", "message": message or None}
    if reference:
        query["repo"], query["tag"] = split_reference(reference)
    with daemon_errors(ctx), tarball.open("rb") as data:
        headers = {"Content-Type": "application/x-tar"}
        response = connect(ctx).request("POST", "/images/create", query, headers=headers, data=data)
        for answer in messages(response.lines()):
            click.echo(answer.get("status", ""))


@click.command()
@click.argument("source")
@click.argument("target")
@click.pass_context
def tag(ctx: click.Context, source: str, target: str) -> None:
    """Create a tag TARGET that refers to SOURCE."""
    repo, name = split_reference(target)
    with daemon_errors(ctx):
        query = {"repo": repo, "tag": name}
        connect(ctx).request("POST", f"/images/{segment(source)}/tag", query).read()


COMMANDS = [pull, images, rmi, load, import_, tag]
