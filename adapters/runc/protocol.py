"""What the service may rely on from a container runtime: the `ContainerRuntime` Protocol.

A container is created from a bundle (an OCI `config.json` and its rootfs) under a
monitor: a process of its own that holds the container's output and writes its exit
status, and that outlives the engine. The real one is runc under conmon (runtime.py,
ADR/0008); tests/fakes/runtime.py keeps the same promises in memory, and
tests/contracts/test_runtime_contract.py holds both to them.

Container ids are opaque to the runtime: any non-empty name without "/" that is not "."
or ".."; another is `InvalidParameter`.

`ContainerExecs` is what the service relies on for one container's execs (exec.py, ADR
0034); tests/adapters/test_runc_exec.py holds the real one to it (there is no fake).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from berth.domain.errors import BerthError

from .attach import NO_STDIN, Stdio, StdioStream

Status = Literal["created", "running", "paused", "stopped"]


class StartFailure(BerthError):
    """The runtime could not create or start the container; the message is its own (400),
    e.g. `exec: "x": executable file not found in $PATH`."""

    http_status = 400


class MonitorLost(BerthError):
    """The monitor is gone and left no exit status: the exit code is unknowable."""

    http_status = 500


@dataclass(frozen=True, slots=True)
class RuncState:
    """The OCI runtime's view of one container's process (`runc state`)."""

    id: str
    status: Status
    pid: int
    #: Field 22 of /proc/<pid>/stat (clock ticks after boot); None if the pid is gone.
    start_time: int | None
    bundle: str


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a container's init process ended, as its monitor recorded it."""

    exit_code: int  # WEXITSTATUS, or 128 + the signal that killed it
    finished_at: datetime
    oom_killed: bool


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """A command run in a container and waited for (a health probe)."""

    exit_code: int | None  # None: it ran past its timeout and was killed
    output: bytes  # stdout and stderr as written, cut to what was asked for


