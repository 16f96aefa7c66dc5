"""An in-memory `ContainerRuntime`: processes that run until a signal or a test ends them.

What a container does once started comes from its command, as with runc: `true` exits 0,
`false` 1, `sh -c "exit N"` N; a `trap "exit N" SIGNAL` in a shell script makes it end
with N on that signal. Anything else runs until it is killed: like any pid 1 of a pid
namespace, it ignores every signal it has no handler for, SIGKILL excepted. A command
the bundle's root filesystem does not have fails `create` with runc's message.

A test ends a process with `exit()`, kills its monitor with `lose_monitor()`, writes its
output with `output()` (into a FakeLogs), and arranges any failure with `faults` (with
`faults.disk_full`, `create` fails as a write of the monitor's files would: ENOSPC).
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import signal as signals
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from berth.adapters.logs import Stream
from berth.adapters.runc import (
    NO_STDIN,
    ExitStatus,
    MonitorLost,
    ProbeOutcome,
    RuncState,
    StartFailure,
    Status,
    Stdio,
    parse_signal,
)
from berth.domain.errors import Conflict, InvalidParameter, NotFound

from .faults import Faults
from .logs import FakeLogs

NOT_FOUND = 'runc create failed: unable to start container process: exec: "{}": {}'
_TRAP = re.compile(r"""trap\s+["']exit\s+(\d+)["']\s+(\w+)""")


@dataclass
class Program:
    """How a process behaves: its exit as soon as it starts, or the signals it handles."""

    exit_code: int | None = None
    handled: dict[int, int] = field(default_factory=dict)  # signal → the exit code


def scripted(args: list[str]) -> Program:
    """The behaviour of the few commands tests use (see the module's docstring)."""
    if args in (["true"], ["/bin/true"]):
        return Program(exit_code=0)
    if args in (["false"], ["/bin/false"]):
        return Program(exit_code=1)
    script = args[2] if len(args) == 3 and args[0] in ("sh", "/bin/sh") and args[1] == "-c" else ""
    if match := re.fullmatch(r"\s*exit\s+(\d+)\s*", script):
        return Program(exit_code=int(match.group(1)))
    handled = {parse_signal(name): int(code) for code, name in _TRAP.findall(script)}
    return Program(handled=handled)


@dataclass
class _Container:
    id: str
    bundle: Path
    log_path: Path | None
    pid: int
    monitor: int | None
    program: Program
    status: Status = "created"
    exit: ExitStatus | None = None
    pending: list[int] = field(default_factory=list)  # signals held while it is frozen
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # set by update
    runtime: str = "runc"  # the OCI runtime that created it


class FakeRuntime:
    monitor_cgroup_parent: str | None = None
    #: The OCI runtimes this fake pretends to have; the first is the default.
    runtimes: tuple[str, ...] = ("runc", "crun")

    def __init__(
        self,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        behaviour: Callable[[list[str]], Program] = scripted,
        logs: FakeLogs | None = None,
    ) -> None:
        self.clock = clock
        self.behaviour = behaviour
        self.logs = logs
        self.faults = Faults()
        self.containers: dict[str, _Container] = {}
        self.followed: set[str] = set()  # containers someone waits on in wait_process_gone
        self._pids = itertools.count(1000)
        self._changed = trio.Event()

    # -- what a test does -------------------------------------------------------------------

    def exit(self, container_id: str, code: int, *, oom: bool = False) -> None:
        """The container's process ends by itself with `code`."""
        container = self.containers[container_id]
        assert container.status in ("running", "paused"), container.status
        self._end(container, code, oom)

    def lose_monitor(self, container_id: str) -> None:
        """The monitor is killed behind the engine's back; the process runs on, and its
        exit will be recorded nowhere."""
        self.containers[container_id].monitor = None
        self._notify()

    def output(self, container_id: str, text: bytes, stream: Stream = "stdout") -> None:
        """The process writes a line."""
        assert self.logs is not None, "a FakeRuntime without logs"
        log_path = self.containers[container_id].log_path
        if log_path is not None:  # else the `none` driver: the output is kept nowhere
            self.logs.write(log_path, text, stream, self.clock())

    # -- the Protocol -------------------------------------------------------------------------

    async def create(
        self,
        container_id: str,
        bundle: Path,
        log_path: Path | None,
        log_size_max: int | None = None,
        stdio: Stdio = NO_STDIN,
        runtime: str | None = None,
    ) -> int:
        await self._enter("create", container_id)
        if runtime is not None and runtime not in self.runtimes:
            raise StartFailure(f"unknown or invalid runtime name: {runtime}")
        existing = self.containers.get(container_id)
        if existing is not None:
            if existing.status != "stopped" and existing.monitor is not None:
                return existing.pid
            await self.delete(container_id, force=True)
        if self.faults.disk_full:  # the monitor's files cannot be written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(log_path))
        args = _command(Path(bundle))
        pid = next(self._pids)
        self.containers[container_id] = _Container(
            container_id,
            Path(bundle),
            log_path and Path(log_path),
            pid,
            pid + 1,
            self.behaviour(args),
            runtime=runtime or self.runtimes[0],
        )
        next(self._pids)
        if self.logs is not None and log_path is not None:
            self.logs.start(Path(log_path), log_size_max)
        return pid

    async def start(self, container_id: str) -> None:
        container = await self._known("start", container_id)
        if container.status in ("running", "paused"):
            return
        if container.status == "stopped":
            raise Conflict(f"container {container_id} has stopped: container is stopped")
        container.status = "running"
        if container.program.exit_code is not None:
            self._end(container, container.program.exit_code)

    async def kill(self, container_id: str, signal: str | int, all_processes: bool = False) -> None:
        number = parse_signal(signal)
        container = await self._known("kill", container_id)
        if container.status == "stopped":
            raise Conflict(f"Container {container_id} is not running")
        if number == signals.SIGKILL:
            self._end(container, 128 + number)
        elif container.status == "paused":
            container.pending.append(number)
        elif number in container.program.handled:
            self._end(container, container.program.handled[number])

    async def probe(
        self, container_id: str, command: Sequence[str], timeout: float, keep: int
    ) -> ProbeOutcome:
        """As the container's own command would behave (`scripted`): its exit code at
        once, or, for one that runs until killed, None after `timeout`."""
        container = await self._known("probe", container_id)
        if container.status != "running":
            raise Conflict(f"Container {container_id} is {container.status}")
        program = self.behaviour(list(command))
        if program.exit_code is None:
            await trio.sleep(timeout)
        return ProbeOutcome(program.exit_code, b"")

    async def pause(self, container_id: str) -> None:
        container = await self._known("pause", container_id)
        if container.status not in ("running", "paused"):
            raise Conflict(f"Container {container_id} is {container.status}: not running")
        container.status = "paused"

    async def resume(self, container_id: str) -> None:
        container = await self._known("resume", container_id)
        if container.status not in ("running", "paused"):
            raise Conflict(f"Container {container_id} is {container.status}: not paused")
        container.status = "running"
        pending, container.pending = container.pending, []
        for number in pending:
            if container.status == "running" and number in container.program.handled:
                self._end(container, container.program.handled[number])

    async def update(self, container_id: str, resources: Mapping[str, Any]) -> None:
        container = await self._known("update", container_id)
        if container.status not in ("running", "paused"):
            raise Conflict(f"Container {container_id} is {container.status}: not running")
        for group, values in resources.items():
            container.resources.setdefault(group, {}).update(values)

    async def delete(self, container_id: str, force: bool = False) -> None:
        await self._enter("delete", container_id)
        container = self.containers.get(container_id)
        if container is None:
            return
        if container.status in ("running", "paused") and not force:
            raise Conflict(f"cannot delete container {container_id}: container is running")
        if container.status != "stopped":
            self._end(container, 128 + signals.SIGKILL)
        del self.containers[container_id]
        self._notify()

    def paused(self, container_id: str) -> bool:
        _check_id(container_id)
        return getattr(self.containers.get(container_id), "status", None) == "paused"

    async def state(self, container_id: str) -> RuncState | None:
        await self._enter("state", container_id)
        container = self.containers.get(container_id)
        if container is None:
            return None
        stopped = container.status == "stopped"
        return RuncState(
            id=container_id,
            status=container.status,
            pid=0 if stopped else container.pid,
            start_time=None if stopped else 1_000_000 + container.pid,
            bundle=str(container.bundle),
        )

    def exit_status(self, container_id: str) -> ExitStatus | None:
        _check_id(container_id)
        return getattr(self.containers.get(container_id), "exit", None)

    async def wait_exited(self, container_id: str) -> ExitStatus:
        await self._enter("wait_exited", container_id)
        # The container itself, not its id: a delete that kills it still lets a waiter
        # that was already waiting see the exit, as conmon's exit file would.
        container = self.containers.get(container_id)
        while True:
            if container is not None and container.exit is not None:
                return container.exit
            if container is None or container.monitor is None:
                raise MonitorLost(f"monitor of {container_id} is gone and left no exit status")
            await self._changed.wait()

    def monitor_pid(self, container_id: str) -> int | None:
        _check_id(container_id)
        return getattr(self.containers.get(container_id), "monitor", None)

    async def wait_process_gone(self, container_id: str) -> None:
        await self._enter("wait_process_gone", container_id)
        container = self.containers.get(container_id)
        self.followed.add(container_id)
        try:
            while container is not None and container.status in ("running", "paused"):
                await self._changed.wait()
        finally:
            self.followed.discard(container_id)

    def knows(self, container_id: str) -> bool:
        _check_id(container_id)
        return container_id in self.containers

    def container_ids(self) -> set[str]:
        return set(self.containers)

    # -- inside ---------------------------------------------------------------------------

    async def _enter(self, verb: str, container_id: str) -> None:
        _check_id(container_id)
        await trio.lowlevel.checkpoint()
        self.faults.check(verb)

    async def _known(self, verb: str, container_id: str) -> _Container:
        await self._enter(verb, container_id)
        container = self.containers.get(container_id)
        if container is None:
            raise NotFound(f"No such container: {container_id}")
        return container

    def _end(self, container: _Container, code: int, oom: bool = False) -> None:
        container.status = "stopped"
        container.pending.clear()
        if container.monitor is not None:  # the monitor writes the exit, then exits
            container.exit = ExitStatus(code, self.clock(), oom)
            container.monitor = None
        if self.logs is not None and container.log_path is not None:
            self.logs.close(container.log_path)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


def _check_id(container_id: str) -> None:
    if not container_id or "/" in container_id or container_id in (".", ".."):
        raise InvalidParameter(f"invalid container id: {container_id!r}")


def _command(bundle: Path) -> list[str]:
    """The bundle's command, if its root filesystem has the executable (as runc checks)."""
    config = json.loads((bundle / "config.json").read_text())
    args = [str(arg) for arg in config["process"]["args"]]
    root = bundle / config["root"]["path"]  # an absolute path stays as it is
    executable = args[0]
    if "/" in executable:
        if not os.path.lexists(root / executable.lstrip("/")):
            reason = f"stat {executable}: no such file or directory"
            raise StartFailure(NOT_FOUND.format(executable, reason))
        return args
    env = dict(e.partition("=")[::2] for e in config["process"].get("env", []))
    for directory in env.get("PATH", "").split(":"):
        if directory and os.path.lexists(root / directory.lstrip("/") / executable):
            return args
    raise StartFailure(NOT_FOUND.format(executable, "executable file not found in $PATH"))
