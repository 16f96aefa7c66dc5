"""The name server of one berth root (server.py), started, adopted, fed and stopped.

The server is started in its own session so that it outlives berthd, as the port
forwarders do (ADR/0012, ADR/0039); a later berthd finds it by its pidfile, checked
against the process's command line, and feeds it through the same files and control
socket. Records are files (records.py) written before the server is told to reload, so a
server started after a crash serves what was last published.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from berth.adapters.dns import server
from berth.adapters.private_files import open_private, private_dir, write_atomically
from berth.adapters.processes import (
    argument_after,
    first_line,
    kill_and_reap,
    process_alive,
    process_start_time,
    processes_under,
    start_in_session,
    wait_process_gone,
)
from berth.domain.errors import BerthError
from berth.domain.network_names import NetworkRecords

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
CONTROL_TIMEOUT_S = 5.0
HOST_RESOLV_CONF = Path("/etc/resolv.conf")


class NameServerFailed(BerthError):
    """The name server did not come up or cannot answer on an address (500)."""

    http_status = 500


def host_upstreams(resolv_conf: Path = HOST_RESOLV_CONF) -> list[tuple[str, int]]:
    """The host's resolvers: the server runs in the host's namespace, so loopback ones
    (systemd-resolved's 127.0.0.53) are as good as any."""
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver" and "%" not in fields[1]:
            found.append((fields[1], 53))
    return found


def server_argv(directory: Path, port: int) -> list[str]:
    # By path with -S: the server needs only the standard library (see forwarder.py).
    return [
        sys.executable,
        "-I",
        "-S",
        server.__file__,
        "--dir",
        str(directory),
        "--port",
        str(port),
    ]


def _server_dir(pid: int) -> Path | None:
    """The directory a live (not zombie) name server process serves, else None."""
    return argument_after(pid, b"--dir", (server.SCRIPT_MARK.encode(),))


def running_name_servers(under: Path) -> dict[Path, int]:
    """Every live name server whose directory lies under `under`, by directory, found in
    /proc (not in pidfiles): what a test's clean-up looks for."""
    return processes_under(under, _server_dir)


class NameServer:
    """The `NameService` of one root, its server's files under `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int = 53,
        upstreams: Sequence[tuple[str, int]] | None = None,
    ) -> None:
        self.directory = directory.absolute()
        self.port = port
        self.upstreams = list(host_upstreams() if upstreams is None else upstreams)
        self._child: trio.Process | None = None
        self._lock = trio.Lock()

    @property
    def pidfile(self) -> Path:
        return self.directory / "server.pid"

    @property
    def networks_dir(self) -> Path:
        return self.directory / "networks"

    def running_pid(self) -> int | None:
        self._reap()
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _server_dir(pid) == self.directory else None

    def published(self) -> dict[str, NetworkRecords]:
        found: dict[str, NetworkRecords] = {}
        for path in sorted(self.networks_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError, KeyError, AssertionError):
                records = NetworkRecords.from_json(json.loads(path.read_text()))
                found[records.network_id] = records
        return found

    async def publish(self, records: NetworkRecords) -> None:
        records.check()
        async with self._lock:
            private_dir(self.networks_dir)
            write_atomically(
                self.networks_dir / f"{records.network_id}.json", json.dumps(records.to_json())
            )
            await self._ensure_running()
            errors = await self._reload()
        failed = {address: errors[address] for address in records.listen if address in errors}
        if failed:
            address, reason = next(iter(failed.items()))
            raise NameServerFailed(f"name server cannot listen on {address}:{self.port}: {reason}")

    async def withdraw(self, network_id: str) -> None:
        async with self._lock:
            with contextlib.suppress(FileNotFoundError):
                (self.networks_dir / f"{network_id}.json").unlink()
            if not any(self.networks_dir.glob("*.json")):
                await self._stop()
            elif self.running_pid() is not None:
                await self._reload()

    async def stop(self) -> None:
        async with self._lock:
            await self._stop()

    # -- helpers ----------------------------------------------------------------------

    async def _ensure_running(self) -> None:
        if self.running_pid() is not None:
            return
        private_dir(self.directory)
        write_atomically(
            self.directory / "upstreams",
            "".join(f"{address} {port}\n" for address, port in self.upstreams),
        )
        with open_private(self.directory / "server.log", append=True) as log:
            process = await start_in_session(server_argv(self.directory, self.port), log)
        try:
            line = await first_line(process, READY_TIMEOUT_S)
            if line is None:
                raise NameServerFailed(f"name server did not start within {READY_TIMEOUT_S:.0f} s")
            if not line.startswith(b"ready"):
                raise NameServerFailed(
                    f"name server exited with status {process.returncode}: {self._log_tail()}"
                )
            write_atomically(self.pidfile, f"{process.pid}\n")
        except BaseException:
            with trio.CancelScope(shield=True):
                await kill_and_reap(process)
            raise
        finally:
            assert process.stdout is not None
            with trio.CancelScope(shield=True):
                await process.stdout.aclose()
        self._child = process

    async def _reload(self) -> dict[str, str]:
        """Have the server read its files again; the listen addresses it could not bind."""
        with trio.fail_after(CONTROL_TIMEOUT_S):
            stream = await trio.open_unix_socket(server.control_address(str(self.directory)))
            async with stream:
                await stream.send_all(b"reload\n")
                received = b""
                while not received.endswith(b"\n"):
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        raise NameServerFailed("name server closed its control socket")
                    received += chunk
        errors: dict[str, str] = json.loads(received)["errors"]
        return errors

    async def _stop(self) -> None:
        pid = self.running_pid()
        if pid is not None:
            start_time = process_start_time(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            with trio.move_on_after(STOP_TIMEOUT_S):
                await wait_process_gone(pid, start_time)
            if process_alive(pid, start_time):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                await wait_process_gone(pid, start_time)
        self._reap()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _reap(self) -> None:
        if self._child is not None and self._child.poll() is not None:
            self._child = None

    def _log_tail(self) -> str:
        try:
            lines = (self.directory / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""
