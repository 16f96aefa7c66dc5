"""Listening: a unix socket with its mode and owner, loopback TCP, and the accept loop."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import trio

log = logging.getLogger("berth.http")
ACCEPT_RETRY_S = 0.1
BACKLOG = 128


def check_socket_free(path: Path) -> None:
    """FileExistsError if another process serves (or a non-socket file sits) at `path`."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        if _answers(path):
            raise FileExistsError(f"another daemon is serving unix://{path}")


def _answers(path: Path) -> bool:
    """Whether a process accepts connections on the unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


@contextlib.asynccontextmanager
async def unix_listener(
    path: Path, mode: int, owner: tuple[int, int] | None = None
) -> AsyncIterator[trio.SocketListener]:
    """A listener on a unix socket at `path`, created with `mode` (never wider while it is
    being bound) and `owner` (uid, gid); a stale socket of a process that is gone is
    replaced, one that answers is not. The socket file is removed when the listener ends."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    check_socket_free(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o777 & ~mode)
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, *owner)
    sock.listen(BACKLOG)
    listener = trio.SocketListener(sock)
    try:
        yield listener
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        with trio.CancelScope(shield=True):
            await listener.aclose()


async def serve_listeners(
    listeners: Sequence[trio.SocketListener],
    handle: Callable[[trio.SocketStream], Awaitable[None]],
    ready: Callable[[], None],
) -> None:
    """Accept on every listener and `handle` each connection in its own task, until
    cancelled; `ready()` is called once they accept. The listeners are closed at the end."""
    try:
        async with trio.open_nursery() as nursery:
            ready()
            for listener in listeners:
                nursery.start_soon(_accept_loop, listener, handle, nursery)
    finally:
        with trio.CancelScope(shield=True):
            for listener in listeners:
                with contextlib.suppress(Exception):
                    await listener.aclose()


async def _accept_loop(
    listener: trio.SocketListener,
    handle: Callable[[trio.SocketStream], Awaitable[None]],
    nursery: trio.Nursery,
) -> None:
    while True:
        try:
            stream = await listener.accept()
        except OSError as error:  # EMFILE and friends: wait, do not die
            log.warning("accept failed: %s", error)
            await trio.sleep(ACCEPT_RETRY_S)
            continue
        nursery.start_soon(handle, stream)
