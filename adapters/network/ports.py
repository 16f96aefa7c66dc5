"""Published ports: one forwarder process per container (adapters/network/forwarder.py).

The forwarder is started in its own session so that it outlives berthd, as conmon and
docker-proxy do; berthd keeps the child it started to reap it when it stops. Next to the
pidfile (`<pidfile>` with suffix `.json`) the adapter records the forwards actually bound,
so that after a berthd restart reconcile knows what runs without asking the process.
See ADR/0012.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import trio

from berth.adapters.network import forwarder
from berth.adapters.network.forwarder import MODULE, Spec
from berth.adapters.private_files import open_private, write_private
from berth.adapters.processes import process_start_time, wait_process_gone
from berth.domain.errors import BerthError, InvalidParameter

#: How long a forwarder may take to bind its ports and say so (an interpreter start).
READY_TIMEOUT_S = 10.0
#: How long stop waits after SIGTERM before SIGKILL.
STOP_TIMEOUT_S = 5.0
POLL_S = 0.01
PROTOCOLS = ("tcp", "udp")


class PortForwardFailed(BerthError):
    """A host port cannot be bound, or the forwarder did not come up (500)."""

    http_status = 500


@dataclass(frozen=True)
class PortForward:
    protocol: str  # "tcp" | "udp"
    host_ip: str  # "" means all addresses (0.0.0.0), as Docker
    host_port: int  # 0: pick a free port
    container_ip: str
    container_port: int

    def spec(self) -> Spec:
        return Spec(
            self.protocol, self.host_ip, self.host_port, self.container_ip, self.container_port
        )


def _check(forward: PortForward) -> None:
    if forward.protocol not in PROTOCOLS:
        raise InvalidParameter(f"invalid protocol {forward.protocol!r}: must be tcp or udp")
    for value, what, optional in (
        (forward.host_ip, "host IP", True),
        (forward.container_ip, "container IP", False),
    ):
        if optional and value == "":
            continue
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise InvalidParameter(f"invalid {what} {value!r}: not an IPv4 address") from None
    if not 0 <= forward.host_port <= 65535:
        raise InvalidParameter(f"invalid host port {forward.host_port}")
    if not 1 <= forward.container_port <= 65535:
        raise InvalidParameter(f"invalid container port {forward.container_port}")


def check_forwards(forwards: Sequence[PortForward]) -> None:
    """`InvalidParameter` unless there are forwards and each is one that can be set up."""
    for forward in forwards:
        _check(forward)
    if not forwards:
        raise InvalidParameter("no ports to forward")


def forwards_path(pidfile: Path) -> Path:
    return pidfile.with_suffix(".json")


def log_path(pidfile: Path) -> Path:
    return pidfile.with_suffix(".log")


def read_forwards(pidfile: Path) -> list[PortForward]:
    """The forwards (with the host ports actually bound) recorded by `start`; [] if none."""
    try:
        records = json.loads(forwards_path(pidfile).read_text())
    except FileNotFoundError:
        return []
    return [PortForward(**record) for record in records]


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    write_private(temporary, text)
    os.replace(temporary, path)


def _forwarder_argv(
    pidfile: Path, forwards: Sequence[PortForward], udp_idle_timeout_s: float
) -> list[str]:
    # By path with -S (no site, hence no .pth files and no editable-install finder): the
    # forwarder needs only the standard library, and this halves its start-up time.
    return [
        sys.executable,
        "-I",
        "-S",
        forwarder.__file__,
        "--pidfile",
        str(pidfile),
        "--udp-idle-timeout",
        str(udp_idle_timeout_s),
        *(forward.spec().format() for forward in forwards),
    ]


def _forwarder_pidfile(pid: int) -> Path | None:
    """The pidfile a live (not zombie) forwarder process was started for, else None."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        return None
    try:
        flag = argv.index(b"--pidfile", 1)
    except ValueError:
        return None
    script = argv[flag - 1]
    if script != MODULE.encode() and not script.endswith(b"/network/forwarder.py"):
        return None
    return Path(os.fsdecode(argv[flag + 1])) if len(argv) > flag + 1 else None


def _is_our_forwarder(pid: int, pidfile: Path) -> bool:
    return _forwarder_pidfile(pid) == pidfile


