"""Reading a file of a container's root filesystem from the host, safely.

The container owns its root filesystem and may have replaced any file with a FIFO (whose
open blocks), a device node (whose open has the driver's side effects), a huge file, or
a symbolic link aimed at the host. So a file is

- resolved inside the root, as dockerd's FollowSymlinkInScope does: `openat2` with
  RESOLVE_IN_ROOT (an absolute link or `..` never climbs above the root), no magic
  links, no mount crossing; where openat2 is missing (Linux before 5.6), each component is
  opened with O_NOFOLLOW and a link anywhere in the path is not followed at all;
- opened first with O_PATH, which never calls a driver nor waits for a FIFO's writer,
  and refused unless fstat says it is a regular file within the size cap;
- only then opened for reading, through its O_PATH descriptor (same inode, no second
  path walk), with O_NONBLOCK.

Callers run it in a worker thread: it is disk I/O on a filesystem the container fills.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from pathlib import Path

from berth.domain.container_paths import clean_parts
from berth.domain.errors import InvalidParameter

MIB = 1 << 20
SYS_OPENAT2 = 437  # the same number on every architecture (the common syscall table)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
_MISSING = (errno.ENOENT, errno.ENOTDIR)
# No openat2: an old kernel (ENOSYS), or a seccomp filter of an older container engine
# around berthd that answers EPERM for syscalls it does not know.
_NO_OPENAT2 = (errno.ENOSYS, errno.EPERM)
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
}


class UnsafeContainerFile(InvalidParameter):
    """A file berthd must read from a container is not a small regular file (400)."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _openat2(dir_fd: int, path: str, flags: int, resolve: int) -> int:
    how = _OpenHow(flags, 0, resolve)
    fd = _libc.syscall(
        ctypes.c_long(SYS_OPENAT2),
        ctypes.c_int(dir_fd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


def _walk_without_links(root_fd: int, parts: list[str]) -> int:
    """O_PATH descriptor of `parts` under root_fd, every component opened O_NOFOLLOW."""
    fd = os.dup(root_fd)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC | (0 if last else os.O_DIRECTORY)
            next_fd = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_in_root(root: Path, parts: list[str], flags: int = 0) -> int:
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return open_under(root_fd, parts, flags)
    finally:
        os.close(root_fd)


def open_under(root_fd: int, parts: list[str], flags: int = 0) -> int:
    """`open_in_root` given the root's descriptor (for several opens in one root)."""
    for _ in range(16):  # EAGAIN: a rename raced the resolution; try again
        try:
            return _openat2(
                root_fd,
                "/".join(parts),
                os.O_PATH | os.O_CLOEXEC | flags,
                RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
            )
        except OSError as error:
            if error.errno in _NO_OPENAT2:
                return _walk_without_links(root_fd, parts)
            if error.errno != errno.EAGAIN:
                raise
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))


def _read_regular(path_fd: int, shown: str, limit: int) -> bytes:
    status = os.fstat(path_fd)
    if not stat.S_ISREG(status.st_mode):
        kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
        raise UnsafeContainerFile(f"cannot read {shown} of the container: it is {kind}")
    too_big = UnsafeContainerFile(
        f"cannot read {shown} of the container: it is larger than {limit} bytes"
    )
    if status.st_size > limit:
        raise too_big
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    with os.fdopen(os.open(f"/proc/self/fd/{path_fd}", flags), "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew since fstat
        raise too_big
    return data


def read_in_root(root: Path, relative: str, limit: int = MIB) -> str | None:
    """The text of `relative` (e.g. "etc/passwd") inside `root`; None when it is missing.

    Raises UnsafeContainerFile, naming the file, when it is not a regular file or is
    larger than `limit` bytes, and when resolving it fails otherwise (a link loop).
    """
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"not a plain relative path: {relative!r}")
    shown = "/" + "/".join(parts)
    try:
        path_fd = open_in_root(root, parts)
    except OSError as error:
        if error.errno in _MISSING:
            return None
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise UnsafeContainerFile(f"cannot read {shown} of the container: {reason}") from None
    try:
        return _read_regular(path_fd, shown, limit).decode(errors="replace")
    finally:
        os.close(path_fd)


def open_container_path(root: Path, path: str, *, follow_last: bool) -> int:
    """An O_PATH descriptor of `path` as the container sees it in `root`: links inside the
    path resolved within the root (the last one only if `follow_last`). OSError (ENOENT
    for a missing path) otherwise."""
    parts = clean_parts(path)
    if not parts:
        return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return open_in_root(root, parts, 0 if follow_last else os.O_NOFOLLOW)
