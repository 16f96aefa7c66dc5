"""Exits: each running container's watcher, and what follows an exit.

A watcher waits for the container's monitor to report the exit, then — under the
container's lock — records `Exited` (with the network's release, one write) and acts on
it: auto-remove, a requested restart, or the restart policy (`RestartScheduled`, then a
start once the back-off has passed). A monitor killed behind the engine's back is not an
exit: while the container's own process lives, the watcher follows that process instead
(the exit code is then unknowable, and recorded as such when it ends). A container's port
forwarder killed behind the engine's back is started again while the container runs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import trio

from berth.adapters.runc import ExitStatus, MonitorLost
from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.container import Container, ContainerState
from berth.domain.container.restart import restart_delay_ms
from berth.domain.errors import BerthError, NotModified

from .faults import crash_point

if TYPE_CHECKING:
    from .runner import Runner

log = logging.getLogger(__name__)
ENGINE = Actor(ActorKind.ENGINE)
RESTART_POLICY = Actor(ActorKind.RESTART_POLICY)
MONITOR_LOST = "the container's monitor was killed; its exit status is unknown"


def _now() -> datetime:
    return datetime.now(UTC)


class ExitWatcher:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._watched: set[str] = set()

    def watch(self, container_id: str) -> None:
        """Watch a running container (once) until its exit is recorded and handled."""
        nursery = self.runner.nursery
        if container_id in self._watched or nursery is None:
            return
        self._watched.add(container_id)
        nursery.start_soon(self._watch, container_id)

    async def _watch(self, container_id: str) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._guard_forwarder, container_id)
                try:
                    status: ExitStatus | None = await self.runner.runtime.wait_exited(container_id)
                except MonitorLost:
                    await self._wait_orphan(container_id)
                    status = None  # its monitor alone could have told
                nursery.cancel_scope.cancel()
        except BerthError as error:
            log.warning("container %s: %s", container_id[:12], error.message)
            return
        finally:
            self._watched.discard(container_id)  # a restart watches it again
        try:
            await self.runner.reconciled.wait()
            await self.handle_exit(container_id, status)
        except BerthError as error:
            log.warning("container %s: %s", container_id[:12], error.message)

    async def _wait_orphan(self, container_id: str) -> None:
        """The monitor is gone: wait for the container's own process, if it still runs."""
        state = await self.runner.runtime.state(container_id)
        if state is None or state.status not in ("running", "paused") or state.pid <= 0:
            return
        log.warning("container %s: monitor lost; following its process", container_id[:12])
        await self.runner.runtime.wait_process_gone(container_id)

    async def _guard_forwarder(self, container_id: str) -> None:
        """Start the port forwarder again whenever it dies while the container runs."""
        networks = self.runner.networks
        while True:
            gone = await networks.wait_forwarder_gone(container_id)
            if not gone:
                return  # no forwarder to guard
            async with self.runner.locks.hold(container_id):
                container = await self.runner.load(container_id)
                if container.pid == 0:
                    return
                log.warning("container %s: port forwarder died; restarting it", container_id[:12])
                try:
                    await networks.restore_forwarder(container)
                except BerthError as error:
                    log.warning("container %s: %s", container_id[:12], error.message)
                    return

    # The exit and what follows ------------------------------------------------------------

    async def handle_exit(
        self,
        container_id: str,
        status: ExitStatus | None,
        actor: Actor = ENGINE,
        unknown_reason: str = MONITOR_LOST,
    ) -> None:
        """Record the exit the monitor reported (None: unknown), then act on it."""
        async with self.runner.locks.hold(container_id):
            recorded = await self.record_if_live(container_id, status, actor, unknown_reason)
        if recorded:
            await self.follow_up(container_id)

    async def record_if_live(
        self, container_id: str, status: ExitStatus | None, actor: Actor, unknown_reason: str
    ) -> bool:
        """Record the exit unless the log has one already; the lock is held."""
        container = await self.runner.load(container_id)
        if container.pid == 0:
            return False  # recorded already (a removal, a stop that got there first)
        if status is None:
            await self.record_exit_unknown(container_id, unknown_reason, actor)
        else:
            await self.record_exit(container_id, status, actor)
        crash_point("exit.recorded")
        return True

    async def follow_up(self, container_id: str) -> None:
        """Auto-remove, a requested restart or the restart policy, after a recorded exit."""
        async with self.runner.locks.hold(container_id):
            delay = await self._after_exit(container_id)
        if delay is not None:
            await trio.sleep(delay / 1000)
            await self.restart_when_due(container_id)

    async def _after_exit(self, container_id: str) -> int | None:
        """What follows the exit, unless something else happened since; the lock is held.
        Answers the back-off after which `restart_when_due` should run."""
        runner = self.runner
        container = await runner.load(container_id)
        if container.state is ContainerState.REMOVING:
            await runner.remove_everything(container_id, ENGINE)
            return None
        if container.state is not ContainerState.EXITED:
            return None  # started or removed again meanwhile
        if container.host_config.get("AutoRemove"):
            await runner.remove_everything(container_id, ENGINE)
            return None
        # The process is gone: runc's container, its monitor and their cgroups go too.
        await runner.runtime.delete(container_id, force=True)
        if container.restart_after_exit:
            await runner.sync(runner.engine.start, container_id, ENGINE)
            await runner.carry_out_start(container_id, ENGINE)
            return None
        if not runner.daemon:
            return None  # restart policies are berthd's (as dockerd's), not a CLI process's
        delay = restart_delay_ms(container)
        if delay is None:
            return None
        await runner.record(container_id, lambda c, k: c.schedule_restart(delay, k), RESTART_POLICY)
        crash_point("restart.scheduled")
        return delay

    async def restart_when_due(self, container_id: str) -> None:
        """The policy's start, unless the container was stopped or removed meanwhile."""
        runner = self.runner
        async with runner.locks.hold(container_id):
            container = await runner.load(container_id)
            if container.state is not ContainerState.RESTARTING:
                return
            with contextlib.suppress(NotModified):
                await runner.sync(runner.engine.start, container_id, RESTART_POLICY)
            crash_point("restart.requested")
            await runner.carry_out_start(container_id, RESTART_POLICY)

    # Recording ----------------------------------------------------------------------------

    async def record_exit(self, container_id: str, status: ExitStatus, actor: Actor) -> None:
        await self._record_with_release(
            container_id,
            lambda c, k: c.mark_exited(status.exit_code, status.oom_killed, status.finished_at, k),
            actor,
        )

    async def record_exit_unknown(self, container_id: str, reason: str, actor: Actor) -> None:
        await self._record_with_release(
            container_id, lambda c, k: c.mark_exit_unknown(reason, _now(), k), actor
        )

    async def _record_with_release(
        self, container_id: str, outcome: Callable[[Container, Cause], None], actor: Actor
    ) -> None:
        """The exit with the network's release, in one write (the process is gone)."""
        with contextlib.suppress(NotModified):
            await self.runner.networks.disconnect(container_id, actor, also=outcome)
        self.runner.notify_recorded()
