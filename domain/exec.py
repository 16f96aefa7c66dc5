"""The Exec aggregate: one `docker exec` instance in a running container (ADR/0034).

An exec is its own small stream, not part of the container's: a container may have many,
each with its intent (`StartRequested`) and outcomes (`Started(pid)` or `StartFailed`,
then `Exited(code)`) recorded separately, so an engine that died between them finds the
intent in the log and the exit code in the exec's monitor. Docker's rules are dockerd
20.10's (daemon/exec.go): a create body without a command is refused, an exec runs once,
and one that cannot start ends with exit code 126.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .aggregate import CreatedEvent, DomainEvent, StrIdAggregate
from .cause import Cause
from .container import ContainerState
from .detach_keys import parse_detach_keys
from .errors import Conflict, InvalidParameter, NotFound, NotModified

T = "berth.exec"
#: dockerd's exit code for an exec whose process could not be started (20.10 sets it for
#: every start failure, a missing binary included: ContainerExecStart's deferred handler).
START_FAILED_EXIT_CODE = 126


def check_can_exec(state: ContainerState, container_id: str, ref: str) -> None:
    """dockerd's getActiveContainer: 409 unless the container runs (a stop in flight
    still runs), in its words: the paused one names the container as the client did."""
    if state is ContainerState.PAUSED:
        raise Conflict(f"Container {ref} is paused, unpause the container before exec")
    if state is ContainerState.RESTARTING:
        raise Conflict(
            f"Container {container_id} is restarting, wait until the container is running"
        )
    if state not in (ContainerState.RUNNING, ContainerState.STOPPING):
        raise Conflict(f"Container {container_id} is not running")


def event_command(entrypoint: str, arguments: Sequence[str]) -> str:
    """What dockerd's `exec_create: ...`/`exec_start: ...` events name (its trailing space
    without arguments included)."""
    return f"{entrypoint} {' '.join(arguments)}"


def no_such_exec(exec_id: str) -> NotFound:
    return NotFound(f"No such exec instance: {exec_id}")


def _strings(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(
            f"json: cannot unmarshal {type(value).__name__} into Go struct field "
            f"ExecConfig.{name} of type []string"
        )
    return list(value)


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(
            f"json: cannot unmarshal {type(value).__name__} into Go struct field "
            f"ExecConfig.{name} of type string"
        )
    return value


def _flag(name: str, value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParameter(
            f"json: cannot unmarshal {type(value).__name__} into Go struct field "
            f"ExecConfig.{name} of type bool"
        )
    return value


def _console_size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise InvalidParameter("json: cannot unmarshal ConsoleSize: want [height, width]")
    height, width = value
    return (height, width) if height or width else None


def exec_detach_keys(keys: str) -> bytes:
    """An exec's DetachKeys as bytes (the default when empty), or dockerd's exec 400."""
    try:
        return parse_detach_keys(keys)
    except InvalidParameter:
        raise InvalidParameter(f"Invalid escape keys ({keys}) provided") from None


@dataclass(frozen=True)
class ExecSettings:
    """`POST /containers/{id}/exec`'s body (types.ExecConfig), checked as dockerd does."""

    cmd: tuple[str, ...]
    user: str = ""
    working_dir: str = ""
    env: tuple[str, ...] = ()
    privileged: bool = False
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    console_size: tuple[int, int] | None = None

    @classmethod
    def from_docker(cls, body: Any) -> ExecSettings:
        if not isinstance(body, Mapping):
            raise InvalidParameter("json: cannot unmarshal into Go value of type types.ExecConfig")

        def get(name: str) -> Any:
            # Go's encoding/json: an exact key first, else one that differs in case only
            # (docker-py sends `detachKeys`).
            if name in body:
                return body[name]
            return next((v for k, v in body.items() if k.lower() == name.lower()), None)

        cmd = _strings("Cmd", get("Cmd"))
        if not cmd:
            raise InvalidParameter("No exec command specified")
        keys = _text("DetachKeys", get("DetachKeys"))
        exec_detach_keys(keys)
        return cls(
            cmd=tuple(cmd),
            user=_text("User", get("User")),
            working_dir=_text("WorkingDir", get("WorkingDir")),
            env=tuple(_strings("Env", get("Env"))),
            privileged=_flag("Privileged", get("Privileged")),
            tty=_flag("Tty", get("Tty")),
            attach_stdin=_flag("AttachStdin", get("AttachStdin")),
            attach_stdout=_flag("AttachStdout", get("AttachStdout")),
            attach_stderr=_flag("AttachStderr", get("AttachStderr")),
            detach_keys=keys,
            console_size=_console_size(get("ConsoleSize")),
        )


