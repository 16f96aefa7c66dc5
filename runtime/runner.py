"""The runner: containers for real, the engine's intents carried out with runc.

Every change is recorded first as an intent by the engine, then carried out here, then
recorded as an outcome: `StartRequested` → runc create/start under conmon →
`Started(pid)` or `StartFailed(reason)`. Each running container has a watcher task that
turns its monitor's exit file into `Exited`, then applies auto-remove or the restart
policy. `reconcile()` runs when the runner starts: whatever the log says is live is
checked against runc and the monitors' exit files, and intents left in flight resume.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import resource
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio

from berth.adapters.network import NetworkLinks, PortForwarders
from berth.adapters.runc import MonitorLost, Runtime, StartFailure
from berth.adapters.snapshots.rootfs import read_in_root
from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.config import Config, HostConfig
from berth.domain.container import Command, Container, ContainerState
from berth.domain.errors import BerthError, Conflict, NotFound, NotModified
from berth.domain.spec import HostFacts, build_spec, resolve_user

from .engine import Created, Engine
from .images import ImageService, unwrap_errors
from .networking import Attachment, BridgeSettings, ContainerNetworks, default_bridge_name

log = logging.getLogger(__name__)
RECONCILE = Actor(ActorKind.RECONCILE)
RESTART_POLICY = Actor(ActorKind.RESTART_POLICY)
ENGINE = Actor(ActorKind.ENGINE)
POLL_S = 0.05
# Docker's restart back-off: 100 ms doubling to 1 minute, reset after 10 s of running.
BACKOFF_START_MS = 100
BACKOFF_MAX_MS = 60_000
BACKOFF_RESET_S = 10
LIVE = (ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.STOPPING)
START_INTENTS = ("StartRequested", "RestartRequested")
# Longer than conmon + runc create may take (adapters.runc.CREATE_TIMEOUT_S) plus slack.
START_GRACE = timedelta(seconds=90)
RELEASE_WAIT_S = 5


def _now() -> datetime:
    return datetime.now(UTC)


class Runner:
    """Runs the engine's containers; `serve()` hosts the per-container watchers."""

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
        # Only the daemon starts `always`/`unless-stopped` containers when it boots, as
        # dockerd; a CLI process reconciles on every command and must not.
        self.daemon = daemon
        self.engine = engine
        self.images = images
        self.runtime = runtime
        self.containers_dir = engine.root / "containers"
        self.containers_dir.mkdir(mode=0o700, exist_ok=True)
        self._nursery: trio.Nursery | None = None
        self._watched: set[str] = set()
        self._recorded = trio.Event()
        self.networks = networks or ContainerNetworks(
            engine,
            NetworkLinks(),
            PortForwarders(),
            bridge or BridgeSettings(bridge=default_bridge_name(engine.root)),
            container_dir=self.container_dir,
        )

    # Service ---------------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile, then host the watchers until cancelled (containers keep running)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self.reconcile()
            task_status.started()
            await trio.sleep_forever()

    async def _sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    def container_dir(self, container_id: str) -> Path:
        return self.containers_dir / container_id

    def log_path(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "container.log"

    # Create ------------------------------------------------------------------------------

    async def create(self, body: dict[str, Any], name: str | None, actor: Actor) -> Created:
        """Record the container, then prepare its root filesystem; clean up on failure."""
        created: Created = await self._sync(self.engine.create_container, body, name, actor)
        try:
            await self._prepare(created.id, actor)
        except BaseException as error:
            with trio.CancelScope(shield=True):
                await self._discard_failed_create(created.id, actor, error)
            raise
        return created

    async def _prepare(self, container_id: str, actor: Actor) -> None:
        image_id = (await self._sync(self.engine.inspect_container, container_id))["Image"]
        self.container_dir(container_id).mkdir(mode=0o700, exist_ok=True)
        rootfs = await self.images.mount_rootfs(container_id, image_id)
        await self._record(container_id, lambda c, k: c.mark_prepared(str(rootfs), k), actor)

    async def _discard_failed_create(
        self, container_id: str, actor: Actor, error: BaseException
    ) -> None:
        reason = error.message if isinstance(error, BerthError) else repr(error)
        with contextlib.suppress(BerthError):
            await self._record(container_id, lambda c, k: c.mark_prepare_failed(reason, k), actor)
        await self._remove_everything(container_id, actor)

    # Start -------------------------------------------------------------------------------

    async def start(self, ref: str, actor: Actor) -> None:
        container_id = await self._sync(self.engine.resolve_container, ref)
        await self._sync(self.engine.start, container_id, actor)
        await self._carry_out_start(container_id, actor)

    async def _carry_out_start(self, container_id: str, actor: Actor) -> None:
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        bundle = self.container_dir(container_id) / "bundle"
        networked = False
        try:
            if not container.prepared:
                await self._prepare(container_id, actor)
                container = await self._sync(self.engine.get_aggregate, container_id)
            attachment = await self.networks.connect(container, actor)
            networked = True
            # Off the event loop: the spec grows with the container's env and mounts.
            await self._sync(self._write_bundle, bundle, container, attachment)
            pid = await self.runtime.create(container_id, bundle, self.log_path(container_id))
            await self.runtime.start(container_id)
        except BerthError as error:
            message = error.message
            code = 127 if "executable file not found" in message else 126
            with trio.CancelScope(shield=True):
                await self.runtime.delete(container_id, force=True)
                await self._disconnect(container_id, actor)
                with contextlib.suppress(Conflict):  # another runner recorded an outcome
                    await self._record(
                        container_id, lambda c, k: c.mark_start_failed(message, code, k), actor
                    )
                if container.host_config.get("AutoRemove"):
                    # As dockerd: an auto-remove container that cannot start is removed.
                    await self._remove_everything(container_id, actor)
            if not networked:
                raise  # Docker's own answer: a taken port, a namespace to join that is gone
            raise StartFailure(error.message) from error
        await self._record(container_id, lambda c, k: c.mark_started(pid, _now(), k), actor)
        self._watch(container_id)

    def _write_bundle(self, bundle: Path, container: Container, attachment: Attachment) -> None:
        spec = self._spec(container, attachment)
        bundle.mkdir(mode=0o700, parents=True, exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(spec))

    def _spec(self, container: Container, attachment: Attachment) -> dict[str, Any]:
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
            rlimit_hard={"RLIMIT_NOFILE": resource.getrlimit(resource.RLIMIT_NOFILE)[1]}
        )
        return build_spec(
            container_id=container.id,
            config=config,
            host_config=host_config,
            rootfs=str(rootfs),
            hostname=attachment.hostname or config.hostname or container.id[:12],
            user=user,
            facts=facts,
            netns_path=attachment.netns_path,
            extra_mounts=attachment.mounts,
        )

    # Exits -------------------------------------------------------------------------------

    def _watch(self, container_id: str) -> None:
        if container_id in self._watched or self._nursery is None:
            return
        self._watched.add(container_id)
        self._nursery.start_soon(self._watch_exit, container_id)

    async def _watch_exit(self, container_id: str) -> None:
        """Record the exit and act on it; a watcher never takes the service down."""
        try:
            try:
                status = await self.runtime.wait_exited(container_id)
            except MonitorLost as lost:
                reason = lost.message
                recorded = await self._record_exit(
                    container_id, lambda c, k: c.mark_exit_unknown(reason, _now(), k), ENGINE
                )
            else:
                recorded = await self._record_exit(
                    container_id,
                    lambda c, k: c.mark_exited(
                        status.exit_code, status.oom_killed, status.finished_at, k
                    ),
                    ENGINE,
                )
        except BerthError as error:
            log.warning("container %s: %s", container_id[:12], error.message)
            recorded = False
        self._watched.discard(container_id)  # a restart watches it again
        # Only the runner that recorded the exit acts on it (another berth process may
        # watch the same container).
        if recorded:
            try:
                await self._after_exit(container_id)
            except BerthError as error:
                log.warning("container %s: %s", container_id[:12], error.message)

    async def adopt(self) -> None:
        """Watch live containers another berth process started (a follower of the log)."""
        for row in await self._sync(self.engine.views.container_rows):
            if row["state"] in ("running", "paused", "stopping"):
                self._watch(row["id"])

    async def _record_exit(
        self, container_id: str, outcome: Callable[[Container, Cause], None], actor: Actor
    ) -> bool:
        """Record an exit with the network's release (the process is gone); False if the
        exit was recorded already (by another runner)."""
        try:
            await self.networks.disconnect(container_id, actor, also=outcome)
        except NotModified:
            return False
        self._notify_recorded()
        return True

    async def _disconnect(self, container_id: str, actor: Actor) -> None:
        """Tear the network down; a failure is logged, never blocks the exit's handling."""
        try:
            await self.networks.disconnect(container_id, actor)
        except BerthError as error:
            log.warning("container %s: network teardown: %s", container_id[:12], error.message)
        else:
            self._notify_recorded()

    async def _after_exit(self, container_id: str) -> None:
        await self._disconnect(container_id, ENGINE)
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        if container.state is ContainerState.REMOVING:
            await self._remove_everything(container_id, ENGINE)
            return
        if container.host_config.get("AutoRemove"):
            await self.remove(container_id, ENGINE, force=True)
            return
        if container.restart_after_exit:
            await self.runtime.delete(container_id, force=True)
            await self._sync(self.engine.start, container_id, ENGINE)
            await self._carry_out_start(container_id, ENGINE)
            return
        if not self.daemon:
            return  # restart policies are berthd's (as dockerd's), not a CLI process's
        delay = self._restart_delay(container)
        if delay is None:
            return
        await self.runtime.delete(container_id, force=True)
        await self._record(container_id, lambda c, k: c.schedule_restart(delay, k), RESTART_POLICY)
        await trio.sleep(delay / 1000)
        current: Container = await self._sync(self.engine.get_aggregate, container_id)
        if current.state is ContainerState.RESTARTING:
            with contextlib.suppress(NotModified):
                await self._sync(self.engine.start, container_id, RESTART_POLICY)
            await self._carry_out_start(container_id, RESTART_POLICY)

    @staticmethod
    def _restart_delay(container: Container) -> int | None:
        policy = container.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if name == "no" or (container.manually_stopped and name != "always"):
            return None
        if container.manually_stopped:
            return None
        if name == "on-failure":
            if container.exit_code == 0:
                return None
            limit = int(policy.get("MaximumRetryCount") or 0)
            if limit and container.restart_count >= limit:
                return None
        ran = (
            (container.finished_at - container.started_at).total_seconds()
            if container.finished_at and container.started_at
            else 0
        )
        if ran >= BACKOFF_RESET_S:
            return BACKOFF_START_MS
        backoff: int = BACKOFF_START_MS * 2**container.restart_count
        return min(backoff, BACKOFF_MAX_MS)

    # Stop, kill, pause -------------------------------------------------------------------

    async def stop(self, ref: str, actor: Actor, timeout: int | None = None) -> None:
        container_id = await self._sync(self.engine.resolve_container, ref)
        await self._sync(lambda: self.engine.stop(container_id, actor, timeout))
        await self._carry_out_stop(container_id)
        await self._wait_network_released(container_id, actor)

    async def _wait_network_released(self, container_id: str, actor: Actor) -> None:
        """As `docker stop`: return once the exited container's network is gone too.

        The exit's recorder tears it down; if that takes too long (it may be another
        berth process that died), do it here.
        """
        with trio.move_on_after(RELEASE_WAIT_S):
            while True:
                container: Container = await self._sync(self.engine.get_aggregate, container_id)
                if container.endpoint is None or container.state is not ContainerState.EXITED:
                    return
                await self._wait_for_record()
        await self._disconnect(container_id, actor)

    async def _carry_out_stop(self, container_id: str) -> None:
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        signal = str(container.config.get("StopSignal") or "SIGTERM")
        events = await self._sync(self.engine.history, container_id)
        timeout = next(
            (
                e.data["timeout"]
                for e in reversed(events)
                if e.name in ("StopRequested", "RestartRequested")
            ),
            10,
        )
        if self.runtime.exit_status(container_id) is None:
            state = await self.runtime.state(container_id)
            if state is not None and state.status == "paused":
                await self.runtime.resume(container_id)
            with contextlib.suppress(BerthError):
                await self.runtime.kill(container_id, signal)
            # As dockerd, a negative timeout waits for the exit as long as it takes.
            with trio.move_on_after(timeout if timeout >= 0 else math.inf):
                await self._wait_recorded_exit(container_id)
                return
            with contextlib.suppress(BerthError):
                await self.runtime.kill(container_id, "SIGKILL")
        await self._wait_recorded_exit(container_id)

    async def _wait_recorded_exit(self, container_id: str) -> None:
        while True:
            container: Container = await self._sync(self.engine.get_aggregate, container_id)
            if container.state not in LIVE:
                return
            if container_id not in self._watched:
                self._watch(container_id)
            await self._wait_for_record()

    async def kill(self, ref: str, actor: Actor, signal: str = "SIGKILL") -> None:
        container_id = await self._sync(self.engine.resolve_container, ref)
        await self._sync(lambda: self.engine.kill(container_id, actor, signal))
        # As dockerd: a process that exited since the check above is not an error (its
        # exit is being recorded); the kill was recorded and the request succeeds.
        with contextlib.suppress(Conflict, NotFound):
            await self.runtime.kill(container_id, signal)

    async def pause(self, ref: str, actor: Actor) -> None:
        container_id = await self._sync(self.engine.resolve_container, ref)
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        container.check(Command.PAUSE, ref)
        await self.runtime.pause(container_id)
        await self._sync(self.engine.pause, container_id, actor)

    async def unpause(self, ref: str, actor: Actor) -> None:
        container_id = await self._sync(self.engine.resolve_container, ref)
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        container.check(Command.UNPAUSE, ref)
        await self.runtime.resume(container_id)
        await self._sync(self.engine.unpause, container_id, actor)

    async def restart(self, ref: str, actor: Actor, timeout: int = 10) -> None:
        """Stop (if running), then start; returns once the new start's outcome is recorded."""
        container_id = await self._sync(self.engine.resolve_container, ref)
        before: Container = await self._sync(self.engine.get_aggregate, container_id)
        await self._sync(lambda: self.engine.restart(container_id, actor, timeout))
        requested: Container = await self._sync(self.engine.get_aggregate, container_id)
        if before.state in LIVE:
            await self._carry_out_stop(container_id)  # the watcher starts it again
            await self._wait_start_outcome(container_id, requested.version)
        else:
            await self._carry_out_start(container_id, actor)

    async def _wait_start_outcome(self, container_id: str, after_version: int) -> None:
        while True:
            events = await self._sync(self.engine.history, container_id)
            for event in events:
                if event.version <= after_version:
                    continue
                if event.name == "Started":
                    return
                if event.name == "StartFailed":
                    raise StartFailure(str(event.data["reason"]))
            await self._wait_for_record()

    # Remove ------------------------------------------------------------------------------

    async def remove(self, ref: str, actor: Actor, force: bool = False) -> None:
        container_id = await self._sync(self.engine.resolve_container, ref)
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        running = container.state in LIVE or container.state is ContainerState.RESTARTING
        await self._sync(lambda: self.engine.request_removal(container_id, actor, force, ref))
        if running and self.runtime.exit_status(container_id) is None:
            with contextlib.suppress(BerthError):
                await self.runtime.kill(container_id, "SIGKILL")
            with contextlib.suppress(MonitorLost):
                status = await self.runtime.wait_exited(container_id)
                await self._record_exit(
                    container_id,
                    lambda c, k: c.mark_exited(
                        status.exit_code, status.oom_killed, status.finished_at, k
                    ),
                    actor,
                )
        await self._remove_everything(container_id, actor)

    async def _remove_everything(self, container_id: str, actor: Actor) -> None:
        """Delete the runc container, its network, the mount, the writable layer, bundle
        and logs."""
        await self.runtime.delete(container_id, force=True)
        await self._disconnect(container_id, actor)
        await self.images.unmount_rootfs(container_id)
        await self._sync(shutil.rmtree, self.container_dir(container_id), True)
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        if container.state is ContainerState.REMOVED:
            return
        if container.state is not ContainerState.REMOVING:
            await self._sync(lambda: self.engine.request_removal(container_id, actor, True, None))
        # The exit watcher and `remove` may both get here; the second finds it done.
        with contextlib.suppress(NotFound):
            await self._sync(self.engine.complete_removal, container_id, self.engine.cause(actor))
            self._notify_recorded()

    async def prune(self, actor: Actor) -> list[str]:
        """`docker container prune`: remove every container that is not running."""
        removed = []
        for row in await self._sync(self.engine.views.container_rows):
            if row["state"] in ("created", "exited", "dead"):
                with contextlib.suppress(NotFound):
                    await self.remove(row["id"], actor)
                    removed.append(row["id"])
        return removed

    # Waiting and logs --------------------------------------------------------------------

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        """Docker's wait: the exit code once `condition` holds."""
        container_id = await self._sync(self.engine.resolve_container, ref)
        start: Container = await self._sync(self.engine.get_aggregate, container_id)
        seen_version = start.version
        while True:
            container: Container = await self._sync(self.engine.get_aggregate, container_id)
            if condition == "removed":
                if container.state is ContainerState.REMOVED:
                    return container.exit_code
            elif condition == "next-exit":
                if container.version > seen_version and container.state is ContainerState.EXITED:
                    return container.exit_code
            elif container.state not in (*LIVE, ContainerState.STARTING, ContainerState.RESTARTING):
                return container.exit_code
            await self._wait_for_record()

    # Reconcile ---------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Make the log agree with reality after the engine (re)starts."""
        rows = await self._sync(self.engine.views.container_rows)
        for row in rows:
            await self._reconcile_one(row["id"])
        try:
            await self.networks.reconcile(RECONCILE)
        except BerthError as error:
            log.warning("network reconcile: %s", error.message)
        if self.daemon and self._nursery is not None:
            for row in rows:
                if row["state"] in ("exited", "created"):
                    self._background(self._start_on_boot, row["id"])

    async def _start_on_boot(self, container_id: str) -> None:
        """dockerd starts `always` containers at boot, `unless-stopped` ones unless stopped."""
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        policy = (container.host_config.get("RestartPolicy") or {}).get("Name") or "no"
        if container.state not in (ContainerState.EXITED, ContainerState.CREATED):
            return
        if container.started_at is None:
            return  # never started: a created container stays created
        if policy == "always" or (policy == "unless-stopped" and not container.manually_stopped):
            try:
                await self._sync(self.engine.start, container_id, RESTART_POLICY)
                await self._carry_out_start(container_id, RESTART_POLICY)
            except BerthError as error:
                log.warning("container %s: %s", container_id[:12], error.message)

    async def _reconcile_one(self, container_id: str) -> None:
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        state = container.state
        if state is ContainerState.REMOVING:
            await self._remove_everything(container_id, RECONCILE)
            return
        if state not in (*LIVE, ContainerState.STARTING, ContainerState.RESTARTING):
            return
        status = self.runtime.exit_status(container_id)
        runc_state = await self.runtime.state(container_id)
        alive = runc_state is not None and runc_state.status in ("running", "paused")
        if status is None and alive:
            if state is ContainerState.STARTING:
                pid = runc_state.pid if runc_state else 0
                await self._record(
                    container_id, lambda c, k: c.mark_started(pid, _now(), k), RECONCILE
                )
            self._watch(container_id)
            if state is ContainerState.STOPPING:
                # A stop was in flight: finish it (the signal again, then SIGKILL).
                self._background(self._carry_out_stop, container_id)
            return
        if state is ContainerState.STARTING and status is None:
            # Another berth process may be starting it right now: only a start requested
            # longer ago than any start can take was cut short by a crash.
            history = await self._sync(self.engine.history, container_id)
            requested = next(e for e in reversed(history) if e.name in START_INTENTS)
            if self.engine.now() - requested.timestamp < START_GRACE:
                return
            await self.runtime.delete(container_id, force=True)
            await self._disconnect(container_id, RECONCILE)
            with contextlib.suppress(Conflict):
                await self._record(
                    container_id,
                    lambda c, k: c.mark_start_failed("engine stopped while starting", 126, k),
                    RECONCILE,
                )
            return
        if state is ContainerState.RESTARTING:
            if self.daemon:
                self._background(self._restart_now, container_id)
            return
        if status is None and self.runtime.monitor_pid(container_id) is not None:
            # Exited an instant ago: its monitor is still writing the exit file.
            self._watch(container_id)
            return
        if status is not None:
            recorded = await self._record(
                container_id,
                lambda c, k: c.mark_exited(
                    status.exit_code, status.oom_killed, status.finished_at, k
                ),
                RECONCILE,
            )
        else:
            recorded = await self._record(
                container_id,
                lambda c, k: c.mark_exit_unknown(
                    "no exit status found after engine restart", _now(), k
                ),
                RECONCILE,
            )
        if recorded:  # whoever recorded the exit acts on it
            self._background(self._after_exit, container_id)

    def _background(self, action: Callable[[str], Any], container_id: str) -> None:
        """Run `action` in the service's nursery; its failure is logged, never raised
        into whatever request happens to be running."""

        async def guarded() -> None:
            try:
                await action(container_id)
            except BerthError as error:
                log.warning("container %s: %s", container_id[:12], error.message)

        if self._nursery is not None:
            self._nursery.start_soon(guarded)

    async def _restart_now(self, container_id: str) -> None:
        with contextlib.suppress(NotModified):
            await self._sync(self.engine.start, container_id, RESTART_POLICY)
        await self._carry_out_start(container_id, RESTART_POLICY)

    # Plumbing ----------------------------------------------------------------------------

    def _notify_recorded(self) -> None:
        """Wake the waiters: this runner has just recorded an outcome."""
        self._recorded.set()
        self._recorded = trio.Event()

    async def _wait_for_record(self) -> None:
        """Until this runner records an outcome, or POLL_S passes (another berth process
        may be the one recording)."""
        with trio.move_on_after(POLL_S):
            await self._recorded.wait()

    async def _record(
        self, container_id: str, outcome: Callable[[Container, Cause], None], actor: Actor
    ) -> bool:
        """Record an outcome; False if it was recorded already (by another runner)."""
        try:
            await self._sync(self.engine.record, container_id, outcome, actor)
        except NotModified:
            return False
        self._notify_recorded()
        return True


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
