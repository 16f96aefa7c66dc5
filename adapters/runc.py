"""runc driven through conmon, a per-container monitor that outlives the engine (ADR/0008).

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

conmon is started without `--sync`: it double-forks, so it is re-parented away from the
engine and survives the engine being killed; the container's exit code still lands in
`exits/<id>`. Before it forks it waits on its start pipe while the engine moves it into
its own cgroup (`<monitor_cgroup_parent>/conmon-<id>`), so that killing the engine's
cgroup spares it. Every subprocess gets only the descriptors it needs (close_fds,
explicit pass_fds) and is reaped, also on cancellation.

Waiting for a monitor to exit uses a pidfd (no polling): conmon writes the exit file
and then exits, so its exit is the moment the container's exit is known and its log
complete.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal as signal_module
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import trio

from berth.adapters import cgroups
from berth.adapters.logs import start_log
from berth.adapters.private_files import open_private, write_private
from berth.adapters.processes import open_pidfd, process_start_time
from berth.domain import signals
from berth.domain.errors import BerthError, Conflict, InvalidParameter, NotFound

log = logging.getLogger(__name__)

Status = Literal["created", "running", "paused", "stopped"]

#: How long create waits for conmon to report the container's pid or runc's error.
CREATE_TIMEOUT_S = 60.0
#: How long delete waits for conmon to flush the log and exit before killing it.
MONITOR_EXIT_TIMEOUT_S = 5.0
POLL_S = 0.05
#: While the container runs, how often `wait_exited` looks at the exit file even though
#: the monitor has not exited (it normally exits right after writing it).
EXIT_RECHECK_S = 1.0
#: The cgroup under which each monitor gets its own (`conmon-<id>`); the containers' own
#: cgroups are `/berth/<id>` (domain.spec.HostFacts.cgroup_parent).
MONITOR_CGROUP_PARENT = "/berth"
#: Files conmon creates inside the bundle directory (attach socket, control fifos).
BUNDLE_MONITOR_FILES = ("attach", "ctl", "winsz")


class StartFailure(BerthError):
    """runc could not create or start the container; the message is runc's (400)."""

    http_status = 400


class MonitorLost(BerthError):
    """The monitor is gone and left no exit file: the exit code is unknowable."""

    http_status = 500


@dataclass(frozen=True, slots=True)
class ContainerState:
    id: str
    status: Status
    pid: int
    #: Field 22 of /proc/<pid>/stat (clock ticks after boot); None if the pid is gone.
    start_time: int | None
    bundle: str


@dataclass(frozen=True, slots=True)
class ExitStatus:
    exit_code: int
    finished_at: datetime
    oom_killed: bool


