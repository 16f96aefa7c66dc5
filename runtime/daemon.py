"""`berthd`: the engine daemon, the command-line front of runtime/host.py.

The host reconciles the log with what runs, watches every running container (turning
exits into events, applying auto-remove and restart policies), follows the log so that
the views stay current, and serves the Docker Engine API (`-H unix:///PATH`) with berth's
own routes; "berthd ready" is logged once the socket listens. On SIGTERM it stops; the
containers keep running under their monitors.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import trio

from berth.adapters.malloc_arenas import cap_malloc_arenas
from berth.adapters.runc.backends import RUNTIME_NAMES
from berth.domain.errors import BerthError

from .api.server import DEFAULT_SOCKET, parse_host
from .cli.root_values import (
    DEFAULT_ROOT,
    HOST_ID_HELP,
    ROOT_HELP,
    STORE_HELP,
    default_host_id,
    store_url,
)
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


def parser() -> argparse.ArgumentParser:
    """berthd's flags. argparse rather than click: click is a megabyte of the idle daemon's
    memory (ADR/0048). Usage errors exit 2 naming the flag, as click's did."""
    flags = argparse.ArgumentParser(prog="berthd", description="Run the berth engine daemon.")
    flags.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("BERTH_ROOT") or DEFAULT_ROOT),
        help=f"{ROOT_HELP} [default: {DEFAULT_ROOT}; env BERTH_ROOT]",
    )
    flags.add_argument(
        "--store", default=os.environ.get("BERTH_STORE"), metavar="URL", help=STORE_HELP
    )
    flags.add_argument(
        "--host-id", default=os.environ.get("BERTH_HOST_ID"), metavar="ID", help=HOST_ID_HELP
    )
    flags.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        help="Registry reached over plain HTTP.",
    )
    flags.add_argument(
        "-H",
        "--host",
        default=f"unix://{DEFAULT_SOCKET}",
        help=f"Socket to serve the Docker Engine API on (unix:///PATH) [default: "
        f"unix://{DEFAULT_SOCKET}].",
    )
    flags.add_argument(
        "--metrics-addr",
        metavar="127.0.0.1:PORT",
        help="Loopback address to serve Prometheus /metrics and the dashboard on (port 0: any).",
    )
    flags.add_argument(
        "-b",
        "--bridge",
        help="Name of the default network's bridge [default: berth0 for the default root, "
        "else one derived from the root].",
    )
    flags.add_argument(
        "--ignore-log-verification",
        action="store_true",
        help="Serve an event log that failed verification, read-only, for recovery: every "
        "request that would record an event is refused (503).",
    )
    flags.add_argument(
        "--bip",
        help="The bridge's address and subnet, e.g. 172.17.0.1/16 [default: the first of "
        "Docker's address pools the host has no route to].",
    )
    flags.add_argument(
        "--runtime",
        default=os.environ.get("BERTH_RUNTIME"),
        help=f"The OCI runtime containers get by default, one of {', '.join(RUNTIME_NAMES)} "
        "[default: crun where it works on this host, else runc]; env BERTH_RUNTIME.",
    )
    flags.add_argument(
        "--signature-policy",
        type=Path,
        default=DEFAULT_POLICY,
        help="The trust policy (containers-policy.json's format) checked at pull and create; "
        f"no such file: accept any image [default: {DEFAULT_POLICY}].",
    )
    return flags


def settings_of(args: argparse.Namespace, refuse: Callable[[str], NoReturn]) -> HostSettings:
    """The host's settings from berthd's flags; `refuse("flag: why")` for a bad value."""
    try:
        socket_path = parse_host(args.host)
    except ValueError as error:
        refuse(f"-H: {error}")
    try:
        metrics_address = parse_listen_address(args.metrics_addr) if args.metrics_addr else None
    except ValueError as error:
        refuse(f"--metrics-addr: {error}")
    try:
        store = store_url(args.store)
    except ValueError as error:
        refuse(f"--store: {error}")
    if args.runtime is not None and args.runtime not in RUNTIME_NAMES:
        refuse(f"--runtime: {args.runtime!r} is not one of {', '.join(RUNTIME_NAMES)}")
    bridge_settings = BridgeSettings(
        bridge=args.bridge or default_bridge_name(args.root), bip=args.bip
    )
    if len(bridge_settings.bridge) > 15:
        refuse("--bridge: at most 15 characters")
    return HostSettings(
        args.root,
        socket_path,
        insecure=tuple(args.insecure_registry),
        bridge=bridge_settings,
        metrics=metrics_address,
        ignore_log_verification=args.ignore_log_verification,
        runtime=args.runtime,
        signature_policy=args.signature_policy,
        store=store,
        host_id=args.host_id or default_host_id(),
    )


def main() -> None:
    """Run the berth engine daemon."""
    flags = parser()
    args = flags.parse_args()
    settings = settings_of(args, lambda why: flags.error(f"argument {why}"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cap_malloc_arenas()
    try:
        trio.run(serve, settings)
    except* (ListenError, FileExistsError) as failed:
        fail(str(first_of(failed)))
    except* BerthError as failed:
        refused = first_of(failed)
        fail(getattr(refused, "message", str(refused)))


def fail(message: str) -> NoReturn:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(1)


def first_of(group: BaseExceptionGroup[Exception]) -> BaseException:
    """The first error of a group, however deep the nurseries nest it."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found
