"""The engine as a process serves it: berthd, or a `berth` command's own engine.

One wiring for both (ADR/0024). A host that acts holds the root (ADR/0021), checks the
log's tail before anything is served or acted on (ADR/0019), opens the engine, reconciles
and watches the containers, keeps the views at the head of the log, and serves the Docker
Engine API with berth's own routes on a unix socket, and the dashboard when asked. A host
that only reads (`berth history`, `audit`, `inspect`, ...) holds nothing and acts on
nothing: it answers from the log.

A request from this very process is its own `berth` command's, and is recorded as the
CLI's, with its command line. Requests of other processes (a `berth` command that found
this host in the root's lock file) are counted, so that `drain()` can end the host
without cutting any of them short.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from berth.adapters.lazy_modules import lazy_module
from berth.adapters.registry import RegistryClient
from berth.adapters.registry.auth import LOOPBACK_INSECURE
from berth.adapters.rootlock import RootLock
from berth.adapters.runc import Runtime
from berth.adapters.runc.backends import choose_runtimes
from berth.domain.cause import Actor, ActorKind
from berth.domain.redaction import command_text
from berth.domain.runtimes import RuntimeNames

from .api import App, Router, build_router, serve_api
from .api.server import Handler, Request, RequestObserver
from .dashboard import Dashboard, ListenAddress, serve_dashboard
from .http.listen import check_socket_free
from .http.messages import AnyReply
from .service.engine import Engine
from .service.images import ImageService
from .service.network_files import BridgeSettings
from .service.runner import Runner
from .service.trust import DEFAULT_POLICY, TrustGate
from .store.integrity import (
    DamagedEvent,
    LogVerificationFailed,
    ReadOnly,
    read_only,
    verify_tail,
)

if TYPE_CHECKING:
    from .dashboard import metrics
else:
    metrics = lazy_module("berth.runtime.dashboard.metrics")  # prometheus_client: when asked

log = logging.getLogger("berthd")
FOLLOW_INTERVAL = 0.2
#: A `berth` command that just checked who holds the root holds it for an instant.
LOCK_WAIT_S = 1.0
#: How often `drain` looks whether other processes' requests have ended.
DRAIN_POLL_S = 0.05


@dataclass(frozen=True)
class HostSettings:
    root: Path
    socket: Path
    #: "berthd", or "berth" for a command's own engine: who the lock file and a read-only
    #: log's answers name. Only berthd applies restart policies and starts containers at
    #: boot, as dockerd.
    kind: str = "berthd"
    #: Hold the root and act on its containers; False: read the log, act on nothing.
    acting: bool = True
    insecure: tuple[str, ...] = ()
    bridge: BridgeSettings | None = None
    metrics: ListenAddress | None = None
    ignore_log_verification: bool = False
    #: The OCI runtime wanted by default (None: crun where it works, else runc).
    runtime: str | None = None
    signature_policy: Path | None = DEFAULT_POLICY
    #: A fleet's postgresql:// store instead of events.db under the root (ADR/0043).
    store: str | None = None
    host_id: str = ""

    @property
    def daemon(self) -> bool:
        return self.kind == "berthd"


@dataclass(frozen=True)
class Serving:
    """What a host tells once it serves."""

    socket: Path
    position: int
    read_only: ReadOnly | None = None
    dashboard: str = ""  # the metrics and dashboard addresses, as berthd's ready line says
    network: str = ""  # the default bridge, berthd's, and the OCI runtimes


async def keep_views_current(
    engine: Engine, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Keep the views at the head of the log, asking the log itself every
    FOLLOW_INTERVAL: what the engine's own catch-ups skip (ADR/0052) was changed outside
    it."""
    position = await trio.to_thread.run_sync(engine.catch_up)
    task_status.started(position)
    reported = ""
    while True:
        await trio.sleep(FOLLOW_INTERVAL)
        try:
            await trio.to_thread.run_sync(lambda: engine.catch_up(recheck=True))
        except DamagedEvent as damaged:
            # Changed under a running berthd: say so once and keep serving what reads.
            if damaged.message != reported:
                log.error("%s", damaged.message)
                reported = damaged.message


