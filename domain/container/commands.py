"""The Container's commands: each asks `transitions.decide` first, so a refused command
records nothing, then records the event the table names for it (`RECORDS`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..aggregate import DomainEvent
from ..cause import Cause
from ..errors import InvalidParameter, NotModified
from .transitions import RECORDS, Command, ContainerState, Go, NoOp, decide


class ContainerCommands:
    """Mixed into `Container` (aggregate.py), which defines the events these record."""

    if TYPE_CHECKING:
        id: str
        # State, filled in by the events' apply(). Kept out of the runtime class body
        # because eventsourcing turns annotated aggregates into dataclasses.
        name: str
        image: str
        image_id: str
        config: dict[str, Any]
        host_config: dict[str, Any]
        networking_config: dict[str, Any]
        mounts: list[dict[str, Any]]
        state: ContainerState
        prepared: bool
        pid: int
        exit_code: int
        oom_killed: bool
        error: str
        started_at: datetime | None
        finished_at: datetime | None
        restart_count: int
        restart_after_exit: bool
        manually_stopped: bool
        rootfs: str
        network: dict[str, Any] | None

        def _record(self, event_class: type[DomainEvent], cause: Cause, **fields: Any) -> None: ...

    def namespace_donor_pid(self) -> int:
        """The process whose namespace another container joins (`--pid container:X`):
        dockerd's checkContainer(containerIsRunning, containerIsNotRestarting), which is
        `top`'s rule in the table, with its messages."""
        self.check(Command.TOP)
        return self.pid

    def check(self, command: Command, caller_ref: str | None = None) -> bool:
        """Whether `command` would record an event now; raises Docker's error if refused.

        Returns False for Docker's 304 answers (nothing to do), True otherwise.
        """
        outcome = decide(self.state, command)
        if isinstance(outcome, Go):
            return True
        ref = caller_ref or self.name.lstrip("/") or self.id
        fields = {"id": self.id, "name": ref, "command": command.value, "state": self.state.value}
        if isinstance(outcome, NoOp):
            return False
        raise outcome.error(outcome.message.format(**fields))

    def _do(
        self,
        command: Command,
        cause: Cause,
        caller_ref: str | None = None,
        **fields: Any,
    ) -> None:
        if not self.check(command, caller_ref):
            outcome = decide(self.state, command)
            assert isinstance(outcome, NoOp)
            raise NotModified(outcome.message)
        self._record(getattr(type(self), RECORDS[command]), cause, **fields)

    # User commands ---------------------------------------------------------------------

    def request_start(self, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.START, cause, caller_ref)

    def request_stop(
        self, signal: str, timeout: int, cause: Cause, caller_ref: str | None = None
    ) -> None:
        self._do(Command.STOP, cause, caller_ref, signal=signal, timeout=timeout)

    def request_kill(self, signal: str, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.KILL, cause, caller_ref, signal=signal)

    def pause(self, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.PAUSE, cause, caller_ref)

    def unpause(self, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.UNPAUSE, cause, caller_ref)

    def request_restart(self, timeout: int, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.RESTART, cause, caller_ref, timeout=timeout)

    def request_removal(
        self, force: bool, cause: Cause, caller_ref: str | None = None, volumes: bool = False
    ) -> None:
        command = Command.FORCE_REMOVE if force else Command.REMOVE
        self._do(command, cause, caller_ref, force=force, volumes=volumes)

    def rename(self, new_name: str, cause: Cause, caller_ref: str | None = None) -> None:
        if new_name == self.name:
            raise InvalidParameter("Renaming a container with the same name as its current name")
        self._do(Command.RENAME, cause, caller_ref, old_name=self.name, new_name=new_name)

    def update(
        self, host_config: dict[str, Any], cause: Cause, caller_ref: str | None = None
    ) -> None:
        """Record the changed HostConfig fields (domain/container_update.py plans them)."""
        self._do(Command.UPDATE, cause, caller_ref, host_config=host_config)

    def list_processes(self, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.TOP, cause, caller_ref)

    def attach(self, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.ATTACH, cause, caller_ref)

    def detach(self, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.DETACH, cause, caller_ref)

    def resize(self, height: int, width: int, cause: Cause, caller_ref: str | None = None) -> None:
        self._do(Command.RESIZE, cause, caller_ref, height=height, width=width)

    # Outcomes reported by reactors --------------------------------------------------------

    def mark_prepared(self, rootfs: str, cause: Cause) -> None:
        self._do(Command.MARK_PREPARED, cause, rootfs=rootfs)

    def mark_prepare_failed(self, reason: str, cause: Cause) -> None:
        self._do(Command.MARK_PREPARE_FAILED, cause, reason=reason)

    def mark_started(self, pid: int, started_at: datetime, cause: Cause) -> None:
        self._do(Command.MARK_STARTED, cause, pid=pid, started_at=started_at)

    def mark_start_failed(self, reason: str, exit_code: int, cause: Cause) -> None:
        self._do(Command.MARK_START_FAILED, cause, reason=reason, exit_code=exit_code)

    def mark_exited(
        self, exit_code: int, oom_killed: bool, finished_at: datetime, cause: Cause
    ) -> None:
        self._do(
            Command.MARK_EXITED,
            cause,
            exit_code=exit_code,
            oom_killed=oom_killed,
            finished_at=finished_at,
        )

    def mark_exit_unknown(self, reason: str, finished_at: datetime, cause: Cause) -> None:
        self._do(
            Command.MARK_EXIT_UNKNOWN,
            cause,
            reason=reason,
            finished_at=finished_at,
        )

    @property
    def endpoint(self) -> dict[str, Any] | None:
        """The endpoint `NetworkConnected` recorded until disconnected (older snapshots: none)."""
        found: dict[str, Any] | None = getattr(self, "network", None)
        return found

    def mark_network_connected(
        self, network_id: str, network_name: str, endpoint: dict[str, Any], cause: Cause
    ) -> None:
        current = self.endpoint
        if self.check(Command.MARK_NETWORK_CONNECTED) and current is not None:
            raise NotModified("already recorded")
        self._do(
            Command.MARK_NETWORK_CONNECTED,
            cause,
            network_id=network_id,
            network_name=network_name,
            endpoint=endpoint,
        )

    def mark_network_disconnected(self, cause: Cause) -> None:
        current = self.endpoint
        if not self.check(Command.MARK_NETWORK_DISCONNECTED) or current is None:
            raise NotModified("already recorded")
        self._do(
            Command.MARK_NETWORK_DISCONNECTED,
            cause,
            network_id=current["id"],
        )

    def schedule_restart(self, delay_ms: int, cause: Cause) -> None:
        self._do(
            Command.SCHEDULE_RESTART,
            cause,
            delay_ms=delay_ms,
            restart_count=self.restart_count + 1,
        )

    def mark_removed(self, cause: Cause) -> None:
        self._do(Command.MARK_REMOVED, cause)
