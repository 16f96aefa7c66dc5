"""`berth pull|rmi|load|import|tag`: the image commands of the CLI, local or remote (-H)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ..service.images import ImageService

T = TypeVar("T")


def run_service(
    ctx: click.Context, job: Callable[[ImageService], Awaitable[T]], insecure: tuple[str, ...] = ()
) -> T:
    """Run `job` on an ImageService for the CLI's root, under trio."""
    import trio

    from berth.adapters.registry import RegistryClient

    from ..service.images import ImageService
    from .main import open_engine

    async def main() -> T:
        with open_engine(ctx) as engine:
            service = ImageService(engine)
            async with RegistryClient(service.content, insecure=insecure) as registry:
                service.registry = registry
                return await job(service)
        ctx.exit(0)  # a 304 answer: nothing to do

    return trio.run(main)


class PullDisplay:
    """Docker's pull progress messages as rich progress bars, or JSON lines when piped."""

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


def register(main: click.Group) -> None:
    @main.command()
    @click.option(
        "--insecure-registry",
        multiple=True,
        envvar="BERTH_INSECURE_REGISTRIES",
        help="Registry (HOST:PORT) to reach over plain HTTP, as dockerd's flag.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print Docker's JSON progress stream.")
    @click.argument("reference")
    @click.pass_context
    def pull(
        ctx: click.Context, insecure_registry: tuple[str, ...], as_json: bool, reference: str
    ) -> None:
        """Download an image from a registry."""
        from .main import cli_actor, remote_client

        display = PullDisplay(as_json)
        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            bars = display.bars if not as_json else contextlib.nullcontext()
            with remote.daemon_errors(ctx), bars:
                remote.pull(client, reference, display)
            if not as_json:
                click.echo(remote.canonical(reference))
            return

        async def job(service: ImageService) -> str:
            with display.bars if not as_json else contextlib.nullcontext():
                return await service.pull(reference, cli_actor(), display)

        run_service(ctx, job, insecure_registry)
        if not as_json:
            from berth.domain.reference import parse_reference

            click.echo(str(parse_reference(reference)))

    @main.command()
    @click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
    @click.argument("refs", nargs=-1, required=True)
    @click.pass_context
    def rmi(ctx: click.Context, force: bool, refs: tuple[str, ...]) -> None:
        """Remove one or more images."""
        from .main import cli_actor, remote_client

        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.rmi(client, refs, force)
            return

        async def job(service: ImageService) -> list[dict[str, str]]:
            answers = []
            for ref in refs:
                answers.extend(await service.remove(ref, cli_actor(), force))
            return answers

        for entry in run_service(ctx, job):
            for key, value in entry.items():
                click.echo(f"{key}: {value}")

    @main.command()
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
        from .main import cli_actor, remote_client

        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.load(client, archive)
            return

        for line in run_service(ctx, lambda s: s.load(archive, cli_actor())):
            click.echo(line)

    @main.command("import")
    @click.option("-m", "--message", default="", help="Commit message for the imported image.")
    @click.argument("tarball", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.argument("reference", required=False)
    @click.pass_context
    def import_(ctx: click.Context, message: str, tarball: Path, reference: str | None) -> None:
        """Import a root filesystem tarball as a one-layer image."""
        from .main import cli_actor, remote_client

        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.import_rootfs(client, tarball, reference, message)
            return

        click.echo(
            run_service(ctx, lambda s: s.import_rootfs(tarball, reference, cli_actor(), message))
        )

    @main.command()
    @click.argument("source")
    @click.argument("target")
    @click.pass_context
    def tag(ctx: click.Context, source: str, target: str) -> None:
        """Create a tag TARGET that refers to SOURCE."""
        from .main import cli_actor, open_engine, remote_client

        client = remote_client(ctx)
        if client is not None:
            from .client import remote

            with remote.daemon_errors(ctx):
                remote.tag(client, source, target)
            return

        with open_engine(ctx) as engine:
            engine.images.tag(source, target, cli_actor())
