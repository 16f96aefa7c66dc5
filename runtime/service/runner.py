"""The containers' side of the service: one method per verb, and what serves them.

A verb validates, records its intent (the engine's decision, in the log) and waits for
the containers' reactor to have acted on it: `start` answers once `Started` or
`StartFailed` is recorded, `stop` once the exit is, `rm` once `Removed` is, as Docker's
API does. The reactor (reactions.py) follows the log from its tracked position, so an
intent recorded just before a crash is carried out when the engine is back; exits are
observed by the watchers (exits.py); `serve` reconciles first (reconcile.py). Only the
process that holds the root's lock (adapters/rootlock.py) serves a root.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio

from berth.adapters.container_metrics import ContainerMetrics, HostMetrics
from berth.adapters.dns.nameserver import NameServer
from berth.adapters.dns.protocol import NameService
from berth.adapters.network import IptablesFirewall, NetworkLinks, PortForwarders
from berth.adapters.runc import ContainerRuntime, StartFailure
from berth.adapters.volumes import LocalVolumes, VolumeDriver
from berth.domain.cause import Actor
from berth.domain.container import LIVE_STATES as LIVE
from berth.domain.container import Command, Container, ContainerState
from berth.domain.errors import Conflict, NotFound
from berth.domain.signals import DEFAULT_KILL_SIGNAL, signal_name

from ..store.positions import positions_of
from ..views.prune_filters import PruneFilters
from ..views.timefmt import parse_docker_time
from .actions import CHANGE_WAIT_S, ContainerActions
from .changes import Changes
from .consoles import Consoles
from .container_update import update_container
from .disk_usage import writable_layer_size
from .engine import Created, Engine
from .execs import ExecService
from .exits import ExitWatcher
from .faults import crash_point
from .health_checks import HealthChecks
from .images import ImageService
from .name_records import NameRecords
from .network_files import BridgeSettings, default_bridge_name
from .networking import ContainerNetworks
from .nursery_errors import unwrap_errors
from .observe import ContainerObserver
from .reactions import NAME, ContainerReactions
from .reactor import Reactor
from .reconcile import reconcile
from .volumes import VolumeService

S = ContainerState


class Runner:
    """Runs a root's containers: the verbs, and `serve()` for the reactor and watchers."""

    def __init__(
        self,
        engine: Engine,
        images: ImageService,
        runtime: ContainerRuntime,
        *,
        daemon: bool = False,
        networks: ContainerNetworks | None = None,
        bridge: BridgeSettings | None = None,
        volume_driver: VolumeDriver | None = None,
        metrics: ContainerMetrics | None = None,
        name_service: NameService | None = None,
    ) -> None:
        self.daemon = daemon
        self.engine = engine
        self.images = images
        self.runtime = runtime
        self.changes = Changes()
        engine.root.joinpath("containers").mkdir(mode=0o700, exist_ok=True)
        self.networks = networks or ContainerNetworks(
            engine,
            NetworkLinks(),
            PortForwarders(),
            bridge or BridgeSettings(bridge=default_bridge_name(engine.root)),
            container_dir=lambda cid: engine.root / "containers" / cid,
            firewall=IptablesFirewall(),
        )
        self.volumes = VolumeService(engine, volume_driver or LocalVolumes(engine.root))
        self.actions = ContainerActions(
            engine, images, runtime, self.networks, self.changes, self.volumes
        )
        self.consoles = Consoles(engine, self.actions.containers_dir, self.actions.start_gate)
        self.exits = ExitWatcher(self.actions, daemon=daemon)
        self.execs = ExecService(self.actions, getattr(runtime, "execs", None))
        self.observer = ContainerObserver(engine, metrics or HostMetrics())
        self.reactions = ContainerReactions(self.actions, self.exits, daemon=daemon)
        self.positions = positions_of(engine.store)
        self.reactor = Reactor(
            NAME,
            engine.store,
            self.positions,
            self.changes,
            self.reactions.act,
            self.reactions.wants,
        )
        self.reactions.reactor = self.reactor
        self.health = HealthChecks(self.actions)
        self.names = NameRecords(
            engine, name_service or NameServer(engine.root / "dns"), self.changes
        )

    def container_dir(self, container_id: str) -> Path:
        return self.actions.container_dir(container_id)

    def log_path(self, container_id: str) -> Path:
        return self.actions.log_path(container_id)

    # Serving -------------------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile, then run the reactor and the watchers until cancelled (containers
        keep running)."""
        self.changes.attach()
        self.engine.saved_listeners.append(self.changes.saved)
        try:
            async with trio.open_nursery() as nursery:
                self.exits.nursery = nursery
                self.execs.nursery = nursery
                self.actions.leftovers.nursery = nursery
                await self.reconcile()
                await nursery.start(self.reactor.run)
                nursery.start_soon(self.actions.log_rotation.keep_rotating, self.actions.sync)
                nursery.start_soon(self.health.run)
                await nursery.start(self.names.run)
                task_status.started()
        finally:
            self.actions.leftovers.nursery = None
            self.engine.saved_listeners.remove(self.changes.saved)

    async def reconcile(self) -> None:
        try:
            await reconcile(self.actions, self.exits, daemon=self.daemon)
            await self.execs.reconcile()
            await self.volumes.sweep()
        finally:
            self.exits.ready.set()

    async def _resolve(self, ref: str) -> str:
        container_id: str = await self.actions.sync(self.engine.resolve_container, ref)
        return container_id

    async def _record(self, fn: Any, *args: Any) -> int:
        position: int = await self.actions.sync(fn, *args)
        return position

    # Verbs -----------------------------------------------------------------------------------

    async def create(self, body: dict[str, Any], name: str | None, actor: Actor) -> Created:
        """Record the container; answers once its root filesystem is prepared."""
        await self.images.trust.check_create(self.images.registry, body.get("Image"), actor)
        created: Created = await self.actions.sync(self.engine.create_container, body, name, actor)
        crash_point("create.recorded")
        await self.reactor.wait_acted(created.position)
        return created

    async def start(self, ref: str, actor: Actor) -> None:
        container_id = await self._resolve(ref)
        position = await self._record(self.engine.start, container_id, actor)
        crash_point("start.requested")
        await self.reactor.wait_acted(position)

    async def stop(self, ref: str, actor: Actor, timeout: int | None = None) -> None:
        """Answers once the exit is recorded, with the network's release."""
        container_id = await self._resolve(ref)
        position = await self._record(lambda: self.engine.stop(container_id, actor, timeout))
        crash_point("stop.requested")
        await self.reactor.wait_acted(position)

    async def kill(self, ref: str, actor: Actor, signal: str = DEFAULT_KILL_SIGNAL) -> None:
        """Answers once signalled; a SIGKILL once the exit is recorded, as dockerd's (an
        inspect or rm right after the kill sees the container exited)."""
        container_id = await self._resolve(ref)
        position = await self._record(lambda: self.engine.kill(container_id, actor, signal, ref))
        crash_point("kill.requested")
        await self.reactor.wait_acted(position)
        if signal_name(signal) == "SIGKILL":
            await self.actions.wait_recorded_exit(container_id)

    async def update(self, ref: str, body: Any, actor: Actor) -> list[str]:
        """`docker update`: the live cgroup first, then the log (container_update.py)."""
        return await update_container(self.actions, ref, body, actor)

    async def pause(self, ref: str, actor: Actor) -> None:
        """The freezer acts first, then the log records it (ADR 0005)."""
        container_id = await self._resolve(ref)
        async with self.actions.locks.hold(container_id):
            (await self.actions.load(container_id)).check(Command.PAUSE, ref)
            await self.runtime.pause(container_id)
            await self._record(self.engine.pause, container_id, actor)

    async def unpause(self, ref: str, actor: Actor) -> None:
        container_id = await self._resolve(ref)
        async with self.actions.locks.hold(container_id):
            (await self.actions.load(container_id)).check(Command.UNPAUSE, ref)
            await self.runtime.resume(container_id)
            await self._record(self.engine.unpause, container_id, actor)

    async def restart(self, ref: str, actor: Actor, timeout: int | None = None) -> None:
        """Stop (if running), then start; answers once the new start's outcome is."""
        container_id = await self._resolve(ref)
        position = await self._record(lambda: self.engine.restart(container_id, actor, timeout))
        version = (await self.actions.load(container_id)).version
        await self.reactor.wait_acted(position)
        await self._wait_start_outcome(container_id, version)

    async def _wait_start_outcome(self, container_id: str, after_version: int) -> None:
        while True:
            for event in await self.actions.sync(self.engine.history, container_id):
                if event.version <= after_version:
                    continue
                if event.name == "Started":
                    return
                if event.name == "StartFailed":
                    raise StartFailure(str(event.data["reason"]))
                if event.name in ("RemovalRequested", "StopRequested"):
                    return
            await self.changes.wait(CHANGE_WAIT_S)

    async def remove(
        self, ref: str, actor: Actor, force: bool = False, volumes: bool = False
    ) -> None:
        """`docker rm`; with `volumes` (`-v`) the container's anonymous volumes go too."""
        container_id = await self._resolve(ref)
        position = await self._record(
            lambda: self.engine.request_removal(container_id, actor, force, ref, volumes=volumes)
        )
        crash_point("remove.requested")
        await self.reactor.wait_acted(position)
        await self.actions.leftovers.wait_cleared(container_id)

    async def prune(self, actor: Actor, spared: PruneFilters) -> tuple[list[str], int]:
        """`docker container prune`: remove every container that is not running and that
        the filters do not spare; the ids removed and the bytes their writable layers held
        (dockerd's SpaceReclaimed)."""
        removed, reclaimed = [], 0
        for row in await self.actions.sync(self.engine.views.container_rows):
            doc = row["doc"]
            if row["state"] not in ("created", "exited", "dead"):
                continue
            if spared.spares(parse_docker_time(doc["Created"]), doc["Config"].get("Labels") or {}):
                continue
            size = await self.actions.sync(writable_layer_size, self.images, row["id"])
            with contextlib.suppress(NotFound, Conflict):
                await self.remove(row["id"], actor)
                removed.append(row["id"])
                reclaimed += size
        return removed, reclaimed

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        """Docker's wait: the exit code once `condition` holds."""
        return await self.wait_for(await self._resolve(ref), condition)

    async def wait_for(self, container_id: str, condition: str = "not-running") -> int:
        """`wait` of a container by its full id: it may have been removed meanwhile (a
        `run --rm` waits for exactly that)."""
        seen_version = (await self.actions.load(container_id)).version
        while True:
            container: Container = await self.actions.load(container_id)
            if condition == "removed":
                if container.state is S.REMOVED:
                    return container.exit_code
            elif condition == "next-exit":
                if container.version > seen_version and container.state is S.EXITED:
                    return container.exit_code
            elif container.state not in (*LIVE, S.STARTING, S.RESTARTING):
                return container.exit_code
            elif container.state is S.RESTARTING and container.version > seen_version:
                return container.exit_code  # dockerd's waiters see each exit a policy restarts
            await self.changes.wait(CHANGE_WAIT_S)


@contextlib.asynccontextmanager
async def running(
    engine: Engine,
    images: ImageService,
    runtime: ContainerRuntime,
    *,
    daemon: bool = False,
    bridge: BridgeSettings | None = None,
) -> AsyncIterator[Runner]:
    """A Runner serving in the background for the duration of the block."""
    runner = Runner(engine, images, runtime, daemon=daemon, bridge=bridge)
    with unwrap_errors():
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.serve)
            yield runner
            nursery.cancel_scope.cancel()