def parse_signal(sig: str | int) -> int:
    """ "SIGTERM", "TERM", "term", "9" or 9 → the signal number (domain.signals' rules)."""
    return signals.parse_signal(str(sig))


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _runc_message(stderr: bytes) -> str:
    """runc's error text from its stderr (plain or JSON log lines)."""
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    messages = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            messages.append(line.strip())
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            messages.append(str(entry.get("msg", "")))
    return "; ".join(messages) if messages else "runc failed"


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


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
        self.runc = shutil.which(runc) or runc
        self.conmon = shutil.which(conmon) or conmon
        self.runc_root = self.state_dir / "runc"
        self.monitor_root = self.state_dir / "monitor"
        # None leaves each monitor in the engine's cgroup (e.g. where cgroupfs is read-only).
        self.monitor_cgroup_parent = (
            cgroups.check_relative(monitor_cgroup_parent) if monitor_cgroup_parent else None
        )

    # -- paths ---------------------------------------------------------------------------

    def monitor_dir(self, container_id: str) -> Path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise InvalidParameter(f"invalid container id: {container_id!r}")
        return self.monitor_root / container_id

    def knows(self, container_id: str) -> bool:
        """Whether runc or a monitor has anything of this container (a process, state)."""
        return (self.runc_root / container_id).exists() or self.monitor_dir(container_id).exists()

    def exit_file(self, container_id: str) -> Path:
        return self.monitor_dir(container_id) / "exits" / container_id

    # -- runc ----------------------------------------------------------------------------

    async def _runc(self, *args: str) -> tuple[int, bytes, bytes]:
        result = await trio.run_process(
            [self.runc, "--root", str(self.runc_root), *args],
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            close_fds=True,
        )
        return result.returncode, result.stdout, result.stderr

    async def state(self, container_id: str) -> ContainerState | None:
        """runc's view of the container, or None if runc does not know it."""
        self.monitor_dir(container_id)
        code, out, err = await self._runc("state", container_id)
        if code != 0:
            if b"does not exist" in err or b"not exist" in err:
                return None
            raise BerthError(f"runc state {container_id}: {_runc_message(err)}")
        doc = json.loads(out)
        pid = int(doc.get("pid") or 0)
        status: Status = doc.get("status", "stopped")
        start_time = process_start_time(pid) if pid > 0 and status != "stopped" else None
        return ContainerState(
            id=container_id,
            status=status,
            pid=pid,
            start_time=start_time,
            bundle=str(doc.get("bundle", "")),
        )

    # -- create --------------------------------------------------------------------------

    async def create(
        self, container_id: str, bundle: Path, log_path: Path, log_size_max: int | None = None
    ) -> int:
        """Spawn conmon, which runs `runc create`; return the container's init pid.

        Idempotent: a container already created under a live monitor returns its pid.
        On failure nothing is left behind and StartFailure carries runc's message.
        With `log_size_max`, the log starts again empty whenever it would pass that size.
        """
        mdir = self.monitor_dir(container_id)
        # runc keeps each container's state in <root>/<id>: without it there is nothing to
        # ask runc about (the common case, and `runc state` costs a process).
        known = (self.runc_root / container_id).exists()
        existing = await self.state(container_id) if known else None
        if existing is not None:
            if existing.status != "stopped" and self.monitor_pid(container_id) is not None:
                return existing.pid
            await self.delete(container_id, force=True)
        elif mdir.exists():
            await self._remove_monitor_files(container_id)

        bundle = Path(bundle).resolve()
        _ensure_private_dir(self.state_dir)
        _ensure_private_dir(self.runc_root)
        _ensure_private_dir(self.monitor_root)
        _ensure_private_dir(mdir)
        for sub in ("exits", "persist", "sock"):
            _ensure_private_dir(mdir / sub)
        write_private(mdir / "bundle", str(bundle))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        await trio.to_thread.run_sync(start_log, log_path, log_size_max)
        args = self._conmon_args(container_id, bundle, log_path, mdir)
        if log_size_max is not None:
            args += ["--log-size-max", str(log_size_max)]

        try:
            return await self._spawn_monitor(container_id, args, mdir)
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._cleanup_failed_create(container_id)
            raise

    def _conmon_args(
        self, container_id: str, bundle: Path, log_path: Path, mdir: Path
    ) -> list[str]:
        return [
            self.conmon,
            "--api-version", "1",
            "--cid", container_id,
            "--cuuid", container_id,
            "--name", container_id,
            "--runtime", self.runc,
            "--bundle", str(bundle),
            "--container-pidfile", str(mdir / "pid"),
            "--conmon-pidfile", str(mdir / "conmon.pid"),
            "--log-path", f"k8s-file:{log_path}",
            "--exit-dir", str(mdir / "exits"),
            "--persist-dir", str(mdir / "persist"),
            "--socket-dir-path", str(mdir / "sock"),
            "--runtime-arg", "--root",
            "--runtime-arg", str(self.runc_root),
            "--runtime-arg", "--log-format=json",
            "--runtime-arg", "--log",
            "--runtime-arg", str(mdir / "runc.log"),
            "--log-level", "info",
        ]  # fmt: skip

    async def _spawn_monitor(self, container_id: str, args: list[str], mdir: Path) -> int:
        sync_r, sync_w = os.pipe()  # non-inheritable (PEP 446); pass_fds opens the child's
        start_r, start_w = os.pipe()
        sync_stream = trio.lowlevel.FdStream(sync_r)
        try:
            env = {
                "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                "_OCI_SYNCPIPE": str(sync_w),
                "_OCI_STARTPIPE": str(start_r),
            }
            try:
                with open_private(mdir / "conmon.err") as err_file:
                    proc = await trio.lowlevel.open_process(
                        args,
                        stdin=subprocess.DEVNULL,
                        stdout=err_file,
                        stderr=err_file,
                        close_fds=True,
                        pass_fds=(sync_w, start_r),
                        env=env,
                        cwd=str(mdir),
                        start_new_session=True,
                    )
            finally:
                os.close(sync_w)
                os.close(start_r)
            try:
                try:
                    # conmon blocks on the start pipe before it forks anything.
                    await self._place_monitor(container_id, proc.pid, mdir)
                finally:
                    os.close(start_w)  # conmon reads EOF and carries on
                    start_w = -1
                # conmon's first process exits right after its fork (the daemon lives on).
                code = await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    with trio.CancelScope(shield=True):
                        await proc.wait()
            if code != 0:
                raise StartFailure(self._conmon_error(mdir) or f"conmon exited with {code}")
            with trio.fail_after(CREATE_TIMEOUT_S):
                message = await self._read_sync_message(sync_stream)
        finally:
            if start_w >= 0:
                os.close(start_w)
            with trio.CancelScope(shield=True):
                await sync_stream.aclose()
        if message is None:
            raise StartFailure(
                self._runc_log_error(mdir)
                or self._conmon_error(mdir)
                or "conmon exited before reporting the container"
            )
        pid = message.get("data")
        if not isinstance(pid, int) or pid <= 0:
            text = str(message.get("message") or "").strip()
            raise StartFailure(text or self._runc_log_error(mdir) or "runc create failed")
        return pid

    @staticmethod
    async def _read_sync_message(stream: trio.lowlevel.FdStream) -> dict[str, object] | None:
        data = b""
        while b"\n" not in data:
            chunk = await stream.receive_some(4096)
            if not chunk:
                break
            data += chunk
        line = data.split(b"\n", 1)[0].strip()
        if not line:
            return None
        try:
            doc = json.loads(line)
        except ValueError:
            return {"data": -1, "message": line.decode(errors="replace")}
        return doc if isinstance(doc, dict) else None

    @staticmethod
    def _conmon_error(mdir: Path) -> str:
        try:
            text = (mdir / "conmon.err").read_text(errors="replace")
        except OSError:
            return ""
        errors_ = [line for line in text.splitlines() if "[conmon:e]" in line]
        return "; ".join(errors_)

    @staticmethod
    def _runc_log_error(mdir: Path) -> str:
        try:
            return _runc_message((mdir / "runc.log").read_bytes())
        except OSError:
            return ""

    def _monitor_cgroup(self, container_id: str) -> str:
        """The monitor's cgroup below each hierarchy's root."""
        return cgroups.check_relative(f"{self.monitor_cgroup_parent}/conmon-{container_id}")

    async def _place_monitor(self, container_id: str, pid: int, mdir: Path) -> None:
        """Move the (still waiting) conmon into its own cgroup, as podman does.

        Best effort, like podman: a monitor left in the engine's cgroup still works, it
        only shares that cgroup's fate; the failure is logged.
        """
        if self.monitor_cgroup_parent is None:
            return
        relative = self._monitor_cgroup(container_id)
        try:
            joined = await trio.to_thread.run_sync(cgroups.create_and_join, relative, pid)
        except cgroups.CgroupError as error:
            joined = error.joined
            log.warning("monitor of %s stays in the engine's cgroup: %s", container_id, error)
        if joined:
            write_private(mdir / "cgroups", "".join(f"{path}\n" for path in joined))

    async def _cleanup_failed_create(self, container_id: str) -> None:
        await self._runc("delete", "--force", container_id)
        await self._stop_monitor(container_id)
        await self._remove_monitor_files(container_id)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, container_id: str) -> None:
        """`runc start`; a container already running (or paused) is fine."""
        code, _, err = await self._runc("start", container_id)
        if code == 0:
            return
        current = await self.state(container_id)
        if current is None:
            raise NotFound(f"No such container: {container_id}")
        if current.status in ("running", "paused"):
            return
        message = _runc_message(err)
        if current.status == "stopped":
            raise Conflict(f"container {container_id} has stopped: {message}")
        raise StartFailure(message)

    async def kill(self, container_id: str, signal: str | int, all_processes: bool = False) -> None:
        number = parse_signal(signal)
        args = ["kill", *(["--all"] if all_processes else []), container_id, str(number)]
        code, _, err = await self._runc(*args)
        if code == 0:
            return
        current = await self.state(container_id)
        if current is None:
            raise NotFound(f"No such container: {container_id}")
        if current.status == "stopped":
            raise Conflict(f"Container {container_id} is not running")
        raise BerthError(f"runc kill {container_id}: {_runc_message(err)}")

    async def pause(self, container_id: str) -> None:
        await self._freeze(container_id, "pause", "paused")

    async def resume(self, container_id: str) -> None:
        await self._freeze(container_id, "resume", "running")

    async def _freeze(self, container_id: str, verb: str, target: Status) -> None:
        code, _, err = await self._runc(verb, container_id)
        if code == 0:
            return
        current = await self.state(container_id)
        if current is None:
            raise NotFound(f"No such container: {container_id}")
        if current.status == target:
            return
        raise Conflict(f"Container {container_id} is {current.status}: {_runc_message(err)}")

    async def delete(self, container_id: str, force: bool = False) -> None:
        """`runc delete`, then wait for the monitor and remove its files.

        A missing container is fine. Without force a running container is a Conflict.
        """
        mdir = self.monitor_dir(container_id)
        if not (self.runc_root / container_id).exists():
            # runc keeps each container's state in <root>/<id>: without it there is
            # nothing for `runc delete` to do, and a process spawn is saved.
            if mdir.exists():
                await self._stop_monitor(container_id)
                await self._remove_monitor_files(container_id)
            return
        args = ["delete", *(["--force"] if force else []), container_id]
        code, _, err = await self._runc(*args)
        if code != 0 and await self.state(container_id) is not None:
            raise Conflict(f"cannot delete container {container_id}: {_runc_message(err)}")
        await self._stop_monitor(container_id)
        await self._remove_monitor_files(container_id)

    # -- monitor -------------------------------------------------------------------------

    def monitor_pid(self, container_id: str) -> int | None:
        """The live conmon of this container, or None (a reused pid is not mistaken for it)."""
        pid = _read_int(self.monitor_dir(container_id) / "conmon.pid")
        if pid is None:
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            return None
        if stat[stat.rindex(b")") + 2 :].startswith(b"Z"):
            return None
        if not cmdline or not cmdline[0].endswith(b"conmon"):
            return None
        if container_id.encode() not in cmdline:
            return None
        return pid

    async def wait_monitor_gone(self, container_id: str, timeout: float) -> bool:
        """Wait up to `timeout` s for the container's conmon to exit; True once it is gone.

        Woken by a pidfd the moment conmon exits; polls only where pidfds are missing.
        """
        with trio.move_on_after(timeout):
            while (pid := self.monitor_pid(container_id)) is not None:
                pidfd = open_pidfd(pid)
                if pidfd is None:
                    if self.monitor_pid(container_id) is not None:
                        await trio.sleep(POLL_S)  # a kernel without pidfds
                    continue
                try:
                    # The pid was checked before the pidfd was opened: check again that
                    # it still is this container's conmon, not a process that reused it.
                    if self.monitor_pid(container_id) == pid:
                        await trio.lowlevel.wait_readable(pidfd)
                finally:
                    os.close(pidfd)
            return True
        return False

    async def _stop_monitor(self, container_id: str) -> None:
        """Wait for conmon to exit (it does once the container is gone); kill it if it hangs."""
        if await self.wait_monitor_gone(container_id, MONITOR_EXIT_TIMEOUT_S):
            return
        pid = self.monitor_pid(container_id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_module.SIGKILL)
            await self.wait_monitor_gone(container_id, MONITOR_EXIT_TIMEOUT_S)

    async def _remove_monitor_files(self, container_id: str) -> None:
        """Remove the monitor's cgroups (it has exited), its files in the bundle and its
        directory: one trip to a worker thread."""
        await trio.to_thread.run_sync(self._remove_monitor_state, container_id)

    def _remove_monitor_state(self, container_id: str) -> None:
        mdir = self.monitor_dir(container_id)
        try:
            listed = (mdir / "cgroups").read_text().split("\n")
        except FileNotFoundError:
            listed = []
        directories = [Path(line) for line in listed if line.startswith("/sys/fs/cgroup/")]
        if self.monitor_cgroup_parent is not None:
            # Also where they would be had the engine stopped before writing the list.
            relative = self._monitor_cgroup(container_id)
            directories += [h.mount / relative for h in cgroups.hierarchies()]
        left = cgroups.remove(list(dict.fromkeys(directories)))
        if left:
            log.warning("monitor cgroups of %s still busy: %s", container_id, left)
        try:
            bundle = Path((mdir / "bundle").read_text().strip())
        except OSError:
            bundle = None
        if bundle is not None and bundle.is_absolute():
            for name in BUNDLE_MONITOR_FILES:
                with contextlib.suppress(FileNotFoundError):
                    (bundle / name).unlink()
        shutil.rmtree(mdir, ignore_errors=True)

    def exit_status(self, container_id: str) -> ExitStatus | None:
        """The exit the monitor recorded, or None if the container has not exited."""
        path = self.exit_file(container_id)
        try:
            text = path.read_text().strip()
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise
        if not text:
            return None
        return ExitStatus(
            exit_code=int(text),
            finished_at=datetime.fromtimestamp(mtime, UTC),
            oom_killed=(self.monitor_dir(container_id) / "persist" / "oom").exists(),
        )

    async def wait_exited(self, container_id: str) -> ExitStatus:
        """Block until the exit file appears (and the monitor has flushed the log and exited).

        MonitorLost if the monitor died without writing one.
        """
        while True:
            status = self.exit_status(container_id)
            if status is not None:
                # Give conmon a moment to finish and exit, so the log is complete when the
                # exit is reported.
                await self.wait_monitor_gone(container_id, MONITOR_EXIT_TIMEOUT_S)
                return status
            if await self.wait_monitor_gone(container_id, EXIT_RECHECK_S):
                # conmon writes the exit file before it exits: look once more.
                status = self.exit_status(container_id)
                if status is not None:
                    return status
                raise MonitorLost(f"monitor of {container_id} is gone and left no exit status")
