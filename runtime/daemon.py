"""`berthd`: the engine daemon.

For now it keeps the projections caught up with the log (events written by any `berth`
process) until SIGTERM or SIGINT; the Docker API, reactors and live restore come with
the later issues and hang off the same nursery.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import click
import trio

from .cli import root_option
from .engine import Engine

log = logging.getLogger("berthd")
FOLLOW_INTERVAL = 0.2


async def follow_log(
    engine: Engine, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Keep the projections at the head of the log; reports the first position when ready."""
    position = await trio.to_thread.run_sync(engine.catch_up)
    task_status.started(position)
    while True:
        await trio.sleep(FOLLOW_INTERVAL)
        await trio.to_thread.run_sync(engine.catch_up)


async def serve(root: Path) -> None:
    with (
        Engine(root) as engine,
        trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals,
    ):
        async with trio.open_nursery() as nursery:
            position = await nursery.start(follow_log, engine)
            log.info("berthd ready: root=%s log position=%d", root, position)
            async for received in signals:
                log.info("berthd stopping on %s", signal.Signals(received).name)
                nursery.cancel_scope.cancel()
                break


@click.command()
@root_option
def main(root: Path) -> None:
    """Run the berth engine daemon."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    trio.run(serve, root)
