"""conmon, the per-container monitor: spawned, placed in its own cgroup, waited for, and
the exit status it writes (ADR/0008).

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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import trio

from berth.adapters import cgroups
from berth.adapters.private_files import open_private, write_private
from berth.adapters.processes import open_pidfd
from berth.domain.errors import InvalidParameter

from .commands import Runc, runc_message
from .protocol import ExitStatus, MonitorLost, StartFailure

log = logging.getLogger(__name__)

#: How long create waits for conmon to report the container's pid or runc's error.
CREATE_TIMEOUT_S = 60.0
#: How long a stop waits for conmon to flush the log and exit before killing it.
MONITOR_EXIT_TIMEOUT_S = 5.0
POLL_S = 0.05
#: While the container runs, how often `wait_exited` looks at the exit file even though
#: the monitor has not exited (it normally exits right after writing it).
EXIT_RECHECK_S = 1.0
#: Files conmon creates inside the bundle directory (attach socket, control fifos).
BUNDLE_MONITOR_FILES = ("attach", "ctl", "winsz")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


class Monitors:
    """The conmon of each container, and its directory `<root>/<id>/`."""

    #: Whether each monitor has a cgroup of its own, removed with it (an exec's monitor
    #: joins its container's instead).
    own_cgroups = True

    def __init__(self, conmon: str, root: Path, cgroup_parent: str | None) -> None:
        self.conmon = shutil.which(conmon) or conmon
        self.root = root
        # None leaves each monitor in the engine's cgroup (e.g. where cgroupfs is read-only).
        self.cgroup_parent = cgroups.check_relative(cgroup_parent) if cgroup_parent else None

    def dir(self, container_id: str) -> Path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise InvalidParameter(f"invalid container id: {container_id!r}")
        return self.root / container_id

    def exit_file(self, container_id: str) -> Path:
        return self.dir(container_id) / "exits" / container_id

    def prepare_dir(self, container_id: str, bundle: Path) -> Path:
        mdir = self.dir(container_id)
        ensure_private_dir(self.root)
        ensure_private_dir(mdir)
        for sub in ("exits", "persist", "sock"):
            ensure_private_dir(mdir / sub)
        write_private(mdir / "bundle", str(bundle))
        return mdir

    # -- spawning --------------------------------------------------------------------------

    def conmon_args(
        self, container_id: str, bundle: Path, log_path: Path | None, runc: Runc
    ) -> list[str]:
        """conmon's flags for one container (the binary itself is `spawn`'s); without a
        log path, conmon's `none` driver reads the output and keeps nothing."""
        mdir = self.dir(container_id)
        return [
            "--api-version", "1",
            "--cid", container_id,
            "--cuuid", container_id,
            "--name", container_id,
            "--runtime", runc.binary,
            "--bundle", str(bundle),
            "--container-pidfile", str(mdir / "pid"),
            "--conmon-pidfile", str(mdir / "conmon.pid"),
            "--log-path", "none" if log_path is None else f"k8s-file:{log_path}",
            "--exit-dir", str(mdir / "exits"),
            "--persist-dir", str(mdir / "persist"),
            "--socket-dir-path", str(mdir / "sock"),
            "--runtime-arg", "--root",
            "--runtime-arg", str(runc.root),
            "--runtime-arg", "--log-format=json",
            "--runtime-arg", "--log",
            "--runtime-arg", str(mdir / "runc.log"),
            "--log-level", "info",
        ]  # fmt: skip

    async def spawn(self, container_id: str, args: list[str]) -> int:
        """Run conmon (`args`), place it, and answer the pid it reports for the container."""
        mdir = self.dir(container_id)
        sync_r, sync_w = os.pipe()  # non-inheritable (PEP 446); pass_fds opens the child's
        start_r, start_w = os.pipe()
        sync_stream = trio.lowlevel.FdStream(sync_r)
        start = trio.lowlevel.FdStream(start_w)
        try:
            # conmon reads the start pipe's EOF and carries on.
            await self.launch(container_id, args, {"_OCI_SYNCPIPE": sync_w,
                              "_OCI_STARTPIPE": start_r}, start.aclose)  # fmt: skip
            with trio.fail_after(CREATE_TIMEOUT_S):
                message = await _read_sync_message(sync_stream)
        finally:
            with trio.CancelScope(shield=True):
                await start.aclose()
                await sync_stream.aclose()
        if message is None:
            raise StartFailure(
                _runc_log_error(mdir)
                or _conmon_error(mdir)
                or "conmon exited before reporting the container"
            )
        pid = message.get("data")
        if not isinstance(pid, int) or pid <= 0:
            text = str(message.get("message") or "").strip()
            raise StartFailure(text or _runc_log_error(mdir) or "runc create failed")
        return pid

    async def launch(
        self,
        key: str,
        args: list[str],
        pipes: dict[str, int],
        release: Callable[[], Awaitable[None]],
    ) -> None:
        """Start conmon with `args` and the pipes it is to find in its environment (the
        child's ends, closed here once it has them), place it while it blocks on its start
        pipe, `release` it, and wait for its first process, which exits once it has forked
        the monitor. StartFailure if conmon failed before that."""
        mdir = self.dir(key)
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            **{name: str(fd) for name, fd in pipes.items()},
        }
        try:
            with open_private(mdir / "conmon.err") as err_file:
                proc = await trio.lowlevel.open_process(
                    [self.conmon, *args],
                    stdin=subprocess.DEVNULL,
                    stdout=err_file,
                    stderr=err_file,
                    close_fds=True,
                    pass_fds=tuple(pipes.values()),
                    env=env,
                    cwd=str(mdir),
                    start_new_session=True,
                )
        finally:
            for fd in pipes.values():
                os.close(fd)
        try:
            try:
                # conmon blocks on the start pipe before it forks anything.
                await self._place(key, proc.pid, mdir)
            finally:
                await release()
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                with trio.CancelScope(shield=True):
                    await proc.wait()
        if code != 0:
            raise StartFailure(_conmon_error(mdir) or f"conmon exited with {code}")

    def cgroup(self, container_id: str) -> str:
        """The monitor's cgroup below each hierarchy's root."""
        return cgroups.check_relative(f"{self.cgroup_parent}/conmon-{container_id}")

    async def _place(self, container_id: str, pid: int, mdir: Path) -> None:
        """Move the (still waiting) conmon into its own cgroup, as podman does.

        Best effort, like podman: a monitor left in the engine's cgroup still works, it
        only shares that cgroup's fate; the failure is logged.
        """
        if self.cgroup_parent is None:
            return
        relative = self.cgroup(container_id)
        try:
            joined = await trio.to_thread.run_sync(cgroups.create_and_join, relative, pid)
        except cgroups.CgroupError as error:
            joined = error.joined
            log.warning("monitor of %s stays in the engine's cgroup: %s", container_id, error)
        if joined and self.own_cgroups:
            write_private(mdir / "cgroups", "".join(f"{path}\n" for path in joined))

    # -- the live monitor --------------------------------------------------------------------

    def init_pid(self, container_id: str) -> int | None:
        """The container's init pid as conmon wrote it (it may have exited since)."""
        return _read_int(self.dir(container_id) / "pid")

    def pid(self, container_id: str) -> int | None:
        """The live conmon of this container, or None (a reused pid is not mistaken for it)."""
        pid = _read_int(self.dir(container_id) / "conmon.pid")
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

    async def wait_gone(self, container_id: str, timeout: float) -> bool:
        """Wait up to `timeout` s for the container's conmon to exit; True once it is gone.

        Woken by a pidfd the moment conmon exits; polls only where pidfds are missing.
        """
        with trio.move_on_after(timeout):
            while (pid := self.pid(container_id)) is not None:
                pidfd = open_pidfd(pid)
                if pidfd is None:
                    if self.pid(container_id) is not None:
                        await trio.sleep(POLL_S)  # a kernel without pidfds
                    continue
                try:
                    # The pid was checked before the pidfd was opened: check again that
                    # it still is this container's conmon, not a process that reused it.
                    if self.pid(container_id) == pid:
                        await trio.lowlevel.wait_readable(pidfd)
                finally:
                    os.close(pidfd)
            return True
        return False

    async def stop(self, container_id: str) -> None:
        """Wait for conmon to exit (it does once the container is gone); kill it if it hangs."""
        if await self.wait_gone(container_id, MONITOR_EXIT_TIMEOUT_S):
            return
        pid = self.pid(container_id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal_module.SIGKILL)
            await self.wait_gone(container_id, MONITOR_EXIT_TIMEOUT_S)

    async def remove_files(self, container_id: str) -> None:
        """Remove the monitor's cgroups (it has exited), its files in the bundle and its
        directory: one trip to a worker thread."""
        await trio.to_thread.run_sync(self._remove_state, container_id)

    def _remove_state(self, container_id: str) -> None:
        mdir = self.dir(container_id)
        try:
            listed = (mdir / "cgroups").read_text().split("\n")
        except FileNotFoundError:
            listed = []
        directories = [Path(line) for line in listed if line.startswith("/sys/fs/cgroup/")]
        if self.cgroup_parent is not None and self.own_cgroups:
            # Also where they would be had the engine stopped before writing the list.
            relative = self.cgroup(container_id)
            directories += [h.mount / relative for h in cgroups.host_hierarchies()]
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

    # -- the exit ----------------------------------------------------------------------------

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
            oom_killed=(self.dir(container_id) / "persist" / "oom").exists(),
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
                await self.wait_gone(container_id, MONITOR_EXIT_TIMEOUT_S)
                return status
            if await self.wait_gone(container_id, EXIT_RECHECK_S):
                # conmon writes the exit file before it exits: look once more.
                status = self.exit_status(container_id)
                if status is not None:
                    return status
                raise MonitorLost(f"monitor of {container_id} is gone and left no exit status")


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


def _conmon_error(mdir: Path) -> str:
    try:
        text = (mdir / "conmon.err").read_text(errors="replace")
    except OSError:
        return ""
    errors_ = [line for line in text.splitlines() if "[conmon:e]" in line]
    return "; ".join(errors_)


def _runc_log_error(mdir: Path) -> str:
    try:
        return runc_message((mdir / "runc.log").read_bytes())
    except OSError:
        return ""
