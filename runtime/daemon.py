"""`berthd`: the engine daemon.

It reconciles the log with what runs, watches every running container (turning exits into
events, applying auto-remove and restart policies), and follows the log so that
containers started by any `berth` process are watched and the views stay current. On
SIGTERM it stops; the containers keep running under their monitors. The Docker Engine
API (`-H unix:///PATH`) is served from the same nursery; "berthd ready" is logged once the
socket listens.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import click
import trio

from berth.adapters.registry import RegistryClient
from berth.adapters.runc import Runtime

from .api import App, build_router, serve_api
from .api.server import DEFAULT_SOCKET, parse_host
from .cli import root_option
from .engine import Engine
from .images import ImageService
from .runner import Runner

log = logging.getLogger("berthd")
FOLLOW_INTERVAL = 0.2


async def follow_log(
    engine: Engine,
    runner: Runner | None = None,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep the views at the head of the log and adopt containers others started."""
    position = await trio.to_thread.run_sync(engine.catch_up)
    task_status.started(position)
    while True:
        await trio.sleep(FOLLOW_INTERVAL)
        head = await trio.to_thread.run_sync(engine.catch_up)
        if runner is not None and head != position:
            await runner.adopt()
        position = head


async def serve(
    root: Path, insecure: tuple[str, ...] = (), socket_path: Path = DEFAULT_SOCKET
) -> None:
    with (
        Engine(root) as engine,
        trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals,
    ):
        images = ImageService(engine)
        async with RegistryClient(images.content, insecure=insecure) as registry:
            images.registry = registry
            runner = Runner(engine, images, Runtime(root / "run"), daemon=True)
            async with trio.open_nursery() as nursery:
                await nursery.start(runner.serve)
                position = await nursery.start(follow_log, engine, runner)
                app = App(engine, images, runner, root)
                await nursery.start(serve_api, app, build_router(), socket_path)
                log.info(
                    "berthd ready: root=%s log position=%d api=unix://%s",
                    root,
                    position,
                    socket_path,
                )
                async for received in signals:
                    log.info("berthd stopping on %s", signal.Signals(received).name)
                    nursery.cancel_scope.cancel()
                    break


@click.command()
@root_option
@click.option("--insecure-registry", multiple=True, help="Registry reached over plain HTTP.")
@click.option(
    "-H",
    "--host",
    default=f"unix://{DEFAULT_SOCKET}",
    show_default=True,
    help="Socket to serve the Docker Engine API on (unix:///PATH).",
)
def main(root: Path, insecure_registry: tuple[str, ...], host: str) -> None:
    """Run the berth engine daemon."""
    try:
        socket_path = parse_host(host)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="-H") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    trio.run(serve, root, insecure_registry, socket_path)