class ContainerRuntime(Protocol):
    """Containers under one monitor each. Every action is idempotent: repeating it after
    a crash, or after it succeeded, is harmless.

    After the engine dies, everything here survives it: a created or running container
    keeps its monitor, a container that exits meanwhile has its exit status kept until
    `delete`, and a new engine on the same state finds both.
    """

    #: The cgroup under which each monitor gets one of its own (`conmon-<id>`), or None
    #: when monitors stay in the engine's cgroup; reconcile sweeps these.
    monitor_cgroup_parent: str | None

    async def create(
        self,
        container_id: str,
        bundle: Path,
        log_path: Path | None,
        log_size_max: int | None = None,
        stdio: Stdio = NO_STDIN,
        runtime: str | None = None,
    ) -> int:
        """Start the container's monitor, which creates the container (its init waits
        for `start`) with the OCI runtime named `runtime` (None: the default); answer the
        init's pid. Every later call on the container uses the runtime that created it,
        also after the engine restarts.

        Idempotent: a container already created under a live monitor answers its pid;
        one whose monitor is gone is deleted and created again. On failure nothing is
        left behind (no runtime state, no monitor, no monitor files in the bundle) and
        `StartFailure` carries the runtime's message. A disk with no space for the
        monitor's files is the `OSError` (ENOSPC) itself, and may leave the monitor's
        directory behind (`knows` says so, `delete` removes it). The output goes to
        `log_path` (created if missing), or nowhere with None (the `none` log driver);
        with `log_size_max`, the log starts again empty whenever it would pass that size.
        `stdio` says whether the monitor gives the process a terminal or a stdin
        (attach.py), which `attach` reaches while it runs.
        """
        ...

    async def start(self, container_id: str) -> None:
        """Run the created container's process. A container already running or paused is
        fine. `NotFound` if the runtime does not know it, `Conflict` if it has stopped,
        `StartFailure` with the runtime's message otherwise."""
        ...

    async def kill(self, container_id: str, signal: str | int, all_processes: bool = False) -> None:
        """Send `signal` ("SIGTERM", "TERM", "15" or 15) to the init (or to every process
        of the container). A bad signal is `InvalidParameter`, before anything is sent;
        `NotFound` if the runtime does not know the container; `Conflict` if it has
        stopped."""
        ...

    async def probe(
        self, container_id: str, command: Sequence[str], timeout: float, keep: int
    ) -> ProbeOutcome:
        """Run `command` in the running container with its process's settings, stdin
        empty, and wait up to `timeout` s for it: its exit code (None after the timeout,
        when it is killed) and the first `keep` bytes of its stdout and stderr together.
        A command that cannot be run is an exit code with the runtime's message as
        output. `NotFound` if the runtime does not know the container, `Conflict` if it
        is not running."""
        ...

    async def pause(self, container_id: str) -> None:
        """Freeze every process of the container; a paused one is fine. `NotFound` if
        unknown, `Conflict` if it is neither running nor paused."""
        ...

    async def resume(self, container_id: str) -> None:
        """Thaw a paused container; a running one is fine. `NotFound` if unknown,
        `Conflict` if it is neither paused nor running."""
        ...

    async def update(self, container_id: str, resources: Mapping[str, Any]) -> None:
        """Set the cgroup limits of a running or paused container to the OCI
        `linux.resources` given (memory, cpu, pids, blockIO; others are left as they
        are). `NotFound` if unknown, `Conflict` if it has stopped; the kernel's refusal
        (a memory limit below what is in use) is a BerthError with runc's words."""
        ...

    async def delete(self, container_id: str, force: bool = False) -> None:
        """Delete the container (with `force`, killing it first), wait for its monitor to
        flush the log and exit (killing a monitor that hangs), and remove the monitor's
        files, its exit status included. A container the runtime does not know is fine;
        without `force`, a running or paused one is a `Conflict` and is left as it is."""
        ...

    def paused(self, container_id: str) -> bool:
        """Whether the container's processes are frozen (`pause`); False for one that is
        not running or unknown. Cheaper than `state`: no runtime process."""
        ...

    async def state(self, container_id: str) -> RuncState | None:
        """The runtime's view of the container, or None if it does not know it. A
        container whose process has exited is `stopped` until it is deleted."""
        ...

    def exit_status(self, container_id: str) -> ExitStatus | None:
        """The exit the monitor recorded, or None if the process has not exited (or the
        container is unknown, or deleted). Kept across engine restarts until `delete`."""
        ...

    async def wait_exited(self, container_id: str) -> ExitStatus:
        """Block until the process has exited and its monitor has finished the log; the
        exit status. `MonitorLost` if the monitor is gone without having written one
        (also for a container the runtime does not know)."""
        ...

    def monitor_pid(self, container_id: str) -> int | None:
        """The pid of the container's live monitor, or None (a reused pid is never taken
        for it)."""
        ...

    async def wait_process_gone(self, container_id: str) -> None:
        """For a container whose monitor is lost: until its init process is gone (at once
        if it is not running). Nothing records its exit status then."""
        ...

    def knows(self, container_id: str) -> bool:
        """Whether the runtime holds anything of the container: its state or its monitor's
        files (a container deleted, or never created, has neither)."""
        ...

    def container_ids(self) -> set[str]:
        """The ids of every container the runtime holds anything of (see `knows`)."""
        ...


@dataclass
class ExecProcess:
    """A started exec: its pid and, when attached, its stdio."""

    pid: int
    attach: StdioStream | None


class ContainerExecs(Protocol):
    """The execs of one container, each under a monitor of its own that outlives the
    engine (ADR/0034). Exec ids are opaque, as container ids are."""

    async def start(
        self,
        exec_id: str,
        process: dict[str, Any],
        *,
        stdin: bool,
        attach: bool,
        console_size: tuple[int, int] | None = None,
    ) -> ExecProcess:
        """Run the OCI `process` in the container; its pid and, with `attach`, its stdio,
        connected before the process runs. `StartFailure` with the
        runtime's message, leaving nothing behind."""
        ...

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        """The exec's terminal size; nothing once it has ended."""
        ...

    def exit_status(self, exec_id: str) -> ExitStatus | None:
        """The exit its monitor recorded (kept across engine restarts until
        `remove_files`), or None."""
        ...

    async def wait_exited(self, exec_id: str) -> ExitStatus:
        """Until the process has exited; `MonitorLost` if its monitor left no status."""
        ...

    def pid(self, exec_id: str) -> int | None:
        """The exec's live monitor, or None."""
        ...

    async def remove_files(self, exec_id: str) -> None:
        """The monitor's files and cgroups, once it has exited."""
        ...

    def exec_ids(self) -> list[str]:
        """The execs whose monitor's files are there."""
        ...
