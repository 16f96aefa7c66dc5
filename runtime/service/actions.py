"""What is done to a container in the world, and the outcome recorded for each.

The reactions (reactions.py), the exit watchers (exits.py) and reconcile call these; each
is idempotent and looks at the container as the log has it now, so that repeating one
after a crash is harmless. The container's lock is held by the caller unless a method
says otherwise: no two of these ever run at once for one container.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import resource
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio

from berth.adapters.capabilities import bounding_capabilities
from berth.adapters.cgroups import unified as unified_cgroups
from berth.adapters.host_devices import host_devices, mapped_devices
from berth.adapters.log_rotation import keep_rotated, plan_rotation
from berth.adapters.private_files import private_file, write_private
from berth.adapters.runc import ContainerRuntime, ExitStatus, MonitorLost, StartFailure, Stdio
from berth.adapters.snapshots.rootfs import read_in_root
from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.config import Config, HostConfig
from berth.domain.container import Container, ContainerState, container_hostname
from berth.domain.container.restart import restart_on_exit_ms
from berth.domain.errors import BerthError, Conflict, DiskFull, NotFound, NotModified, space_for
from berth.domain.exit_codes import start_failure_code
from berth.domain.log_config import log_policy
from berth.domain.signals import stop_signal
from berth.domain.spec import HostFacts, build_spec, resolve_user
from berth.domain.volume import Volume

from .changes import Changes
from .container_mounts import ContainerMounts
from .engine import Engine
from .faults import crash_point
from .images import ImageService
from .keyed_locks import KeyedLocks
from .leftovers import Leftovers
from .log_rotation import LogRotation
from .namespace_donors import donor_pid
from .network_files import Attachment
from .networking import ContainerNetworks
from .start_gate import StartGate
from .volume_mounts import VolumeMounts
from .volumes import VolumeService

log = logging.getLogger(__name__)
ENGINE = Actor(ActorKind.ENGINE)
RESTART_POLICY = Actor(ActorKind.RESTART_POLICY)
#: How long a removal waits for a SIGKILLed container's monitor to report the exit.
KILL_WAIT_S = 10.0
#: Waiters wake when the log changes; this is only their safety net.
CHANGE_WAIT_S = 0.5


#: dockerd's name for its init on PATH, then Debian's static tini (package `tini`).
INIT_BINARIES = ("docker-init", "tini-static")


def init_binary() -> str:
    """The host's init for --init: a static build, since it runs inside any image."""
    return next(filter(None, map(shutil.which, INIT_BINARIES)), "")


