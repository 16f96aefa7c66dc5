"""`berthd`: the engine daemon, the click front of runtime/host.py.

The host reconciles the log with what runs, watches every running container (turning
exits into events, applying auto-remove and restart policies), follows the log so that
the views stay current, and serves the Docker Engine API (`-H unix:///PATH`) with berth's
own routes; "berthd ready" is logged once the socket listens. On SIGTERM it stops; the
containers keep running under their monitors.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import click
import trio

from berth.adapters.runc.backends import RUNTIME_NAMES
from berth.domain.errors import BerthError

from .api.server import DEFAULT_SOCKET, parse_host
from .cli.root_option import host_id_option, root_option, store_option
from .dashboard import ListenError, parse_listen_address
from .host import Host, HostSettings, Serving
from .service.network_files import BridgeSettings, default_bridge_name
from .service.trust import DEFAULT_POLICY

log = logging.getLogger("berthd")


async def serve(settings: HostSettings) -> None:
    """Serve until SIGTERM or SIGINT."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            serving: Serving = await nursery.start(Host(settings).serve)
            log.info(
                "berthd ready: root=%s log position=%d api=unix://%s%s %s",
                settings.root,
                serving.position,
                serving.socket,
                serving.dashboard,
                serving.network,
            )
            async for received in signals:
                log.info("berthd stopping on %s", signal.Signals(received).name)
                nursery.cancel_scope.cancel()
                break


@click.command()
@root_option
@store_option
@host_id_option
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
@click.option(
    "--runtime",
    type=click.Choice(RUNTIME_NAMES),
    envvar="BERTH_RUNTIME",
    default=None,
    help="The OCI runtime containers get by default [default: crun where it works on this "
    "host, else runc]; env BERTH_RUNTIME.",
)
@click.option(
    "--signature-policy",
    default=str(DEFAULT_POLICY),
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The trust policy (containers-policy.json's format) checked at pull and create; "
    "no such file: accept any image.",
)
def main(
    root: Path,
    store: str | None,
    host_id: str,
    insecure_registry: tuple[str, ...],
    host: str,
    metrics_addr: str | None,
    bridge: str | None,
    bip: str | None,
    ignore_log_verification: bool,
    runtime: str | None,
    signature_policy: Path,
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
    bridge_settings = BridgeSettings(bridge=bridge or default_bridge_name(root), bip=bip)
    if len(bridge_settings.bridge) > 15:
        raise click.BadParameter("at most 15 characters", param_hint="--bridge")
    settings = HostSettings(
        root,
        socket_path,
        insecure=insecure_registry,
        bridge=bridge_settings,
        metrics=metrics_address,
        ignore_log_verification=ignore_log_verification,
        runtime=runtime,
        signature_policy=signature_policy,
        store=store,
        host_id=host_id,
    )
    try:
        trio.run(serve, settings)
    except* (ListenError, FileExistsError) as failed:
        raise click.ClickException(str(first_of(failed))) from None
    except* BerthError as failed:
        refused = first_of(failed)
        raise click.ClickException(getattr(refused, "message", str(refused))) from None


def first_of(group: BaseExceptionGroup[Exception]) -> BaseException:
    """The first error of a group, however deep the nurseries nest it."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found
