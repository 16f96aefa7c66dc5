"""The Container aggregate: Docker's lifecycle as events.

Commands consult `transitions.decide` before anything is recorded, so a refused command
changes nothing. Intents (`StartRequested`, `StopRequested`, `RemovalRequested`, ...) and
outcomes (`Started`, `Exited`, `Removed`, ...) are separate events: a reactor that crashed
between the two finds the intent in the log and resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..aggregate import CreatedEvent, DomainEvent, StrIdAggregate
from ..cause import Cause
from ..errors import InvalidParameter
from .commands import ContainerCommands
from .ids import is_container_id
from .transitions import (
    LIVE_STATES,
    RECORDS,
    Command,
    ContainerState,
    state_after,
)

S = ContainerState

T = "berth.container"


class Container(ContainerCommands, StrIdAggregate):
    TOPIC = T

    @dataclass(frozen=True)
    class Event(DomainEvent):
        TOPIC = f"{T}.Event"

        def apply(self, c: Container) -> None:
            has_run = getattr(c, "started_at", None) is not None
            self.update(c)
            c.state = state_after(type(self).__name__, getattr(c, "state", S.CREATED), has_run)

        def update(self, c: Container) -> None:
            """Fields other than the state; the state follows `state_after`."""

    @dataclass(frozen=True)
    class Created(Event, CreatedEvent):
        TOPIC = f"{T}.Created"
        name: str
        image: str
        image_id: str
        config: dict[str, Any]
        host_config: dict[str, Any]
        networking_config: dict[str, Any]
        mounts: list[dict[str, Any]] | None = None  # domain/mounts.py; older logs: none

        def update(self, c: Container) -> None:
            c.name = self.name
            c.mounts = list(getattr(self, "mounts", None) or [])
            c.image = self.image
            c.image_id = self.image_id
            c.config = self.config
            c.host_config = self.host_config
            c.networking_config = self.networking_config
            c.prepared = False
            c.pid = 0
            c.exit_code = 0
            c.oom_killed = False
            c.error = ""
            c.started_at = None
            c.finished_at = None
            c.restart_count = 0
            c.restart_after_exit = False
            c.manually_stopped = False
            c.rootfs = ""
            c.network = None

    @dataclass(frozen=True)
    class Prepared(Event):
        TOPIC = f"{T}.Prepared"
        rootfs: str

        def update(self, c: Container) -> None:
            c.prepared = True
            c.rootfs = self.rootfs

    @dataclass(frozen=True)
    class PrepareFailed(Event):
        TOPIC = f"{T}.PrepareFailed"
        reason: str

        def update(self, c: Container) -> None:
            c.error = self.reason

    @dataclass(frozen=True)
    class StartRequested(Event):
        TOPIC = f"{T}.StartRequested"

        def update(self, c: Container) -> None:
            c.manually_stopped = False
            c.restart_after_exit = False  # a pending restart has become this start

    @dataclass(frozen=True)
    class Started(Event):
        TOPIC = f"{T}.Started"
        pid: int
        started_at: datetime

        def update(self, c: Container) -> None:
            c.pid = self.pid
            c.started_at = self.started_at
            c.error = ""

    @dataclass(frozen=True)
    class StartFailed(Event):
        TOPIC = f"{T}.StartFailed"
        reason: str
        exit_code: int

        def update(self, c: Container) -> None:
            c.error = self.reason
            c.exit_code = self.exit_code
            c.restart_after_exit = False

    @dataclass(frozen=True)
    class StopRequested(Event):
        TOPIC = f"{T}.StopRequested"
        signal: str
        timeout: int

        def update(self, c: Container) -> None:
            c.manually_stopped = True
            c.restart_after_exit = False

    @dataclass(frozen=True)
    class KillRequested(Event):
        TOPIC = f"{T}.KillRequested"
        signal: str

        def update(self, c: Container) -> None:
            c.manually_stopped = True

    @dataclass(frozen=True)
    class Paused(Event):
        TOPIC = f"{T}.Paused"

    @dataclass(frozen=True)
    class Unpaused(Event):
        TOPIC = f"{T}.Unpaused"

    @dataclass(frozen=True)
    class RestartRequested(Event):
        TOPIC = f"{T}.RestartRequested"
        timeout: int

        def update(self, c: Container) -> None:
            # A running container restarts once its stop completes.
            c.restart_after_exit = c.state in LIVE_STATES
            c.manually_stopped = False

    @dataclass(frozen=True)
    class Exited(Event):
        TOPIC = f"{T}.Exited"
        exit_code: int
        oom_killed: bool
        finished_at: datetime

        def update(self, c: Container) -> None:
            c.exit_code = self.exit_code
            c.oom_killed = self.oom_killed
            c.finished_at = self.finished_at
            c.pid = 0

    @dataclass(frozen=True)
    class ExitCodeUnknown(Event):
        """The process is gone and nothing says how it ended; never a silent 0."""

        TOPIC = f"{T}.ExitCodeUnknown"
        reason: str
        finished_at: datetime

        def update(self, c: Container) -> None:
            c.exit_code = -1
            c.error = self.reason
            c.finished_at = self.finished_at
            c.pid = 0

    @dataclass(frozen=True)
    class RestartScheduled(Event):
        TOPIC = f"{T}.RestartScheduled"
        delay_ms: int
        restart_count: int

        def update(self, c: Container) -> None:
            c.restart_count = self.restart_count

    @dataclass(frozen=True)
    class NetworkConnected(Event):
        """The network is set up: the endpoint as inspect shows it (IPAddress, Ports...)."""

        TOPIC = f"{T}.NetworkConnected"
        network_id: str
        network_name: str
        endpoint: dict[str, Any]

        def update(self, c: Container) -> None:
            c.network = {"id": self.network_id, "name": self.network_name, **self.endpoint}

    @dataclass(frozen=True)
    class NetworkDisconnected(Event):
        TOPIC = f"{T}.NetworkDisconnected"
        network_id: str

        def update(self, c: Container) -> None:
            c.network = None

    @dataclass(frozen=True)
    class Renamed(Event):
        TOPIC = f"{T}.Renamed"
        old_name: str
        new_name: str

        def update(self, c: Container) -> None:
            c.name = self.new_name

    @dataclass(frozen=True)
    class RemovalRequested(Event):
        TOPIC = f"{T}.RemovalRequested"
        force: bool
        volumes: bool = False  # `rm -v`: its anonymous volumes go too; older logs: False

        def update(self, c: Container) -> None:
            c.restart_after_exit = False

    @dataclass(frozen=True)
    class Removed(Event):
        TOPIC = f"{T}.Removed"

        def update(self, c: Container) -> None:
            c.pid = 0

    @classmethod
    def create(
        cls,
        *,
        id: str,
        name: str,
        image: str,
        image_id: str,
        config: dict[str, Any],
        host_config: dict[str, Any],
        networking_config: dict[str, Any] | None = None,
        mounts: list[dict[str, Any]] | None = None,
        cause: Cause,
    ) -> Container:
        if not is_container_id(id):
            raise InvalidParameter(f"invalid container id {id!r}: need 64 lowercase hex")
        container: Container = cls._start(
            id,
            cls.Created,
            cause,
            name=name,
            image=image,
            image_id=image_id,
            config=config,
            host_config=host_config,
            networking_config=networking_config or {},
            mounts=mounts or [],
        )
        return container


# The event class each command records when the table says Go.
EVENT_OF_COMMAND: dict[Command, type[DomainEvent]] = {
    command: getattr(Container, name) for command, name in RECORDS.items()
}