class ContainerActions:
    def __init__(
        self,
        engine: Engine,
        images: ImageService,
        runtime: ContainerRuntime,
        networks: ContainerNetworks,
        changes: Changes,
        volumes: VolumeService,
    ) -> None:
        self.engine = engine
        self.volumes = volumes
        self.images = images
        self.runtime = runtime
        self.networks = networks
        self.changes = changes
        self.locks = KeyedLocks()
        self.start_gate = StartGate()
        self.containers_dir = engine.root / "containers"
        self.leftovers = Leftovers(runtime, images, self.container_dir)
        self.log_rotation = LogRotation(self.containers_dir, self.log_path)
        hosts = engine.mount_points
        self.mounts = ContainerMounts(engine.root, VolumeMounts(volumes.driver, hosts), hosts)

    async def sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    async def load(self, container_id: str) -> Container:
        container: Container = await self.sync(self.engine.get_aggregate, container_id)
        return container

    def container_dir(self, container_id: str) -> Path:
        return self.containers_dir / container_id

    def log_path(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "container.log"

    # Recording -----------------------------------------------------------------------------

    async def record(
        self, container_id: str, outcome: Callable[[Container, Cause], None], actor: Actor
    ) -> bool:
        """Record an outcome; False if there was nothing to record (NotModified)."""
        try:
            await self.sync(self.engine.record, container_id, outcome, actor)
        except NotModified:
            return False
        return True

    async def record_exit(
        self,
        container_id: str,
        status: ExitStatus | None,
        actor: Actor,
        unknown: str,
        restart_policy: bool = False,
    ) -> None:
        """The exit (or, without a status, that it is unknown: never a silent 0) with the
        network's release and its volumes' unmounts, in one write: the process is gone.

        With `restart_policy` (the daemon's exits), a restart the policy will make is
        scheduled in that same write, so the container is `restarting` from its exit on,
        as dockerd's: never `exited` for a moment in which `rm` would succeed."""
        if status is None:
            outcome: Callable[[Container, Cause], None] = lambda c, k: c.mark_exit_unknown(  # noqa: E731
                unknown, k.at, k
            )
        else:
            outcome = lambda c, k: c.mark_exited(  # noqa: E731
                status.exit_code, status.oom_killed, status.finished_at, k
            )
        unmounted: list[Volume] = []

        def exited(c: Container, k: Cause) -> list[Volume]:
            outcome(c, k)
            if restart_policy and (delay := restart_on_exit_ms(c)) is not None:
                c.schedule_restart(delay, replace(k, actor=RESTART_POLICY))
            unmounted[:] = self.engine.volumes.unmounted(c, k)
            return unmounted

        with contextlib.suppress(NotModified):
            await self.networks.disconnect(container_id, actor, also=exited)
        await self.volumes.unmount_unused(unmounted)

    async def disconnect(self, container_id: str, actor: Actor) -> None:
        """Tear the network down; a failure is logged (reconcile retries it)."""
        try:
            await self.networks.disconnect(container_id, actor)
        except BerthError as error:
            log.warning("container %s: network teardown: %s", container_id[:12], error.message)

    # Create and start ----------------------------------------------------------------------

    async def prepare(self, container_id: str, actor: Actor) -> None:
        """The root filesystem of a container just created; a failure is recorded
        (`PrepareFailed`), undone, and raised."""
        container = await self.load(container_id)
        if container.prepared or container.state is not ContainerState.CREATED:
            return
        try:
            await self._mount(container, actor)
        except BaseException as error:
            reason = error.message if isinstance(error, BerthError) else repr(error)
            with trio.CancelScope(shield=True):
                with contextlib.suppress(BerthError):
                    await self.record(
                        container_id, lambda c, k: c.mark_prepare_failed(reason, k), actor
                    )
                await self.remove_everything(container_id, actor, volumes=True)
            raise
        crash_point("create.mounted")

    async def _mount(self, container: Container, actor: Actor) -> None:
        self.container_dir(container.id).mkdir(mode=0o700, exist_ok=True)
        # The log exists from now on, so an attach can open it before the start and keep
        # reading it even if an auto-remove deletes it (conmon appends to the same file).
        private_file(self.log_path(container.id))
        rootfs = await self.images.mount_rootfs(container.id, container.image_id)
        await self.sync(self.mounts.populate, container, rootfs)
        await self.record(container.id, lambda c, k: c.mark_prepared(str(rootfs), k), actor)

    async def undo_partial_start(self, container_id: str) -> None:
        """What a start cut short by a crash left (runc's container, the network)."""
        if self.runtime.knows(container_id):
            await self.runtime.delete(container_id, force=True)
        container = await self.load(container_id)
        if container.endpoint is not None or await self.sync(
            self.networks.holds_address, container_id
        ):
            await self.disconnect(container_id, ENGINE)

    async def carry_out_start(self, container_id: str, actor: Actor) -> None:
        """Network, bundle, runc create and start, then `Started`."""
        container = await self.load(container_id)
        if container.state is not ContainerState.STARTING:
            return
        await self.undo_partial_start(container_id)
        bundle = self.container_dir(container_id) / "bundle"
        networked = False
        try:
            # A full disk is a BerthError here, so that what was set up is taken down.
            with space_for(self.container_dir(container_id)):
                if not container.prepared:  # a crash cut its create short
                    await self._mount(container, actor)
                    container = await self.load(container_id)
                attachment = await self.networks.connect(container, actor)
                networked = True
                await self.volumes.ready_for_start(container)
                # Off the event loop: the spec grows with the container's env and mounts.
                await self.sync(self._write_bundle, bundle, container, attachment)
                pid = await self._create(container, bundle)
                crash_point("start.runtime_created")
                await self.start_gate.created(container_id)
                await self.runtime.start(container_id)
                crash_point("start.runtime_started")
        except BerthError as error:
            with trio.CancelScope(shield=True):
                await self._undo_failed_start(container, error, actor)
            if not networked or isinstance(error, DiskFull):
                raise  # Docker's own answer: a taken port, a namespace to join that is gone
            raise StartFailure(error.message) from error
        await self.record_started(container_id, pid, actor)
        crash_point("start.recorded")

    async def _create(self, container: Container, bundle: Path) -> int:
        """The runtime's create, with the log the container's driver keeps (rotated
        alongside conmon: log_rotation.py)."""
        host_config = HostConfig.from_docker(container.host_config)
        policy = log_policy(host_config.log_config)
        path = self.log_path(container.id) if policy.kept else None
        stdio = _stdio(Config.from_docker(container.config))
        pid = await self.runtime.create(
            container.id, bundle, path, policy.max_size, stdio, runtime=host_config.runtime or None
        )
        if path is not None:
            await self.sync(plan_rotation, path, policy.max_file)
            await self.sync(keep_rotated, path, policy.max_file)
            if policy.max_file > 1:
                self.log_rotation.wanted()
        return pid

    async def record_started(self, container_id: str, pid: int, actor: Actor) -> None:
        """`Started`, in one write with its volumes' mounts (before it in the log, as
        dockerd's `mount` events precede `start`)."""

        def started(c: Container, k: Cause) -> list[Volume]:
            c.mark_started(pid, k.at, k)
            return self.engine.volumes.mounted(c, k)

        with contextlib.suppress(NotModified):
            await self.sync(
                lambda: self.engine.record(container_id, started, actor, others_first=True)
            )

    async def _undo_failed_start(
        self, container: Container, error: BerthError, actor: Actor
    ) -> None:
        message = error.message
        code = start_failure_code(message)
        await self.runtime.delete(container.id, force=True)
        await self.disconnect(container.id, actor)
        with contextlib.suppress(BerthError):
            await self.volumes.unmount_all(container.id, actor)
        with contextlib.suppress(Conflict, NotModified):
            await self.record(
                container.id, lambda c, k: c.mark_start_failed(message, code, k), actor
            )
        if container.host_config.get("AutoRemove"):
            # As dockerd: an auto-remove container that cannot start is removed.
            await self.remove_everything(container.id, actor)

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
            devices=host_devices() if host_config.privileged else (),
            mapped_devices=mapped_devices(host_config.devices or ()),
            init_binary=init_binary() if host_config.init else "",
            cgroup_v2=unified_cgroups(),
            pid_donor=donor_pid(self.engine, host_config.pid_mode),
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
            image_env=attachment.env,
            extra_mounts=self.mounts.oci_mounts(container, attachment.mounts),
        )

    # Signals ---------------------------------------------------------------------------

    async def signal_if_live(self, container_id: str, signal: str, resume: bool = False) -> None:
        """Send `signal` to a container the log says runs (a process that has just
        exited is not an error: its exit is being recorded)."""
        container = await self.load(container_id)
        if not container.pid or self.runtime.exit_status(container_id) is not None:
            return
        if resume and self.runtime.paused(container_id):
            await self.runtime.resume(container_id)
        with contextlib.suppress(Conflict, NotFound):
            await self.runtime.kill(container_id, signal)

    async def begin_stop(self, container_id: str, actor: Actor) -> bool:
        """The stop signal; False when nothing runs (then the stop is recorded as done)."""
        async with self.locks.hold(container_id):
            container = await self.load(container_id)
            if container.state is not ContainerState.STOPPING:
                return False
            if not container.pid:
                # Stopped while waiting for a restart: nothing runs, the stop is done.
                await self.record_exit(container_id, None, actor, "stopped before it restarted")
                return False
            signal = stop_signal(container.config.get("StopSignal"))
            await self.signal_if_live(container_id, signal, resume=True)
            crash_point("stop.signalled")
            return True

    async def finish_stop(self, container_id: str, timeout: int) -> None:
        """`timeout` s for the exit (negative: no limit, as dockerd), then SIGKILL;
        returns once the exit is recorded."""
        with trio.move_on_after(timeout if timeout >= 0 else math.inf):
            await self.wait_recorded_exit(container_id)
            return
        async with self.locks.hold(container_id):
            await self.signal_if_live(container_id, "SIGKILL")
        await self.wait_recorded_exit(container_id)

    async def wait_recorded_exit(self, container_id: str) -> None:
        while True:
            seen = self.changes.current()
            if not (await self.load(container_id)).pid:
                return
            await self.changes.wait(CHANGE_WAIT_S, since=seen)

    # Remove ----------------------------------------------------------------------------

    async def remove_everything(
        self, container_id: str, actor: Actor, volumes: bool | None = None
    ) -> None:
        """Kill what still runs (recording its exit), release its network, with `volumes`
        (default: for an auto-remove container, as dockerd's --rm) its anonymous volumes,
        record `Removed`, then delete the runc container, the mount, the writable layer,
        bundle and logs after the answer (leftovers.py)."""
        container = await self.load(container_id)
        if container.state is ContainerState.REMOVED:
            return
        if volumes is None:
            volumes = bool(container.host_config.get("AutoRemove"))
        if container.pid:  # a process whose exit the log has not seen
            await self._kill_and_record_exit(container_id, actor)
        if self.runtime.knows(container_id) and self.runtime.exit_status(container_id) is None:
            await self.runtime.delete(container_id, force=True)  # its process may still run
        await self.disconnect(container_id, actor)
        crash_point("remove.network_released")
        container = await self.load(container_id)
        if container.state is not ContainerState.REMOVING:
            await self.sync(lambda: self.engine.request_removal(container_id, actor, True, None))
        if volumes:
            await self.volumes.remove_anonymous_data(container_id)
        cause = self.engine.cause(actor)
        released = await self.sync(self.engine.complete_removal, container_id, cause, volumes)
        await self.volumes.unmount_unused(released)
        await self.leftovers.clear_later(container_id)

    async def _kill_and_record_exit(self, container_id: str, actor: Actor) -> None:
        status = self.runtime.exit_status(container_id)
        if status is None:
            await self.signal_if_live(container_id, "SIGKILL", resume=True)
            crash_point("remove.killed")
            with trio.move_on_after(KILL_WAIT_S), contextlib.suppress(MonitorLost):
                status = await self.runtime.wait_exited(container_id)
        await self.record_exit(container_id, status, actor, "killed for removal")
        crash_point("remove.exit_recorded")


def _stdio(config: Config) -> Stdio:
    return Stdio(terminal=config.tty, stdin=config.open_stdin, stdin_once=config.stdin_once)