class Exec(StrIdAggregate):
    TOPIC = T

    @dataclass(frozen=True)
    class Event(DomainEvent):
        TOPIC = f"{T}.Event"

    @dataclass(frozen=True)
    class Created(Event, CreatedEvent):
        """The instance, with the container's user and working dir filled in as dockerd."""

        TOPIC = f"{T}.Created"
        container_id: str
        entrypoint: str
        arguments: list[str]
        user: str
        working_dir: str
        env: list[str]
        privileged: bool
        tty: bool
        open_stdin: bool
        open_stdout: bool
        open_stderr: bool
        detach_keys: str
        console_size: list[int] | None

        def apply(self, e: Exec) -> None:
            for name in self.__dataclass_fields__:
                if name not in DomainEvent.__dataclass_fields__ and name != "originator_topic":
                    setattr(e, name, getattr(self, name))
            e.start_requested = False
            e.running = False
            e.pid = 0
            e.exit_code = None
            e.failure = ""

    @dataclass(frozen=True)
    class StartRequested(Event):
        TOPIC = f"{T}.StartRequested"
        detach: bool

        def apply(self, e: Exec) -> None:
            e.start_requested = True

    @dataclass(frozen=True)
    class Started(Event):
        TOPIC = f"{T}.Started"
        pid: int

        def apply(self, e: Exec) -> None:
            e.running = True
            e.pid = self.pid

    @dataclass(frozen=True)
    class StartFailed(Event):
        TOPIC = f"{T}.StartFailed"
        message: str
        exit_code: int

        def apply(self, e: Exec) -> None:
            e.running = False
            e.exit_code = self.exit_code
            e.failure = self.message

    @dataclass(frozen=True)
    class Detached(Event):
        """The client typed the detach keys: its stream ended, the process runs on."""

        TOPIC = f"{T}.Detached"

        def apply(self, e: Exec) -> None:
            pass

    @dataclass(frozen=True)
    class Exited(Event):
        TOPIC = f"{T}.Exited"
        exit_code: int

        def apply(self, e: Exec) -> None:
            e.running = False
            e.exit_code = self.exit_code

    if TYPE_CHECKING:
        container_id: str
        entrypoint: str
        arguments: list[str]
        user: str
        working_dir: str
        env: list[str]
        privileged: bool
        tty: bool
        open_stdin: bool
        open_stdout: bool
        open_stderr: bool
        detach_keys: str
        console_size: list[int] | None
        start_requested: bool
        running: bool
        pid: int
        exit_code: int | None
        failure: str

    # Commands ----------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        exec_id: str,
        container_id: str,
        settings: ExecSettings,
        container_user: str,
        container_working_dir: str,
        cause: Cause,
    ) -> Exec:
        """A new instance; an empty User or WorkingDir is the container's (as dockerd)."""
        exec_: Exec = cls._start(
            exec_id,
            cls.Created,
            cause,
            container_id=container_id,
            entrypoint=settings.cmd[0],
            arguments=list(settings.cmd[1:]),
            user=settings.user or container_user,
            working_dir=settings.working_dir or container_working_dir,
            env=list(settings.env),
            privileged=settings.privileged,
            tty=settings.tty,
            open_stdin=settings.attach_stdin,
            open_stdout=settings.attach_stdout,
            open_stderr=settings.attach_stderr,
            detach_keys=settings.detach_keys,
            console_size=list(settings.console_size) if settings.console_size else None,
        )
        return exec_

    def request_start(self, detach: bool, cause: Cause) -> None:
        """dockerd's 409s for an instance that has run or runs."""
        if self.exit_code is not None:
            raise Conflict(f"Error: Exec command {self.id} has already run")
        if self.start_requested:
            raise Conflict(f"Error: Exec command {self.id} is already running")
        self._record(self.StartRequested, cause, detach=detach)

    def mark_started(self, pid: int, cause: Cause) -> None:
        if self.running or self.exit_code is not None:
            raise NotModified("exec already started")
        self._record(self.Started, cause, pid=pid)

    def mark_start_failed(self, message: str, cause: Cause) -> None:
        if self.exit_code is not None:
            raise NotModified("exec already ended")
        self._record(self.StartFailed, cause, message=message, exit_code=START_FAILED_EXIT_CODE)

    def mark_detached(self, cause: Cause) -> None:
        self._record(self.Detached, cause)

    def mark_exited(self, exit_code: int, cause: Cause) -> None:
        if self.exit_code is not None:
            raise NotModified("exec already ended")
        self._record(self.Exited, cause, exit_code=exit_code)

    # Queries -----------------------------------------------------------------------------

    @property
    def in_flight(self) -> bool:
        """Started (or asked to) and not yet ended: the monitor may still run it."""
        return self.start_requested and self.exit_code is None

    def inspect(self) -> dict[str, Any]:
        """`GET /exec/{id}/json` (backend.ExecInspect)."""
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.entrypoint,
                "arguments": list(self.arguments),
                "privileged": self.privileged,
                **({"user": self.user} if self.user else {}),
            },
            "OpenStdin": self.open_stdin,
            "OpenStderr": self.open_stderr,
            "OpenStdout": self.open_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            # Go encodes the []byte in base64.
            "DetachKeys": base64.b64encode(exec_detach_keys(self.detach_keys)).decode()
            if self.detach_keys
            else "",
            "Pid": self.pid,
        }


def exec_env(container_env: Sequence[str], exec_env_: Sequence[str], tty: bool) -> list[str]:
    """The exec's environment: the container's (with TERM=xterm when a tty is asked and
    the container has no TERM, as CreateDaemonEnvironment), then the exec's own
    replacing or appending by name (ReplaceOrAppendEnvValues)."""
    by_name = {entry.partition("=")[0]: entry for entry in container_env}
    if tty:
        by_name.setdefault("TERM", "TERM=xterm")
    for entry in exec_env_:
        by_name[entry.partition("=")[0]] = entry
    return list(by_name.values())
