"""Network namespaces made and entered by worker threads: unshare(CLONE_NEWNET) moves only
the calling thread into a fresh namespace, which is bind-mounted onto /run/netns/<name>
(as `ip netns add` does); setns() enters one and brings the thread back to the host's.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from berth.adapters.network.endpoint import _libc_call
from berth.adapters.network.rtnl import Rtnl
from berth.domain.errors import NotFound

NETNS_DIR = Path("/run/netns")
#: The kernel gives loopback index 1 in every network namespace.
LOOPBACK_INDEX = 1

_CLONE_NEWNET = 0x40000000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_SHARED = 0x100000
_MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


class Namespaces:
    """Host-namespace bookkeeping for the worker threads of one NetworkLinks."""

    def __init__(self) -> None:
        self.host_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        host = os.fstat(self.host_fd)
        self.host_inode = host.st_ino
        self.nsfs_dev = host.st_dev
        self._run_dir_ready = False
        self._lock = threading.Lock()

    def close(self) -> None:
        os.close(self.host_fd)

    def to_host(self) -> None:
        """Put the calling thread back into the host namespace if it is elsewhere."""
        if os.stat("/proc/thread-self/ns/net").st_ino != self.host_inode:
            _libc_call(_libc.setns(self.host_fd, _CLONE_NEWNET), "setns to host")

    def is_mounted(self, path: Path) -> bool:
        try:
            return os.stat(path).st_dev == self.nsfs_dev
        except FileNotFoundError:
            return False

    def prepare_run_dir(self) -> None:
        # As iproute2: /run/netns is a shared mount, so unmounting a namespace file also
        # unmounts the copies other mount namespaces made of it and the namespace can die.
        with self._lock:
            if self._run_dir_ready:
                return
            NETNS_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            target = bytes(NETNS_DIR)
            if _libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None) != 0:
                if ctypes.get_errno() != errno.EINVAL:
                    _libc_call(-1, "make /run/netns shared")
                _libc_call(
                    _libc.mount(target, target, b"none", _MS_BIND | _MS_REC, None),
                    "bind /run/netns",
                )
                _libc_call(
                    _libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None),
                    "make /run/netns shared",
                )
            self._run_dir_ready = True

    @contextlib.contextmanager
    def inside(self, name: str, *, create: bool) -> Iterator[bool]:
        """Run the body in the namespace `name`; yields whether it was created just now."""
        path = NETNS_DIR / name
        created = False
        if self.is_mounted(path):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _libc_call(_libc.setns(fd, _CLONE_NEWNET), f"setns {name}")
            finally:
                os.close(fd)
        elif not create:
            raise NotFound(f"network namespace {name} does not exist")
        else:
            self.prepare_run_dir()
            # A file left by a half-done create (crash between open and mount) is reused.
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444))
            _libc_call(_libc.unshare(_CLONE_NEWNET), "unshare")
            created = True
        try:
            if created:
                mounted = _libc.mount(
                    b"/proc/thread-self/ns/net", bytes(path), b"none", _MS_BIND, None
                )
                if mounted != 0:
                    code = ctypes.get_errno()
                    with contextlib.suppress(OSError):
                        path.unlink()
                    raise OSError(code, f"mount {path}: {os.strerror(code)}")
            yield created
        finally:
            _libc_call(_libc.setns(self.host_fd, _CLONE_NEWNET), "setns to host")

    def remove(self, name: str) -> None:
        path = NETNS_DIR / name
        while self.is_mounted(path):
            if _libc.umount2(bytes(path), _MNT_DETACH) != 0:
                code = ctypes.get_errno()
                if code not in (errno.EINVAL, errno.ENOENT):
                    _libc_call(-1, f"umount {path}")
                break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def open_inside(namespaces: Namespaces, name: str, *, create: bool) -> Rtnl:
    with namespaces.inside(name, create=create):
        rtnl = Rtnl()
    try:
        rtnl.set_link(LOOPBACK_INDEX, up=True)
    except BaseException:
        rtnl.close()
        raise
    return rtnl