class Host:
    """One engine on one root, served; `lock`, when given, is the root's, already held."""

    def __init__(self, settings: HostSettings, lock: RootLock | None = None) -> None:
        self.settings = settings
        self.lock = lock
        # The exchanges in flight for other processes: the connection's task → peer pid.
        self.in_flight: dict[trio.lowlevel.Task, int | None] = {}
        self.cli_actor = Actor(
            ActorKind.CLI, uid=os.getuid(), pid=os.getpid(), command=command_text(sys.argv)
        )

    async def serve(
        self, *, task_status: trio.TaskStatus[Serving] = trio.TASK_STATUS_IGNORED
    ) -> None:
        settings = self.settings
        with contextlib.ExitStack() as held:
            if settings.acting:
                # One engine per root: a second one would start, stop and restart the same
                # containers as this one.
                lock = self.lock or held.enter_context(RootLock(settings.root))
                lock.acquire(settings.kind, settings.socket, wait_s=LOCK_WAIT_S)
            check_socket_free(settings.socket)
            # Before anything is served, acted on or written (ADR/0019).
            serving = None
            if settings.store is None:  # a fleet's log is verified by `audit verify`
                report = await trio.to_thread.run_sync(verify_tail, settings.root / "events.db")
                if report.problem is not None and not settings.ignore_log_verification:
                    raise LogVerificationFailed(report.problem)
                serving = read_only(report.problem, settings.kind) if report.problem else None
            with Engine(
                settings.root,
                store_url=settings.store,
                host_id=settings.host_id,
                sole_writer=settings.acting,
            ) as engine:
                engine.store.read_only = serving
                await self._serve_engine(engine, serving, task_status)

    async def _serve_engine(
        self, engine: Engine, serving: ReadOnly | None, task_status: trio.TaskStatus[Serving]
    ) -> None:
        settings = self.settings
        images = ImageService(engine)
        images.trust = TrustGate(engine, settings.signature_policy)
        images.trust.policy()  # a policy berth cannot enforce stops it here
        insecure = (*LOOPBACK_INSECURE, *settings.insecure)
        async with RegistryClient(images.content, insecure=insecure) as registry:
            images.registry = registry
            choice = await trio.to_thread.run_sync(choose_runtimes, settings.runtime)
            runtime = Runtime(
                settings.root / "run", runtimes=choice.binaries, default_runtime=choice.default
            )
            engine.runtime_names = RuntimeNames(choice.default, tuple(sorted(choice.binaries)))
            runner = Runner(engine, images, runtime, daemon=settings.daemon, bridge=settings.bridge)
            network = ""
            if serving is not None:
                network = f"read-only: {serving.message}"
            elif settings.daemon:
                # As dockerd: the default bridge exists from the daemon's first start, and a
                # --bip that collides with the host's routes stops it here.
                default = await runner.networks.default_network()
                network = f"bridge={runner.networks.bridge_name(default)} subnet={default.subnet}"
            try:
                network = f"{network} {choice.describe()}".strip()
                await self._serve_runner(engine, runner, serving, network, task_status)
            finally:
                if settings.daemon and serving is None:
                    # A clean stop gives its unused bridges back (made again at start).
                    with trio.CancelScope(shield=True):
                        await runner.networks.release_unused()

    async def _serve_runner(
        self,
        engine: Engine,
        runner: Runner,
        serving: ReadOnly | None,
        network: str,
        task_status: trio.TaskStatus[Serving],
    ) -> None:
        settings = self.settings
        images = runner.images
        async with trio.open_nursery() as nursery:
            # Metrics first: an address in use fails before anything is touched.
            acting = settings.acting and serving is None  # read-only: no reconcile
            reactor = runner.reactor.saved_position if acting else None
            scraped = metrics.Metrics(engine, reactor) if settings.metrics is not None else None
            dashboard = ""
            if scraped is not None and settings.metrics is not None:
                bound = await nursery.start(
                    serve_dashboard, Dashboard(engine, scraped), settings.metrics
                )
                dashboard = f" metrics={bound.url()}/metrics dashboard={bound.url()}/"
            if acting:
                await nursery.start(runner.serve)
            if settings.acting:
                position = await nursery.start(keep_views_current, engine)
            else:
                position = await trio.to_thread.run_sync(engine.store.max_position)
            app = App(engine, images, runner, settings.root)
            app.observe = self._observer(scraped.observe_request if scraped else None)
            await nursery.start(serve_api, app, self._router(), settings.socket)
            task_status.started(Serving(settings.socket, position, serving, dashboard, network))

    def _router(self) -> Router:
        router = build_router()
        for route in router.routes:
            route.handler = self._tracked(route.handler)
        return router

    def _tracked(self, handler: Handler) -> Handler:
        async def tracked(app: App, request: Request) -> AnyReply:
            if request.actor.pid == os.getpid():
                request.actor = self.cli_actor
            else:
                self.in_flight[trio.lowlevel.current_task()] = request.actor.pid
            return await handler(app, request)

        return tracked

    def _observer(self, metrics: RequestObserver | None) -> RequestObserver:
        """Told at the end of every exchange, streams and attach included."""

        def observe(method: str, route: str, status: int, seconds: float) -> None:
            self.in_flight.pop(trio.lowlevel.current_task(), None)
            if metrics is not None:
                metrics(method, route, status, seconds)

        return observe

    async def drain(self) -> None:
        """Take no new connection and wait until no other process has a request in flight,
        so that ending the host cuts none short (idle connections are simply closed: the
        client finds who serves the root next)."""
        with contextlib.suppress(OSError):
            self.settings.socket.unlink()
        while True:
            while self.in_flight:
                await trio.sleep(DRAIN_POLL_S)
            await trio.sleep(DRAIN_POLL_S)  # a request sent just before the unlink
            if not self.in_flight:
                return
