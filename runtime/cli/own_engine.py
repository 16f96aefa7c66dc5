"""A `berth` command's own engine: berthd's host (runtime/host.py), run by trio in a thread
of this process, serving the API on a private socket under the root (ADR/0024).

The command is a client of it like of any berthd. An engine that acts holds the root's
lock, with its socket in the lock file, so that another `berth` command on the root
becomes its client instead of waiting; when the command ends, the engine takes no new
connection, lets the requests of such clients finish, and stops. The containers keep
running under their monitors, as after berthd stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import trio

from berth.adapters.rootlock import RootLock, RootLocked

from ..host import Host, HostSettings, Serving

log = logging.getLogger("berth")
#: sun_path holds 108 bytes, the terminating NUL included.
SOCKET_PATH_MAX = 107


def own_socket(root: Path) -> Path:
    """The engine's socket: under the root's run dir, or a private temporary directory
    when that path is too long for a unix socket."""
    path = root / "run" / f"berth-{os.getpid()}.sock"
    if len(os.fsencode(path.absolute())) <= SOCKET_PATH_MAX:
        return path.absolute()
    return Path(tempfile.mkdtemp(prefix="berth-")) / "berth.sock"


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class OwnEngine:
    """The host in a thread: `start()` returns once it serves, `stop()` ends it."""

    def __init__(self, settings: HostSettings, lock: RootLock | None) -> None:
        self.settings = settings
        self.lock = lock
        self.serving = Serving(settings.socket, 0)
        self._thread = threading.Thread(target=self._run, name="berth-engine", daemon=True)
        self._ready = threading.Event()
        self._started = False
        self._failure: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stopping: trio.Event | None = None

    def start(self) -> Serving:
        """Serve; the host's error if it could not (the log does not verify, ...)."""
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            self._release()
            raise _leaf(self._failure)
        self._started = True
        return self.serving

    def stop(self) -> None:
        if self._token is not None and self._stopping is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stopping.set, trio_token=self._token)
        self._thread.join()
        self._release()
        if self._failure is not None and self._started:
            log.error("the engine of this command failed", exc_info=self._failure)

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
        if not self.settings.socket.is_relative_to(self.settings.root.absolute()):
            shutil.rmtree(self.settings.socket.parent, ignore_errors=True)  # own temporary dir

    def _run(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as error:  # told to start(), or logged by stop()
            self._failure = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        host = Host(self.settings, self.lock)
        self._stopping = trio.Event()
        async with trio.open_nursery() as nursery:
            self.serving = await nursery.start(host.serve)
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stopping.wait()
            await host.drain()
            nursery.cancel_scope.cancel()


def start_own_engine(
    root: Path,
    *,
    acting: bool,
    insecure: tuple[str, ...],
    ignore_log_verification: bool,
    store: str | None = None,
    host_id: str = "",
) -> OwnEngine | None:
    """This command's engine on `root`, serving; None when `acting` and another process
    took the root first."""
    socket = own_socket(root)
    lock = None
    if acting:
        lock = RootLock(root)
        try:
            lock.acquire("berth", socket)
        except RootLocked:
            return None
    settings = HostSettings(
        root,
        socket,
        kind="berth",
        acting=acting,
        insecure=insecure,
        ignore_log_verification=ignore_log_verification,
        store=store,
        host_id=host_id,
    )
    engine = OwnEngine(settings, lock)
    engine.start()
    return engine
