"""runc driven through conmon: the real `ContainerRuntime` (protocol.py, ADR/0008).

Layout under `state_dir` (every directory 0700):

    runc/                 runc's `--root` (its own state.json per container)
    monitor/<id>/         one per container, removed by `delete`
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
from typing import Any

import trio

from berth.adapters.logs import start_log
from berth.adapters.processes import wait_process_gone
from berth.domain import signals
from berth.domain.errors import BerthError, Conflict, NotFound

from .attach import NO_STDIN, Stdio
from .commands import Runc, runc_message
from .exec import ExecMonitors
from .exec_fifo import EXEC_FIFO, start_by_fifo
from .monitor import Monitors, ensure_private_dir
from .probe import run_probe
from .protocol import ExitStatus, ProbeOutcome, RuncState, StartFailure, Status

#: The cgroup under which each monitor gets its own (`conmon-<id>`); the containers' own
#: cgroups are `/berth/<id>` (domain.spec.HostFacts.cgroup_parent).
MONITOR_CGROUP_PARENT = "/berth"
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
    ) -> None:
        self.state_dir = Path(state_dir)
        self.runc = Runc(runc, self.state_dir / "runc")
        self.monitors = Monitors(conmon, self.state_dir / "monitor", monitor_cgroup_parent)
        self.monitor_cgroup_parent = self.monitors.cgroup_parent

    # -- what there is ---------------------------------------------------------------------

    def knows(self, container_id: str) -> bool:
        return self.runc.knows(container_id) or self.monitors.dir(container_id).exists()

    def container_ids(self) -> set[str]:
        return {p.name for d in (self.runc.root, self.monitors.root) for p in _children(d)}

    async def state(self, container_id: str) -> RuncState | None:
        """runc's view of the container, or None if runc does not know it."""
        self.monitors.dir(container_id)  # checks the id
        return await self.runc.state(container_id)

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
        return ExecMonitors(self.monitors, self.runc, container_id)

    # -- create ----------------------------------------------------------------------------

    async def create(
        self,
        container_id: str,
        bundle: Path,
        log_path: Path | None,
        log_size_max: int | None = None,
        stdio: Stdio = NO_STDIN,
    ) -> int:
        """Spawn conmon, which runs `runc create`; return the container's init pid.

        Idempotent: a container already created under a live monitor returns its pid.
        On failure nothing is left behind and StartFailure carries runc's message.
        With `log_size_max`, the log starts again empty whenever it would pass that size.
        """
        mdir = self.monitors.dir(container_id)
        existing = await self.state(container_id) if self.runc.knows(container_id) else None
        if existing is not None:
            if existing.status != "stopped" and self.monitor_pid(container_id) is not None:
                return existing.pid
            await self.delete(container_id, force=True)
        elif mdir.exists():
            await self.monitors.remove_files(container_id)

        bundle = Path(bundle).resolve()
        ensure_private_dir(self.state_dir)
        ensure_private_dir(self.runc.root)
        self.monitors.prepare_dir(container_id, bundle)
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            await trio.to_thread.run_sync(start_log, log_path, log_size_max)
        args = self.monitors.conmon_args(container_id, bundle, log_path, self.runc)
        if log_size_max is not None and log_path is not None:
            args += ["--log-size-max", str(log_size_max)]
        args += stdio.conmon_args()

        try:
            return await self.monitors.spawn(container_id, args)
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.runc.run("delete", "--force", container_id)
                await self.monitors.stop(container_id)
                await self.monitors.remove_files(container_id)
            raise

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, container_id: str) -> None:
        """Through the exec fifo (exec_fifo.py), else `runc start`; a container already
        running (or paused) is fine."""
        init_pid = self.monitors.init_pid(container_id)
        if await start_by_fifo(self.runc.root / container_id / EXEC_FIFO, init_pid):
            return
        code, _, err = await self.runc.run("start", container_id)
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
        args = ["kill", *(["--all"] if all_processes else []), container_id, str(number)]
        code, _, err = await self.runc.run(*args)
        if code == 0:
            return
        current = await self._known_state(container_id)
        if current.status == "stopped":
            raise Conflict(f"Container {container_id} is not running")
        raise BerthError(f"runc kill {container_id}: {runc_message(err)}")

    async def probe(
        self, container_id: str, command: Sequence[str], timeout: float, keep: int
    ) -> ProbeOutcome:
        current = await self._known_state(container_id)
        if current.status != "running":
            raise Conflict(f"Container {container_id} is {current.status}")
        pid_file = self.monitors.dir(container_id) / "probe.pid"
        return await run_probe(self.runc, container_id, command, timeout, pid_file, keep)

    async def pause(self, container_id: str) -> None:
        await self._freeze(container_id, "pause", "paused")

    async def resume(self, container_id: str) -> None:
        await self._freeze(container_id, "resume", "running")

    async def _freeze(self, container_id: str, verb: str, target: Status) -> None:
        code, _, err = await self.runc.run(verb, container_id)
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
        code, _, err = await self.runc.run("update", *flags, container_id)
        if code == 0:
            return
        current = await self._known_state(container_id)
        if current.status == "stopped":
            raise Conflict(f"Container {container_id} is not running")
        raise BerthError(runc_message(err))

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
        if not self.runc.knows(container_id):
            # Nothing for `runc delete` to do, and a process spawn is saved.
            if mdir.exists():
                await self.monitors.stop(container_id)
                await self.monitors.remove_files(container_id)
            return
        args = ["delete", *(["--force"] if force else []), container_id]
        code, _, err = await self.runc.run(*args)
        if code != 0 and await self.state(container_id) is not None:
            raise Conflict(f"cannot delete container {container_id}: {runc_message(err)}")
        await self.monitors.stop(container_id)
        await self.monitors.remove_files(container_id)


def _children(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []
