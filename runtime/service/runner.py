"""The runner: the engine's intents carried out with runc, one container at a time.

Every change is recorded first as an intent by the engine, then carried out here, then
recorded as an outcome: `StartRequested` → runc create/start under conmon →
`Started(pid)` or `StartFailed(reason)`. Only the process that holds the root's lock
(adapters.rootlock) runs a Runner, and within it each container has a lock: an intent,
the action that carries it out and its outcome happen under it, so a start and an
`rm -f` of one container can never interleave (interleaved, they left running containers
that no listing showed). Waiting — for an exit, a stop's timeout, a restart's back-off —
happens outside the lock. Exits are watched by `exits.ExitWatcher`; after a crash,
`reconcile` puts the log and the world back in agreement.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import resource
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from berth.adapters.capabilities import bounding_capabilities
from berth.adapters.network import NetworkLinks, PortForwarders
from berth.adapters.private_files import private_file, write_private
from berth.adapters.runc import MonitorLost, Runtime, StartFailure
from berth.adapters.snapshots.rootfs import read_in_root
from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.config import Config, HostConfig
from berth.domain.container import LIVE_STATES as LIVE
from berth.domain.container import Command, Container, ContainerState, container_hostname
from berth.domain.container.exit_codes import start_failure_code
from berth.domain.errors import BerthError, Conflict, DiskFull, NotFound, NotModified, space_for
from berth.domain.log_config import log_size_max
from berth.domain.signals import DEFAULT_KILL_SIGNAL, stop_signal
from berth.domain.spec import HostFacts, build_spec, resolve_user

from .engine import Created, Engine
from .exits import ExitWatcher
from .faults import crash_point
from .images import ImageService, unwrap_errors
from .keyed_locks import KeyedLocks
from .networking import (
    Attachment,
    BridgeSettings,
    ContainerNetworks,
    default_bridge_name,
)

log = logging.getLogger(__name__)
ENGINE = Actor(ActorKind.ENGINE)
#: Waiters wake when this runner records an outcome; this is only their safety net.
RECORD_WAIT_S = 0.5
#: How long a removal waits for a SIGKILLed container's monitor to report the exit.
KILL_WAIT_S = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


class Runner:
    """Runs the engine's containers; `serve()` hosts the exit watchers and reconcile."""

    def __init__(
        self,
        engine: Engine,
        images: ImageService,
        runtime: Runtime,
        *,
        daemon: bool = False,
        networks: ContainerNetworks | None = None,
        bridge: BridgeSettings | None = None,
    ) -> None:
        # Only the daemon applies restart policies and starts containers at boot, as
        # dockerd; a CLI process reconciles and must not.
        self.daemon = daemon
        self.engine = engine
        self.images = images
        self.runtime = runtime
        self.containers_dir = engine.root / "containers"
        self.containers_dir.mkdir(mode=0o700, exist_ok=True)
        self.nursery: trio.Nursery | None = None
        self.locks = KeyedLocks()
        # Set once reconcile is done: work it finds (exits to follow up, restarts) waits
        # for it, so that its sweeps never see a container half set up by that work.
        self.reconciled = trio.Event()
        self._recorded = trio.Event()
        self.networks = networks or ContainerNetworks(
            engine,
            NetworkLinks(),
            PortForwarders(),
            bridge or BridgeSettings(bridge=default_bridge_name(engine.root)),
            container_dir=self.container_dir,
        )
        self.exits = ExitWatcher(self)

    # Service ---------------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile, then host the watchers until cancelled (containers keep running)."""
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await self.reconcile()
            task_status.started()
            await trio.sleep_forever()

    async def reconcile(self) -> None:
        from .reconcile import reconcile

        try:
            await reconcile(self)
        finally:
            self.reconciled.set()

    async def sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    async def load(self, container_id: str) -> Container:
        container: Container = await self.sync(self.engine.get_aggregate, container_id)
        return container

    async def _resolve(self, ref: str) -> str:
        container_id: str = await self.sync(self.engine.resolve_container, ref)
        return container_id

    def container_dir(self, container_id: str) -> Path:
        return self.containers_dir / container_id

    def log_path(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "container.log"

    def background(self, action: Callable[[str], Any], container_id: str) -> None:
        """Run `action` in the service's nursery; a failure is logged, never raised into
        whatever request happens to be running."""

        async def guarded() -> None:
            try:
                await self.reconciled.wait()
                await action(container_id)
            except BerthError as error:
                log.warning("container %s: %s", container_id[:12], error.message)

        if self.nursery is not None:
            self.nursery.start_soon(guarded)

    # Create ------------------------------------------------------------------------------

    async def create(self, body: dict[str, Any], name: str | None, actor: Actor) -> Created:
        """Record the container, then prepare its root filesystem; clean up on failure."""
        created: Created = await self.sync(self.engine.create_container, body, name, actor)
        crash_point("create.recorded")
        async with self.locks.hold(created.id):
            try:
                await self._prepare(created.id, actor)
            except BaseException as error:
                with trio.CancelScope(shield=True):
                    await self._discard_failed_create(created.id, actor, error)
                raise
        crash_point("create.mounted")
        return created

    async def _prepare(self, container_id: str, actor: Actor) -> None:
        container = await self.load(container_id)
        self.container_dir(container_id).mkdir(mode=0o700, exist_ok=True)
        # The log exists from now on, so an attach can open it before the start and keep
        # reading it even if an auto-remove deletes it (conmon appends to the same file).
        private_file(self.log_path(container_id))
        rootfs = await self.images.mount_rootfs(container_id, container.image_id)
        await self.record(container_id, lambda c, k: c.mark_prepared(str(rootfs), k), actor)

    async def _discard_failed_create(
        self, container_id: str, actor: Actor, error: BaseException
    ) -> None:
        reason = error.message if isinstance(error, BerthError) else repr(error)
        with contextlib.suppress(BerthError):
            await self.record(container_id, lambda c, k: c.mark_prepare_failed(reason, k), actor)
        await self.remove_everything(container_id, actor)

    # Start -------------------------------------------------------------------------------

    async def start(self, ref: str, actor: Actor) -> None:
        container_id = await self._resolve(ref)
        async with self.locks.hold(container_id):
            await self.sync(self.engine.start, container_id, actor)
            crash_point("start.requested")
            await self.carry_out_start(container_id, actor)

    async def carry_out_start(self, container_id: str, actor: Actor) -> None:
        """Network, bundle, runc create and start, `Started`; the container's lock is held."""
        container = await self.load(container_id)
        bundle = self.container_dir(container_id) / "bundle"
        networked = False
        try:
            # A full disk is a BerthError here, so that what was set up is taken down.
            with space_for(self.container_dir(container_id)):
                if not container.prepared:
                    await self._prepare(container_id, actor)
                    container = await self.load(container_id)
                attachment = await self.networks.connect(container, actor)
                networked = True
                # Off the event loop: the spec grows with the container's env and mounts.
                await self.sync(self._write_bundle, bundle, container, attachment)
                log_limit = log_size_max(HostConfig.from_docker(container.host_config).log_config)
                pid = await self.runtime.create(
                    container_id, bundle, self.log_path(container_id), log_limit
                )
                crash_point("start.runtime_created")
                await self.runtime.start(container_id)
                crash_point("start.runtime_started")
        except BerthError as error:
            message = error.message
            code = start_failure_code(message)
            with trio.CancelScope(shield=True):
                await self.runtime.delete(container_id, force=True)
                await self.disconnect(container_id, actor)
                with contextlib.suppress(Conflict, NotModified):
                    await self.record(
                        container_id, lambda c, k: c.mark_start_failed(message, code, k), actor
                    )
                if container.host_config.get("AutoRemove"):
                    # As dockerd: an auto-remove container that cannot start is removed.
                    await self.remove_everything(container_id, actor)
            if not networked or isinstance(error, DiskFull):
                raise  # Docker's own answer: a taken port, a namespace to join that is gone
            raise StartFailure(error.message) from error
        await self.record(container_id, lambda c, k: c.mark_started(pid, _now(), k), actor)
        crash_point("start.recorded")
        self.exits.watch(container_id)

    def _write_bundle(self, bundle: Path, container: Container, attachment: Attachment) -> None:
        spec = self._spec(container, attachment)
        bundle.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(bundle / "config.json", json.dumps(spec))

    def _spec(self, container: Container, attachment: Attachment) -> dict[str, Any]:
        """The OCI spec; reads the container's /etc/passwd and /etc/group (a worker
        thread: a container controls those files)."""
        config = Config.from_docker(container.config)
        host_config = HostConfig.from_docker(container.host_config)
        rootfs = Path(container.rootfs)
        user = resolve_user(
            config.user or "",
            read_in_root(rootfs, "etc/passwd"),
            read_in_root(rootfs, "etc/group"),
            tuple(host_config.group_add or ()),
        )
        facts = HostFacts(
            rlimit_hard={"RLIMIT_NOFILE": resource.getrlimit(resource.RLIMIT_NOFILE)[1]},
            capabilities=bounding_capabilities(),
        )
        return build_spec(
            container_id=container.id,
            config=config,
            host_config=host_config,
            rootfs=str(rootfs),
            hostname=attachment.hostname or container_hostname(config.hostname, container.id),
            user=user,
            facts=facts,
            netns_path=attachment.netns_path,
            extra_mounts=attachment.mounts,
        )

    # Stop, kill, pause -------------------------------------------------------------------

    async def stop(self, ref: str, actor: Actor, timeout: int | None = None) -> None:
        container_id = await self._resolve(ref)
        async with self.locks.hold(container_id):
            await self.sync(lambda: self.engine.stop(container_id, actor, timeout))
            crash_point("stop.requested")
        await self.carry_out_stop(container_id)
        await self._wait_network_released(container_id, actor)

    async def carry_out_stop(self, container_id: str) -> None:
        """The stop signal, the stop timeout, then SIGKILL; returns once the exit is
        recorded. Only the signals take the container's lock."""
        container = await self.load(container_id)
        signal = stop_signal(container.config.get("StopSignal"))
        timeout = await self.sync(self._stop_timeout, container_id)
        async with self.locks.hold(container_id):
            await self._signal_if_live(container_id, signal, resume=True)
            crash_point("stop.signalled")
        # As dockerd, a negative timeout waits for the exit as long as it takes.
        with trio.move_on_after(timeout if timeout >= 0 else math.inf):
            await self.wait_recorded_exit(container_id)
            return
        async with self.locks.hold(container_id):
            await self._signal_if_live(container_id, "SIGKILL")
        await self.wait_recorded_exit(container_id)

    def _stop_timeout(self, container_id: str) -> int:
        for event in reversed(self.engine.history(container_id)):
            if event.name in ("StopRequested", "RestartRequested"):
                return int(event.data["timeout"])
        return 10

    async def _signal_if_live(self, container_id: str, signal: str, resume: bool = False) -> None:
        container = await self.load(container_id)
        if container.state not in LIVE or self.runtime.exit_status(container_id) is not None:
            return
        if resume:
            state = await self.runtime.state(container_id)
            if state is not None and state.status == "paused":
                await self.runtime.resume(container_id)
        with contextlib.suppress(BerthError):
            await self.runtime.kill(container_id, signal)

    async def _wait_network_released(self, container_id: str, actor: Actor) -> None:
        """As `docker stop`: return once the exited container's network is gone too (the
        exit's recording releases it; a teardown that failed then is done here)."""
        container = await self.load(container_id)
        if container.endpoint is not None and container.state is ContainerState.EXITED:
            async with self.locks.hold(container_id):
                await self.disconnect(container_id, actor)

    async def kill(self, ref: str, actor: Actor, signal: str = DEFAULT_KILL_SIGNAL) -> None:
        container_id = await self._resolve(ref)
        async with self.locks.hold(container_id):
            await self.sync(lambda: self.engine.kill(container_id, actor, signal))
            crash_point("kill.requested")
            # As dockerd: a process that exited since the check above is not an error
            # (its exit is being recorded); the kill was recorded and the request succeeds.
            with contextlib.suppress(Conflict, NotFound):
                await self.runtime.kill(container_id, signal)

    async def pause(self, ref: str, actor: Actor) -> None:
        container_id = await self._resolve(ref)
        async with self.locks.hold(container_id):
            (await self.load(container_id)).check(Command.PAUSE, ref)
            await self.runtime.pause(container_id)
            await self.sync(self.engine.pause, container_id, actor)

    async def unpause(self, ref: str, actor: Actor) -> None:
        container_id = await self._resolve(ref)
        async with self.locks.hold(container_id):
            (await self.load(container_id)).check(Command.UNPAUSE, ref)
            await self.runtime.resume(container_id)
            await self.sync(self.engine.unpause, container_id, actor)

    async def restart(self, ref: str, actor: Actor, timeout: int = 10) -> None:
        """Stop (if running), then start; returns once the new start's outcome is recorded."""
        container_id = await self._resolve(ref)
        async with self.locks.hold(container_id):
            before = await self.load(container_id)
            await self.sync(lambda: self.engine.restart(container_id, actor, timeout))
            requested = await self.load(container_id)
            if before.state not in LIVE:
                await self.carry_out_start(container_id, actor)
                return
        await self.carry_out_stop(container_id)  # the exit watcher starts it again
        await self._wait_start_outcome(container_id, requested.version)

    async def _wait_start_outcome(self, container_id: str, after_version: int) -> None:
        while True:
            for event in await self.sync(self.engine.history, container_id):
                if event.version <= after_version:
                    continue
                if event.name == "Started":
                    return
                if event.name == "StartFailed":
                    raise StartFailure(str(event.data["reason"]))
                if event.name == "RemovalRequested":
                    return
            await self.wait_for_record()

    # Remove ------------------------------------------------------------------------------

    async def remove(self, ref: str, actor: Actor, force: bool = False) -> None:
        container_id = await self._resolve(ref)
        async with self.locks.hold(container_id):
            await self.sync(lambda: self.engine.request_removal(container_id, actor, force, ref))
            crash_point("remove.requested")
            await self.remove_everything(container_id, actor)

    async def remove_everything(self, container_id: str, actor: Actor) -> None:
        """Kill what still runs (recording its exit), delete the runc container, its
        network, the mount, the writable layer, bundle and logs, then record `Removed`.
        Idempotent; the container's lock is held."""
        container = await self.load(container_id)
        if container.state is ContainerState.REMOVED:
            return
        if container.pid:  # a process whose exit the log has not seen
            await self._kill_and_record_exit(container_id, actor)
        await self.runtime.delete(container_id, force=True)
        crash_point("remove.runtime_deleted")
        await self.disconnect(container_id, actor)
        crash_point("remove.network_released")
        await self.images.unmount_rootfs(container_id)
        crash_point("remove.unmounted")
        await self.sync(shutil.rmtree, self.container_dir(container_id), True)
        crash_point("remove.files_deleted")
        container = await self.load(container_id)
        if container.state is not ContainerState.REMOVING:
            await self.sync(lambda: self.engine.request_removal(container_id, actor, True, None))
        await self.sync(self.engine.complete_removal, container_id, self.engine.cause(actor))
        self.notify_recorded()

    async def _kill_and_record_exit(self, container_id: str, actor: Actor) -> None:
        status = self.runtime.exit_status(container_id)
        if status is None:
            state = await self.runtime.state(container_id)
            if state is not None and state.status == "paused":
                with contextlib.suppress(BerthError):
                    await self.runtime.resume(container_id)
            with contextlib.suppress(BerthError):
                await self.runtime.kill(container_id, "SIGKILL")
            crash_point("remove.killed")
            with trio.move_on_after(KILL_WAIT_S), contextlib.suppress(MonitorLost):
                status = await self.runtime.wait_exited(container_id)
        if status is None:
            await self.exits.record_exit_unknown(container_id, "killed for removal", actor)
        else:
            await self.exits.record_exit(container_id, status, actor)
        crash_point("remove.exit_recorded")

    async def prune(self, actor: Actor) -> list[str]:
        """`docker container prune`: remove every container that is not running."""
        removed = []
        for row in await self.sync(self.engine.views.container_rows):
            if row["state"] in ("created", "exited", "dead"):
                with contextlib.suppress(NotFound, Conflict):
                    await self.remove(row["id"], actor)
                    removed.append(row["id"])
        return removed

    # Waiting -----------------------------------------------------------------------------

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        """Docker's wait: the exit code once `condition` holds."""
        return await self.wait_for(await self._resolve(ref), condition)

    async def wait_for(self, container_id: str, condition: str = "not-running") -> int:
        """`wait` of a container by its full id: it may have been removed meanwhile (a
        `run --rm` waits for exactly that)."""
        seen_version = (await self.load(container_id)).version
        while True:
            container = await self.load(container_id)
            if condition == "removed":
                if container.state is ContainerState.REMOVED:
                    return container.exit_code
            elif condition == "next-exit":
                if container.version > seen_version and container.state is ContainerState.EXITED:
                    return container.exit_code
            elif container.state not in (*LIVE, ContainerState.STARTING, ContainerState.RESTARTING):
                return container.exit_code
            await self.wait_for_record()

    async def wait_recorded_exit(self, container_id: str) -> None:
        while True:
            container = await self.load(container_id)
            if container.state not in LIVE:
                return
            self.exits.watch(container_id)
            await self.wait_for_record()

    def notify_recorded(self) -> None:
        """Wake the waiters: this runner has just recorded an outcome."""
        self._recorded.set()
        self._recorded = trio.Event()

    async def wait_for_record(self) -> None:
        with trio.move_on_after(RECORD_WAIT_S):
            await self._recorded.wait()

    # Recording ---------------------------------------------------------------------------

    async def record(
        self, container_id: str, outcome: Callable[[Container, Cause], None], actor: Actor
    ) -> bool:
        """Record an outcome; False if there was nothing to record (NotModified)."""
        try:
            await self.sync(self.engine.record, container_id, outcome, actor)
        except NotModified:
            return False
        self.notify_recorded()
        return True

    async def disconnect(self, container_id: str, actor: Actor) -> None:
        """Tear the network down; a failure is logged (reconcile retries it)."""
        try:
            await self.networks.disconnect(container_id, actor)
        except BerthError as error:
            log.warning("container %s: network teardown: %s", container_id[:12], error.message)
        else:
            self.notify_recorded()


@contextlib.asynccontextmanager
async def running(
    engine: Engine,
    images: ImageService,
    runtime: Runtime,
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
