"""Execs under conmon (`--exec --exec-process-spec`, podman's way; ADR/0034).

Each exec of a container gets a monitor of its own, in `<container monitor dir>/exec/
<exec id>/` (removed with the container's), which runs `runc exec --detach`, holds the
process's stdio and writes its exit code to `exits/<container id>` (conmon names the
file after `--cid`, which runc needs to be the container). conmon is not the engine's
child, so the exit code is there for an engine started after this one died.

An attached exec (`--exec-attach`) waits before it runs the process until the engine has
connected to its attach socket, so no output is lost. The exec's directory is its bundle
as far as conmon goes: `attach` and `ctl` are there, spoken as a container's (attach.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import trio

from berth.adapters.private_files import write_private

from .attach import ConmonStdio, StdioStream
from .commands import Runc
from .messages import docker_words
from .monitor import CREATE_TIMEOUT_S, Monitors, _conmon_error, _read_sync_message, _runc_log_error
from .protocol import ExecProcess, StartFailure

STDIO = ConmonStdio()


class ExecMonitors(Monitors):
    """The monitors of one container's execs (their ids stand where a container's would).

    They join the container's monitor cgroup, which exists while the container runs: the
    first migration into a cgroup just made waits on the kernel (15-30 ms on cgroup v1,
    half an exec's time), one into a cgroup in use does not (1-3 ms). The container's
    monitor removes it; an exec's monitor exits with the container's processes."""

    own_cgroups = False

    def __init__(self, monitors: Monitors, runc: Runc, container_id: str) -> None:
        super().__init__(
            monitors.conmon, monitors.dir(container_id) / "exec", monitors.cgroup_parent
        )
        self.runc = runc
        self.container_id = container_id

    def exit_file(self, container_id: str) -> Path:
        return self.dir(container_id) / "exits" / self.container_id

    def cgroup(self, container_id: str) -> str:
        return super().cgroup(self.container_id)

    def exec_ids(self) -> list[str]:
        try:
            return sorted(p.name for p in self.root.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def _args(self, exec_id: str, tty: bool, stdin: bool, attach: bool) -> list[str]:
        edir = self.dir(exec_id)
        return [
            "--api-version", "1",
            "--cid", self.container_id,
            "--cuuid", exec_id,
            "--name", exec_id,
            "--runtime", self.runc.binary,
            "--bundle", str(edir),
            "--container-pidfile", str(edir / "pid"),
            "--conmon-pidfile", str(edir / "conmon.pid"),
            # dockerd keeps no exec output: what an attached client does not read is gone.
            "--log-path", "none:",
            "--exit-dir", str(edir / "exits"),
            "--persist-dir", str(edir / "persist"),
            "--socket-dir-path", str(edir / "sock"),
            "--runtime-arg", "--root",
            "--runtime-arg", str(self.runc.root),
            "--runtime-arg", "--log-format=json",
            "--runtime-arg", "--log",
            "--runtime-arg", str(edir / "runc.log"),
            "--log-level", "info",
            "--exec",
            "--exec-process-spec", str(edir / "process.json"),
            *(["--exec-attach"] if attach else []),
            *(["--terminal"] if tty else []),
            *(["--stdin"] if stdin else []),
        ]  # fmt: skip

    async def start(
        self,
        exec_id: str,
        process: dict[str, Any],
        *,
        stdin: bool,
        attach: bool,
        console_size: tuple[int, int] | None = None,
    ) -> ExecProcess:
        """Run `process` in the container under a new monitor; its pid, and with
        `attach` the connected attach socket. StartFailure carries runc's message (the
        monitor's files are removed then)."""
        edir = self.prepare_dir(exec_id, self.dir(exec_id))
        write_private(edir / "process.json", json.dumps(process))
        args = self._args(exec_id, bool(process.get("terminal")), stdin, attach)
        try:
            return await self._spawn(exec_id, args, attach, console_size)
        except StartFailure as failed:
            with trio.CancelScope(shield=True):
                await self.stop(exec_id)
                await self.remove_files(exec_id)
            executable = (process.get("args") or [None])[0]
            raise StartFailure(docker_words(failed.message, executable)) from None
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.stop(exec_id)
                await self.remove_files(exec_id)
            raise

    async def _spawn(
        self, exec_id: str, args: list[str], attach: bool, console_size: tuple[int, int] | None
    ) -> ExecProcess:
        edir = self.dir(exec_id)
        sync_r, sync_w = os.pipe()
        start_r, start_w = os.pipe()
        attach_r, attach_w = os.pipe() if attach else (-1, -1)
        pipes = {"_OCI_SYNCPIPE": sync_w, "_OCI_STARTPIPE": start_r}
        if attach:
            pipes["_OCI_ATTACHPIPE"] = attach_w
        sync_stream = trio.lowlevel.FdStream(sync_r)
        attach_stream = trio.lowlevel.FdStream(attach_r) if attach else None
        start = trio.lowlevel.FdStream(start_w)
        sock: StdioStream | None = None
        try:
            # conmon's first read of its start pipe: placed, go on.
            await self.launch(exec_id, args, pipes, lambda: start.send_all(b"0"))
            with trio.fail_after(CREATE_TIMEOUT_S):
                if attach_stream is not None:
                    if await _read_sync_message(attach_stream) is None:
                        raise StartFailure(_conmon_error(edir) or "conmon set up no attach socket")
                    sock = await STDIO.connect(edir)
                    if console_size:
                        await self.resize(exec_id, *console_size)
                    await start.send_all(b"1")  # the process may run: we are listening
                message = await _read_sync_message(sync_stream)
        except BaseException:
            if sock is not None:
                await sock.aclose()
            raise
        finally:
            with trio.CancelScope(shield=True):
                for stream in (start, sync_stream, attach_stream):
                    if stream is not None:
                        await stream.aclose()
        pid = message.get("data") if message else None
        if not isinstance(pid, int) or pid <= 0:
            if sock is not None:
                await sock.aclose()
            text = str((message or {}).get("message") or "").strip()
            raise StartFailure(_runc_log_error(edir) or text or "runc exec failed")
        return ExecProcess(pid, sock)

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        """Set the exec's tty size; nothing once it has ended."""
        await STDIO.resize(self.dir(exec_id), height, width)