def running_forwarders(under: Path) -> dict[Path, int]:
    """Every live forwarder whose pidfile lies under `under`, by pidfile, found in /proc
    (not in the pidfiles): what reconcile compares with the containers that should have
    published ports, including forwarders whose pidfile was lost."""
    under = under.absolute()
    found: dict[Path, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            pidfile = _forwarder_pidfile(int(entry.name))
            if pidfile is not None and pidfile.is_relative_to(under):
                found[pidfile] = int(entry.name)
    return found


class PortForwarders:
    """Starts, finds and stops the forwarder processes of containers. Idempotent."""

    def __init__(self, udp_idle_timeout_s: float = forwarder.DEFAULT_UDP_IDLE_TIMEOUT_S) -> None:
        self.udp_idle_timeout_s = udp_idle_timeout_s
        # The forwarders this process started, so that it can reap them (no zombies).
        self._children: dict[int, trio.Process] = {}
        # One start or stop at a time per pidfile: two racing starts would orphan one.
        self._locks: dict[Path, trio.Lock] = {}

    def running_pid(self, pidfile: Path) -> int | None:
        self.reap_exited()
        pidfile = pidfile.absolute()
        try:
            pid = int(pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_forwarder(pid, pidfile) else None

    def running(self, under: Path) -> dict[Path, int]:
        return running_forwarders(under)

    def reap_exited(self) -> None:
        """Reap the forwarders this process started that have exited (stopped by another)."""
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    async def start(
        self, pidfile: Path, forwards: Sequence[PortForward]
    ) -> tuple[int, list[PortForward]]:
        check_forwards(forwards)
        pidfile = pidfile.absolute()
        async with self._lock(pidfile):
            return await self._start(pidfile, forwards)

    async def wait_exited(self, pidfile: Path) -> bool:
        """Until the forwarder of `pidfile` exits; False at once if none runs."""
        pid = self.running_pid(pidfile)
        if pid is None:
            return False
        await wait_process_gone(pid, process_start_time(pid))
        self.reap_exited()
        return True

    async def stop(self, pidfile: Path, pid: int | None = None) -> None:
        """Stop the forwarder recorded in `pidfile`, or the one with `pid` (as found by
        `running_forwarders`) if the pidfile is lost; either must be this pidfile's."""
        pidfile = pidfile.absolute()
        async with self._lock(pidfile):
            if pid is None or not _is_our_forwarder(pid, pidfile):
                pid = self.running_pid(pidfile)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                await self._wait_gone(pid, pidfile)
            self._remove_files(pidfile)
            self.reap_exited()

    # -- helpers ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lock(self, pidfile: Path) -> AsyncIterator[None]:
        lock = self._locks.setdefault(pidfile, trio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(pidfile, None)

    async def _start(
        self, pidfile: Path, forwards: Sequence[PortForward]
    ) -> tuple[int, list[PortForward]]:
        pid = self.running_pid(pidfile)
        if pid is not None:
            return pid, read_forwards(pidfile)
        self._remove_files(pidfile)
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open_private(log_path(pidfile), append=True) as log:
            process = await trio.lowlevel.open_process(
                _forwarder_argv(pidfile, forwards, self.udp_idle_timeout_s),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        try:
            word, _, rest = (
                (await self._ready_line(process)).decode(errors="replace").partition(" ")
            )
            ports = rest.split()
            if word != "ready" or len(ports) != len(forwards):
                with trio.move_on_after(READY_TIMEOUT_S):
                    await process.wait()
                message = rest if word == "error" else self._failure(process, pidfile)
                raise PortForwardFailed(message)
            bound = [
                replace(forward, host_port=int(port))
                for forward, port in zip(forwards, ports, strict=True)
            ]
            _write_atomically(
                forwards_path(pidfile), json.dumps([vars(forward) for forward in bound])
            )
            _write_atomically(pidfile, f"{process.pid}\n")
        except BaseException:
            with trio.CancelScope(shield=True):
                await _kill_and_reap(process)
            self._remove_files(pidfile)
            raise
        finally:
            assert process.stdout is not None
            with trio.CancelScope(shield=True):
                await process.stdout.aclose()
        self._children[process.pid] = process
        return process.pid, bound

    @staticmethod
    async def _ready_line(process: trio.Process) -> bytes:
        assert process.stdout is not None
        received = b""
        with trio.move_on_after(READY_TIMEOUT_S):
            while b"\n" not in received:
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    break
                received += chunk
            return received.split(b"\n", 1)[0]
        raise PortForwardFailed(f"port forwarder did not start within {READY_TIMEOUT_S:.0f} s")

    @staticmethod
    def _failure(process: trio.Process, pidfile: Path) -> str:
        try:
            tail = log_path(pidfile).read_text(errors="replace").strip().splitlines()[-1:]
        except OSError:
            tail = []
        detail = f": {tail[0]}" if tail else ""
        return f"port forwarder exited with status {process.returncode}{detail}"

    async def _wait_gone(self, pid: int, pidfile: Path) -> None:
        child = self._children.get(pid)
        if child is not None:
            with trio.move_on_after(STOP_TIMEOUT_S):
                await child.wait()
            if child.returncode is None:
                await _kill_and_reap(child)
            self._children.pop(pid, None)
            return
        # Not our child (started by an earlier berthd): its parent is now whoever
        # adopted it; wait for it to leave, by pid, re-checking it is still ours.
        with trio.move_on_after(STOP_TIMEOUT_S):
            while _is_our_forwarder(pid, pidfile):
                await trio.sleep(POLL_S)
            return
        if _is_our_forwarder(pid, pidfile):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _is_our_forwarder(pid, pidfile):
                await trio.sleep(POLL_S)

    @staticmethod
    def _remove_files(pidfile: Path) -> None:
        for path in (pidfile, forwards_path(pidfile)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


async def _kill_and_reap(process: trio.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
