"""`berthd`: the engine daemon.

It reconciles the log with what runs, watches every running container (turning exits into
events, applying auto-remove and restart policies), and follows the log so that
containers started by any `berth` process are watched and the views stay current. On
SIGTERM it stops; the containers keep running under their monitors. The Docker Engine
API (`-H unix:///PATH`) is served from the same nursery; "berthd ready" is logged once the
socket listens.
"""

from __future__ import annotations

import functools
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import trio

from berth.adapters.registry import RegistryClient
from berth.adapters.rootlock import RootLock
from berth.adapters.runc import Runtime
from berth.domain.errors import BerthError

from .api import App, build_router, serve_api
from .api.server import DEFAULT_SOCKET, parse_host
from .cli.main import root_option
from .dashboard import (
    Dashboard,
    ListenAddress,
    ListenError,
    parse_listen_address,
    serve_dashboard,
)
from .dashboard.metrics import Metrics
from .http.listen import check_socket_free
from .service.engine import Engine
from .service.images import ImageService
from .service.network_files import BridgeSettings, default_bridge_name
from .service.runner import Runner
from .store.integrity import (
    DamagedEvent,
    LogVerificationFailed,
    ReadOnly,
    read_only,
    verify_tail,
)

log = logging.getLogger("berthd")
FOLLOW_INTERVAL = 0.2
#: A `berth` command that just checked who holds the root holds it for an instant.
LOCK_WAIT_S = 1.0


async def keep_views_current(
    engine: Engine,
    *,
    handled: Callable[[int], None] | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep the views at the head of the log (writes by `berth` commands reading or
    renaming under --root do not project on their own).

    `handled(position)` is told each position the follower has fully acted on (metrics).
    """
    position = await trio.to_thread.run_sync(engine.catch_up)
    if handled is not None:
        handled(position)
    task_status.started(position)
    reported = ""
    while True:
        await trio.sleep(FOLLOW_INTERVAL)
        try:
            position = await trio.to_thread.run_sync(engine.catch_up)
        except DamagedEvent as damaged:
            # Changed under a running berthd: say so once and keep serving what reads.
            if damaged.message != reported:
                log.error("%s", damaged.message)
                reported = damaged.message
            continue
        if handled is not None:
            handled(position)


async def serve(
    root: Path,
    insecure: tuple[str, ...] = (),
    socket_path: Path = DEFAULT_SOCKET,
    metrics_addr: ListenAddress | None = None,
    bridge: BridgeSettings | None = None,
    ignore_log_verification: bool = False,
) -> None:
    with (
        RootLock(root) as lock,
        trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals,
    ):
        # One engine per root: a second berthd (or a berth command acting on the root)
        # would start, stop and restart the same containers as this one.
        lock.acquire("berthd", socket_path, wait_s=LOCK_WAIT_S)
        check_socket_free(socket_path)
        # Before anything is served, acted on or written (ADR/0019).
        report = await trio.to_thread.run_sync(verify_tail, root / "events.db")
        if report.problem is not None and not ignore_log_verification:
            raise LogVerificationFailed(report.problem)
        serving = read_only(report.problem, "berthd") if report.problem is not None else None
        with Engine(root) as engine:
            engine.store.read_only = serving
            await _serve_engine(
                engine, insecure, socket_path, metrics_addr, bridge, signals, serving
            )


async def _serve_engine(
    engine: Engine,
    insecure: tuple[str, ...],
    socket_path: Path,
    metrics_addr: ListenAddress | None,
    bridge: BridgeSettings | None,
    signals: Any,
    serving: ReadOnly | None,
) -> None:
    root = engine.root
    images = ImageService(engine)
    async with RegistryClient(images.content, insecure=insecure) as registry:
        images.registry = registry
        runner = Runner(engine, images, Runtime(root / "run"), daemon=True, bridge=bridge)
        if serving is not None:
            network_line = f"read-only: {serving.message}"
        else:
            # As dockerd: the default bridge exists from the daemon's first start, and a
            # --bip that collides with the host's routes stops it here.
            network = await runner.networks.default_network()
            network_line = f"bridge={runner.networks.bridge_name(network)} subnet={network.subnet}"
        async with trio.open_nursery() as nursery:
            # Metrics first: an address in use fails before anything is touched.
            metrics = Metrics(engine) if metrics_addr is not None else None
            dashboard = ""
            if metrics is not None and metrics_addr is not None:
                bound = await nursery.start(
                    serve_dashboard, Dashboard(engine, metrics), metrics_addr
                )
                dashboard = f" metrics={bound.url()}/metrics dashboard={bound.url()}/"
            if serving is None:  # read-only: no reconcile, no restart policies
                await nursery.start(runner.serve)
            handled = metrics.record_reactor_position if metrics is not None else None
            position = await nursery.start(
                functools.partial(keep_views_current, engine, handled=handled)
            )
            app = App(engine, images, runner, root)
            if metrics is not None:
                app.observe = metrics.observe_request
            await nursery.start(serve_api, app, build_router(), socket_path)
            log.info(
                "berthd ready: root=%s log position=%d api=unix://%s%s %s",
                root,
                position,
                socket_path,
                dashboard,
                network_line,
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
@click.option(
    "--metrics-addr",
    default=None,
    metavar="127.0.0.1:PORT",
    help="Loopback address to serve Prometheus /metrics and the dashboard on (port 0: any).",
)
@click.option(
    "-b",
    "--bridge",
    default=None,
    help="Name of the default network's bridge [default: berth0 for the default root, "
    "else one derived from the root].",
)
@click.option(
    "--ignore-log-verification",
    is_flag=True,
    help="Serve an event log that failed verification, read-only, for recovery: every "
    "request that would record an event is refused (503).",
)
@click.option(
    "--bip",
    default=None,
    help="The bridge's address and subnet, e.g. 172.17.0.1/16 [default: the first of "
    "Docker's address pools the host has no route to].",
)
def main(
    root: Path,
    insecure_registry: tuple[str, ...],
    host: str,
    metrics_addr: str | None,
    bridge: str | None,
    bip: str | None,
    ignore_log_verification: bool,
) -> None:
    """Run the berth engine daemon."""
    try:
        socket_path = parse_host(host)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="-H") from None
    try:
        metrics_address = parse_listen_address(metrics_addr) if metrics_addr else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--metrics-addr") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = BridgeSettings(bridge=bridge or default_bridge_name(root), bip=bip)
    if len(settings.bridge) > 15:
        raise click.BadParameter("at most 15 characters", param_hint="--bridge")
    try:
        trio.run(
            serve,
            root,
            insecure_registry,
            socket_path,
            metrics_address,
            settings,
            ignore_log_verification,
        )
    except* (ListenError, FileExistsError) as failed:
        raise click.ClickException(str(failed.exceptions[0])) from None
    except* BerthError as failed:
        message = getattr(failed.exceptions[0], "message", str(failed.exceptions[0]))
        raise click.ClickException(message) from None
