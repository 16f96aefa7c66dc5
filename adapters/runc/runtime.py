"""runc driven through conmon: the real `ContainerRuntime` (protocol.py, ADR/0008).

Layout under `state_dir` (every directory 0700):

    runc/, crun/          each runtime's `--root` (its own state per container)
    monitor/<id>/         one per container, removed by `delete`
        runtime           the name of the runtime that created the container (ADR/0040)
        conmon.pid        pid of the daemonised conmon (written by conmon's first parent)
        pid               the container's init pid (runc `--pid-file`)
        bundle            the bundle path, so `delete` can remove conmon's files from it
        exits/<id>        the exit code, written atomically by conmon when the init exits
        persist/          conmon's persist dir: `exit` and `oom` (present if OOM-killed)
        sock/             conmon's attach socket directory (a symlink to the bundle)
        runc.log          runc's JSON log (`--log-format=json`), read on create failure
        conmon.err        conmon's stderr before it daemonises
        cgroups           the cgroup directories conmon was moved into, removed by `delete`

The runc commands are commands.py's, the monitor's spawning, waiting and exit status
monitor.py's; this module decides what each verb does with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from signal import SIGKILL
from typing import Any

import trio

from berth.adapters import cgroups
from berth.adapters.logs import start_log
from berth.adapters.private_files import write_private
from berth.adapters.processes import signal_child, wait_process_gone
from berth.domain import signals
from berth.domain.errors import BerthError, Conflict, InvalidParameter, NotFound

from .attach import NO_STDIN, Stdio
from .backends import PRECOMPILED_SECCOMP
from .commands import Runc, runc_message
from .exec import ExecMonitors
from .exec_fifo import EXEC_FIFO, start_by_fifo
from .messages import bundle_executable, docker_words
from .monitor import Monitors, ensure_private_dir
from .probe import run_probe
from .protocol import ExitStatus, ProbeOutcome, RuncState, StartFailure, Status
from .seccomp_bundle import SeccompCache

#: The cgroup under which each monitor gets its own (`conmon-<id>`); the containers' own
#: cgroups are `/berth/<id>` (domain.spec.HostFacts.cgroup_parent).
MONITOR_CGROUP_PARENT = "/berth"
#: The runtime runc-only engines used (their containers carry no RUNTIME_FILE).
LEGACY_RUNTIME = "runc"
#: Beside each monitor: the name of the runtime that created the container.
RUNTIME_FILE = "runtime"
#: `runc update`'s flag for each OCI `linux.resources` value it can change.
UPDATE_FLAGS = {
    ("memory", "limit"): "memory",
    ("memory", "swap"): "memory-swap",
    ("memory", "reservation"): "memory-reservation",
    ("cpu", "shares"): "cpu-share",
    ("cpu", "period"): "cpu-period",
    ("cpu", "quota"): "cpu-quota",
    ("cpu", "realtimePeriod"): "cpu-rt-period",
    ("cpu", "realtimeRuntime"): "cpu-rt-runtime",
    ("cpu", "cpus"): "cpuset-cpus",
    ("cpu", "mems"): "cpuset-mems",
    ("pids", "limit"): "pids-limit",
    ("blockIO", "weight"): "blkio-weight",
}


def parse_signal(sig: str | int) -> int:
    """ "SIGTERM", "TERM", "term", "9" or 9 → the signal number (domain.signals' rules)."""
    return signals.parse_signal(str(sig))


class Runtime:
    """Containers run by runc under one conmon each; every action is idempotent."""

    def __init__(
        self,
        state_dir: Path,
        runc: str = "runc",
        conmon: str = "conmon",
        *,
        monitor_cgroup_parent: str | None = MONITOR_CGROUP_PARENT,
        runtimes: Mapping[str, str] | None = None,
        default_runtime: str = LEGACY_RUNTIME,
    ) -> None:
        self.state_dir = Path(state_dir)
        # Each runtime keeps its state under a root of its own, named after it.
        binaries = dict(runtimes) if runtimes is not None else {LEGACY_RUNTIME: runc}
        self.clis = {name: Runc(binary, self.state_dir / name) for name, binary in binaries.items()}
        if default_runtime not in self.clis:
            raise InvalidParameter(f"unknown or invalid runtime name: {default_runtime}")
        self.default_runtime = default_runtime
        self.monitors = Monitors(conmon, self.state_dir / "monitor", monitor_cgroup_parent)
        self.monitor_cgroup_parent = self.monitors.cgroup_parent
        self.seccomp = SeccompCache(self.state_dir / "seccomp")

    def runtime_of(self, container_id: str) -> str:
        """The runtime that created the container: recorded beside its monitor, else the
        one whose root holds it; a container from before the record was kept is runc's,
        one unknown the default's."""
        try:
            return (self.monitors.dir(container_id) / RUNTIME_FILE).read_text().strip()
        except FileNotFoundError:
            pass
        known = [name for name, cli in self.clis.items() if cli.knows(container_id)]
        if known:
            return known[0]
        return LEGACY_RUNTIME if self.monitors.dir(container_id).exists() else self.default_runtime

    def cli(self, container_id: str) -> Runc:
        """The command line of the runtime that created the container."""
        name = self.runtime_of(container_id)
        found = self.clis.get(name)
        if found is None:
            raise BerthError(f"container {container_id} was created by {name}, not available")
        return found

    # -- what there is ---------------------------------------------------------------------

    def knows(self, container_id: str) -> bool:
        return self.monitors.dir(container_id).exists() or any(
            cli.knows(container_id) for cli in self.clis.values()
        )

    def container_ids(self) -> set[str]:
        roots = [cli.root for cli in self.clis.values()] + [self.monitors.root]
        return {p.name for d in roots for p in _children(d)}

    async def state(self, container_id: str) -> RuncState | None:
        """runc's view of the container, or None if runc does not know it."""
        self.monitors.dir(container_id)  # checks the id
        return await self.cli(container_id).state(container_id)

    def monitor_pid(self, container_id: str) -> int | None:
        return self.monitors.pid(container_id)

    def exit_status(self, container_id: str) -> ExitStatus | None:
        return self.monitors.exit_status(container_id)

    async def wait_exited(self, container_id: str) -> ExitStatus:
        return await self.monitors.wait_exited(container_id)

    async def wait_process_gone(self, container_id: str) -> None:
        state = await self.state(container_id)
        if state is not None and state.status in ("running", "paused") and state.pid > 0:
            await wait_process_gone(state.pid, state.start_time)

    def execs(self, container_id: str) -> ExecMonitors:
        """The monitors of the container's execs."""
        return ExecMonitors(self.monitors, self.cli(container_id), container_id)

    # -- create ----------------------------------------------------------------------------

    async def create(
        self,
        container_id: str,
        bundle: Path,
        log_path: Path | None,
        log_size_max: int | None = None,
        stdio: Stdio = NO_STDIN,
        runtime: str | None = None,
    ) -> int:
        """Spawn conmon, which runs `<runtime> create`; return the container's init pid.

        Idempotent: a container already created under a live monitor returns its pid.
        On failure nothing is left behind and StartFailure carries runc's message.
        With `log_size_max`, the log starts again empty whenever it would pass that size.
        """
        mdir = self.monitors.dir(container_id)
        name = runtime or self.default_runtime
        if name not in self.clis:
            raise StartFailure(f"unknown or invalid runtime name: {name}")
        known = self.cli(container_id).knows(container_id)
        existing = await self.state(container_id) if known else None
        if existing is not None:
            if existing.status != "stopped" and self.monitor_pid(container_id) is not None:
                return existing.pid
            await self.delete(container_id, force=True)
        elif mdir.exists():
            await self.monitors.remove_files(container_id)

        bundle = Path(bundle).resolve()
        ensure_private_dir(self.state_dir)
        runc = self.clis[name]
        ensure_private_dir(runc.root)
        if name in PRECOMPILED_SECCOMP:
            await trio.to_thread.run_sync(self.seccomp.annotate_bundle, bundle)
        self.monitors.prepare_dir(container_id, bundle)
        write_private(mdir / RUNTIME_FILE, name)
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            await trio.to_thread.run_sync(start_log, log_path, log_size_max)
        args = self.monitors.conmon_args(container_id, bundle, log_path, runc)
        if log_size_max is not None and log_path is not None:
            args += ["--log-size-max", str(log_size_max)]
        args += stdio.conmon_args()

        try:
            return await self.monitors.spawn(container_id, args)
        except StartFailure as failed:
            with trio.CancelScope(shield=True):
                await self._undo_create(runc, container_id)
            raise StartFailure(docker_words(failed.message, bundle_executable(bundle))) from None
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._undo_create(runc, container_id)
            raise

    async def _undo_create(self, runc: Runc, container_id: str) -> None:
        await runc.run("delete", "--force", container_id)
        await self.monitors.stop(container_id)
        await self.monitors.remove_files(container_id)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, container_id: str) -> None:
        """Through the exec fifo (exec_fifo.py), else the runtime's `start`; a container
        already running (or paused) is fine."""
        cli = self.cli(container_id)
        init_pid = self.monitors.init_pid(container_id)
        if await start_by_fifo(cli.root / container_id / EXEC_FIFO, init_pid):
            return
        code, _, err = await cli.run("start", container_id)
        if code == 0:
            return
        current = await self._known_state(container_id)
        if current.status in ("running", "paused"):
            return
        message = runc_message(err)
        if current.status == "stopped":
            raise Conflict(f"container {container_id} has stopped: {message}")
        raise StartFailure(message)

    async def kill(self, container_id: str, signal: str | int, all_processes: bool = False) -> None:
        number = parse_signal(signal)
        if not all_processes and self._signal_init(container_id, number):
            if number == SIGKILL:
                await self._thaw_killed(container_id)
            return
        args = ["kill", *(["--all"] if all_processes else []), container_id, str(number)]
        code, _, err = await self.cli(container_id).run(*args)
        if code == 0:
            if number == SIGKILL:
                await self._thaw_killed(container_id)
            return
        current = await self._known_state(container_id)
        if current.status == "stopped":
            raise Conflict(f"Container {container_id} is not running")
        raise BerthError(f"runc kill {container_id}: {runc_message(err)}")

    def _signal_init(self, container_id: str, number: int) -> bool:
        """The signal straight to the container's init, as the runtime's `kill` sends it,
        without a runtime process (two to three per stop otherwise: `state`, `kill`,
        `state`); False when the init is not a live child of the container's monitor
        (gone, a zombie, no monitor), for the runtime to say why."""
        init_pid = self.monitors.init_pid(container_id)
        monitor = self.monitors.pid(container_id)
        if init_pid is None or monitor is None:
            return False
        return signal_child(init_pid, monitor, number)

    def paused(self, container_id: str) -> bool:
        init_pid = self.monitors.init_pid(container_id)
        return init_pid is not None and cgroups.frozen(init_pid)

    async def _thaw_killed(self, container_id: str) -> None:
        # A frozen process dies of SIGKILL only once thawed: runc thaws it itself, crun
        # does not, nor does a signal sent without the runtime.
        if self.paused(container_id):
            await self.cli(container_id).run("resume", container_id)

    async def probe(
        self, container_id: str, command: Sequence[str], timeout: float, keep: int
    ) -> ProbeOutcome:
        current = await self._known_state(container_id)
        if current.status != "running":
            raise Conflict(f"Container {container_id} is {current.status}")
        pid_file = self.monitors.dir(container_id) / "probe.pid"
        return await run_probe(
            self.cli(container_id), container_id, command, timeout, pid_file, keep
        )

    async def pause(self, container_id: str) -> None:
        await self._freeze(container_id, "pause", "paused")

    async def resume(self, container_id: str) -> None:
        await self._freeze(container_id, "resume", "running")

    async def _freeze(self, container_id: str, verb: str, target: Status) -> None:
        code, _, err = await self.cli(container_id).run(verb, container_id)
        if code == 0:
            return
        current = await self._known_state(container_id)
        if current.status == target:
            return
        raise Conflict(f"Container {container_id} is {current.status}: {runc_message(err)}")

    async def update(self, container_id: str, resources: Mapping[str, Any]) -> None:
        flags = [
            f"--{flag}={resources[group][key]}"
            for (group, key), flag in UPDATE_FLAGS.items()
            if key in (resources.get(group) or {})
        ]
        runc = self.cli(container_id)
        if self.runtime_of(container_id) != LEGACY_RUNTIME:
            # crun updates the cgroup of a stopped container without a word; runc refuses.
            await self._refuse_stopped(container_id)
        code, _, err = await runc.run("update", *flags, container_id)
        if code == 0:
            return
        await self._refuse_stopped(container_id)
        raise BerthError(runc_message(err))

    async def _refuse_stopped(self, container_id: str) -> None:
        current = await self._known_state(container_id)
        if current.status == "stopped":
            raise Conflict(f"Container {container_id} is not running")

    async def _known_state(self, container_id: str) -> RuncState:
        """After a runc command failed: the state, or NotFound if runc does not know it."""
        current = await self.state(container_id)
        if current is None:
            raise NotFound(f"No such container: {container_id}")
        return current

    async def delete(self, container_id: str, force: bool = False) -> None:
        """`runc delete`, then wait for the monitor and remove its files.

        A missing container is fine. Without force a running container is a Conflict.
        """
        mdir = self.monitors.dir(container_id)
        runc = self.cli(container_id)
        if not runc.knows(container_id):
            # Nothing for `runc delete` to do, and a process spawn is saved.
            if mdir.exists():
                await self.monitors.stop(container_id)
                await self.monitors.remove_files(container_id)
            return
        args = ["delete", *(["--force"] if force else []), container_id]
        code, _, err = await runc.run(*args)
        if code != 0 and await self.state(container_id) is not None:
            raise Conflict(f"cannot delete container {container_id}: {runc_message(err)}")
        await self.monitors.stop(container_id)
        await self.monitors.remove_files(container_id)


def _children(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []
