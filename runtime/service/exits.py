"""Exit watchers: what a running container's monitor reports, recorded as it happens.

A watcher waits for the container's monitor to report the exit, then — under the
container's lock — records `Exited` (with the network's release and, in the daemon, the
restart its policy makes: one write); what follows an exit (auto-remove, the restart) is
the reactor's reaction to those events. A monitor
killed behind the engine's back is not an exit: while the container's own process lives,
the watcher follows that process instead, and records the exit as unknown when it ends
(only the monitor could have told its code). A port forwarder killed behind the engine's
back is started again while its container runs.
"""

from __future__ import annotations

import logging

import trio

from berth.adapters.runc import ExitStatus, MonitorLost
from berth.domain.cause import Actor, ActorKind
from berth.domain.errors import BerthError

from ..store.postgres import STORE_RETRY_S, store_unavailable
from .actions import ContainerActions
from .faults import crash_point

log = logging.getLogger(__name__)
ENGINE = Actor(ActorKind.ENGINE)
MONITOR_LOST = "the container's monitor was killed; its exit status is unknown"


class ExitWatcher:
    def __init__(self, actions: ContainerActions, *, daemon: bool = False) -> None:
        self.actions = actions
        # Only the daemon applies restart policies (see reactions.py).
        self.daemon = daemon
        self.nursery: trio.Nursery | None = None
        # Exits are recorded once reconcile is done, so that its sweeps never race them.
        self.ready = trio.Event()
        self._watched: set[str] = set()

    def watch(self, container_id: str) -> None:
        """Watch a running container (once) until its exit is recorded."""
        if container_id in self._watched or self.nursery is None:
            return
        self._watched.add(container_id)
        self.nursery.start_soon(self._watch, container_id)

    async def _watch(self, container_id: str) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._guard_forwarder, container_id)
                try:
                    status: ExitStatus | None = await self.actions.runtime.wait_exited(container_id)
                except MonitorLost:
                    await self._wait_orphan(container_id)
                    status = None
                nursery.cancel_scope.cancel()
            await self.ready.wait()
            while not await self._record_exit(container_id, status):
                await trio.sleep(STORE_RETRY_S)  # the exit is kept by its monitor meanwhile
        except BerthError as error:
            log.warning("container %s: %s", container_id[:12], error.message)
        finally:
            self._watched.discard(container_id)  # a restart watches it again

    async def _record_exit(self, container_id: str, status: ExitStatus | None) -> bool:
        """Record the exit unless already recorded; False while a fleet's store is away."""
        try:
            async with self.actions.locks.hold(container_id):
                if (await self.actions.load(container_id)).pid:
                    await self.actions.record_exit(
                        container_id, status, ENGINE, MONITOR_LOST, restart_policy=self.daemon
                    )
                    crash_point("exit.recorded")
            return True
        except Exception as error:
            unavailable = store_unavailable(error)
            if unavailable is None:
                raise
            log.warning("container %s exited: %s", container_id[:12], unavailable.message)
            return False

    async def _wait_orphan(self, container_id: str) -> None:
        """The monitor is gone: wait for the container's own process, if it still runs."""
        state = await self.actions.runtime.state(container_id)
        if state is None or state.status not in ("running", "paused") or state.pid <= 0:
            return
        log.warning("container %s: monitor lost; following its process", container_id[:12])
        await self.actions.runtime.wait_process_gone(container_id)

    async def _guard_forwarder(self, container_id: str) -> None:
        """Start the port forwarder again whenever it dies while the container runs."""
        actions = self.actions
        while await actions.networks.wait_forwarder_gone(container_id):
            async with actions.locks.hold(container_id):
                container = await actions.load(container_id)
                if not container.pid:
                    return
                log.warning("container %s: port forwarder died; restarting it", container_id[:12])
                try:
                    await actions.networks.restore_forwarder(container)
                except BerthError as error:
                    log.warning("container %s: %s", container_id[:12], error.message)
                    return
