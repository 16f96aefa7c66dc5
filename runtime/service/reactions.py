"""The containers' reactor: what each recorded event of a container sets in motion.

- Created: the root filesystem prepared (Prepared, or PrepareFailed and undone).
- StartRequested: network, runc create and start (Started, or StartFailed and undone).
- RestartRequested: as a stop of what runs (its exit starts it again), else as a start.
- StopRequested: the stop signal, then after the timeout SIGKILL (the exit is observed).
- KillRequested: the signal.
- RemovalRequested: kill, the exit, everything deleted (Removed).
- Exited, ExitCodeUnknown: runc's container deleted; then auto-remove (RemovalRequested)
  or a requested restart (StartRequested); the daemon records the restart policy's
  RestartScheduled with the exit itself (exits.py).
- RestartScheduled: once the back-off has passed, StartRequested.
- Started: the exit watched.

Every reaction takes the container's lock and acts on the container as it is now, so a
reaction seen again after a crash does only what is still to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import trio

from berth.domain.cause import Actor, ActorKind
from berth.domain.container import ContainerState
from berth.domain.container.restart import restart_delay_ms
from berth.domain.errors import NotModified

from ..store.events import LoggedEvent
from ..views.fleet import host_of
from .actions import RESTART_POLICY, ContainerActions
from .exits import ExitWatcher
from .faults import crash_point
from .reactor import Reactor

S = ContainerState
ENGINE = Actor(ActorKind.ENGINE)
NAME = "containers"


class ContainerReactions:
    def __init__(self, actions: ContainerActions, exits: ExitWatcher, *, daemon: bool) -> None:
        # Only the daemon applies restart policies, as dockerd; a `berth` command running
        # the engine in-process ends before a back-off would.
        self.daemon = daemon
        self.actions = actions
        self.exits = exits
        self.reactor: Reactor | None = None
        self._table: dict[str, Callable[[LoggedEvent], Awaitable[None]]] = {
            "Created": self._created,
            "StartRequested": self._start,
            "RestartRequested": self._restart,
            "StopRequested": self._stop,
            "KillRequested": self._kill,
            "RemovalRequested": self._remove,
            "Exited": self._exited,
            "ExitCodeUnknown": self._exited,
            "RestartScheduled": self._restart_scheduled,
            "Started": self._started,
        }

    def wants(self, event: LoggedEvent) -> bool:
        """A container event of this host's (another host's containers are its own to act
        on, ADR/0043)."""
        return (
            event.aggregate == "container"
            and event.name in self._table
            and host_of(event) == self.actions.engine.host_id
        )

    async def act(self, event: LoggedEvent) -> None:
        await self._table[event.name](event)

    # Reactions -----------------------------------------------------------------------------

    async def _created(self, event: LoggedEvent) -> None:
        async with self.actions.locks.hold(event.originator_id):
            await self.actions.prepare(event.originator_id, event.data["actor"])

    async def _start(self, event: LoggedEvent) -> None:
        async with self.actions.locks.hold(event.originator_id):
            await self.actions.carry_out_start(event.originator_id, event.data["actor"])

    async def _restart(self, event: LoggedEvent) -> None:
        container = await self.actions.load(event.originator_id)
        if container.state is S.STARTING:
            await self._start(event)
        else:  # a running container: stopped here, started again by its exit's reaction
            await self._stop(event)

    async def _stop(self, event: LoggedEvent) -> None:
        """The signal now; the wait for the exit, and the SIGKILL after the timeout, off
        the container's queue (a `kill` or `rm -f` meanwhile must not wait behind it)."""
        container_id, position = event.originator_id, event.position
        if not await self.actions.begin_stop(container_id, ENGINE):
            return
        reactor = self._reactor()
        reactor.hold(position)

        async def finish() -> None:
            try:
                await self.actions.finish_stop(container_id, int(event.data["timeout"]))
            finally:
                reactor.release(position)

        reactor.spawn(finish)

    async def _kill(self, event: LoggedEvent) -> None:
        async with self.actions.locks.hold(event.originator_id):
            await self.actions.signal_if_live(event.originator_id, str(event.data["signal"]))

    async def _remove(self, event: LoggedEvent) -> None:
        async with self.actions.locks.hold(event.originator_id):
            container = await self.actions.load(event.originator_id)
            if container.state is S.REMOVING:
                await self.actions.remove_everything(
                    event.originator_id, event.data["actor"], event.data.get("volumes") or None
                )

    async def _started(self, event: LoggedEvent) -> None:
        container = await self.actions.load(event.originator_id)
        if container.pid:
            self.exits.watch(event.originator_id)

    async def _exited(self, event: LoggedEvent) -> None:
        container_id = event.originator_id
        actions = self.actions
        async with actions.locks.hold(container_id):
            container = await actions.load(container_id)
            if container.state not in (S.EXITED, S.RESTARTING):
                return  # started, stopped or removed again meanwhile
            auto_remove = bool(container.host_config.get("AutoRemove"))
            if not auto_remove:  # else with the removal's leftovers, after its answer
                # The process is gone: runc's container, its monitor and cgroups go too.
                await actions.runtime.delete(container_id, force=True)
            engine = actions.engine
            if auto_remove:
                await actions.sync(lambda: engine.request_removal(container_id, ENGINE, True))
            elif container.restart_after_exit:
                await actions.sync(engine.start, container_id, ENGINE)
            elif (
                container.state is S.EXITED
                and self.daemon
                and (delay := restart_delay_ms(container)) is not None
            ):  # an exit recorded without its policy's decision (by an older berthd)
                await actions.record(
                    container_id, lambda c, k: c.schedule_restart(delay, k), RESTART_POLICY
                )
                crash_point("restart.scheduled")

    async def _restart_scheduled(self, event: LoggedEvent) -> None:
        """Keeps the event in flight through the back-off (counted from when it was
        scheduled, also after a crash), then queues the start behind the container's
        other work: a stop or a removal meanwhile wins."""
        if not self.daemon:
            return
        # Recorded with the exit (exits.py): a crash here resumes the back-off from the log.
        crash_point("restart.scheduled")
        container_id, position = event.originator_id, event.position
        due = event.timestamp + timedelta(milliseconds=int(event.data["delay_ms"]))
        reactor = self._reactor()
        reactor.hold(position)

        async def start_when_due() -> None:
            try:
                await trio.sleep(max(0.0, (due - self.actions.engine.now()).total_seconds()))
                reactor.submit(container_id, position, lambda: self._start_if_due(container_id))
            finally:
                reactor.release(position)

        reactor.spawn(start_when_due)

    def _reactor(self) -> Reactor:
        assert self.reactor is not None, "reactions run inside their reactor"
        return self.reactor

    async def _start_if_due(self, container_id: str) -> None:
        async with self.actions.locks.hold(container_id):
            container = await self.actions.load(container_id)
            if container.state is not S.RESTARTING:
                return
            try:
                await self.actions.sync(self.actions.engine.start, container_id, RESTART_POLICY)
            except NotModified:
                return
            crash_point("restart.requested")
