"""A directory tree written as a tar stream, read through file descriptors only.

The tree may belong to a running container, which can swap any directory for a symbolic
link to the host while berthd reads it (CVE-2018-15664 was exactly that race in
dockerd). So nothing here walks a path string: every directory is opened relative to its
parent's descriptor with O_NOFOLLOW | O_DIRECTORY, every file with O_NOFOLLOW and
O_NONBLOCK, and only once lstat said it is a regular file (a FIFO's or device's open is
never made), then checked again with fstat on the descriptor itself.

`TreeTar` writes `docker cp`'s and `docker export`'s archives and, with
`overlay_whiteouts`, a layer from an overlay upper directory: a 0/0 character device is
written as the OCI whiteout `.wh.<name>`, an opaque directory gets `.wh..wh..opq`, and
the mount points the engine left empty are not the container's (domain/commit.py).
Entries follow dockerd's: seconds for mtimes, hardlinks within the archive as links,
sockets skipped, `security.capability` kept as a PAX xattr record.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from berth.domain.commit import is_engine_stub
from berth.domain.layer_entries import WHITEOUT_OPAQUE, WHITEOUT_PREFIX

from .dir_handles import DIR_FLAGS as _DIR_FLAGS

OPAQUE_XATTR = "trusted.overlay.opaque"
KEPT_XATTRS = ("security.capability",)
CHUNK = 1 << 20
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# What a container may do to its tree meanwhile: the entry is gone or is no more of the
# kind lstat saw; it is left out, as if the walk had come a moment later.
_RACED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENXIO)
_TYPES = {
    stat.S_IFCHR: tarfile.CHRTYPE,
    stat.S_IFBLK: tarfile.BLKTYPE,
    stat.S_IFIFO: tarfile.FIFOTYPE,
}


@runtime_checkable
class TarSink(Protocol):
    """Where a tar stream goes when it is not a plain file object: a reply body written
    straight to a client's socket."""

    def write(self, data: bytes) -> None: ...

    def send_file(self, fd: int, count: int) -> None:
        """Exactly `count` bytes: the file's, from its offset, and zeros past its end."""
        ...

    def flush(self) -> None: ...


class _FileSink:
    """A file object as a sink. A file's data goes with sendfile(2) when the object has a
    descriptor (the pipe of an export): the kernel moves it, no Python buffer on the way."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        try:
            self._fd: int | None = out.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            self._fd = None

    def write(self, data: bytes) -> None:
        self._out.write(data)

    def send_file(self, fd: int, count: int) -> None:
        left = count
        if self._fd is not None:
            self._out.flush()
            while left and (sent := os.sendfile(self._fd, fd, None, min(left, CHUNK))):
                left -= sent
        while left and (data := os.read(fd, min(left, CHUNK))):
            self._out.write(data)
            left -= len(data)
        while left:
            self._out.write(bytes(min(left, CHUNK)))
            left -= min(left, CHUNK)

    def flush(self) -> None:
        self._out.flush()


class _TarOut:
    """One tar stream onto a sink, laid out as tarfile's: PAX headers, data padded to
    blocks, two zero blocks and a record's padding at the end."""

    def __init__(self, out: BinaryIO | TarSink) -> None:
        self._sink = out if isinstance(out, TarSink) else _FileSink(out)
        self._offset = 0

    def _write(self, data: bytes) -> None:
        self._sink.write(data)
        self._offset += len(data)

    def add(self, info: tarfile.TarInfo, fd: int | None = None) -> None:
        """The entry, and `info.size` bytes of `fd` as its data: cut if the file grew,
        padded with zeros if it shrank (the header already promised `size`)."""
        self._write(info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape"))
        if fd is not None and info.size:
            self._sink.send_file(fd, info.size)
            self._offset += info.size
        self._write(bytes(-self._offset % tarfile.BLOCKSIZE))

    def close(self) -> None:
        self._write(bytes(2 * tarfile.BLOCKSIZE))
        self._write(bytes(-self._offset % tarfile.RECORDSIZE))
        self._sink.flush()


def is_empty(status: os.stat_result, dir_fd: int | None) -> bool:
    """An empty regular file, or a directory (open as `dir_fd`) with no entries."""
    if stat.S_ISREG(status.st_mode):
        return status.st_size == 0
    return dir_fd is not None and stat.S_ISDIR(status.st_mode) and not os.listdir(dir_fd)


def _is_whiteout(status: os.stat_result) -> bool:
    return stat.S_ISCHR(status.st_mode) and status.st_rdev == os.makedev(0, 0)


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _xattrs(fd: int) -> dict[str, str]:
    records = {}
    for key in KEPT_XATTRS:
        try:
            value = os.getxattr(fd, key)
        except OSError:
            continue
        records["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    return records


@contextmanager
def _opened(name: str, flags: int, dir_fd: int | None) -> Iterator[int | None]:
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as error:
        if error.errno not in _RACED:
            raise
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


class TreeTar:
    """Writes entries to one tar stream (`out`), then `close()` writes its end."""

    def __init__(
        self,
        out: BinaryIO | TarSink,
        *,
        overlay_whiteouts: bool = False,
        mounts: Mapping[str, Path] | None = None,
    ) -> None:
        """`mounts`: entries (by archive name) whose content is another host path, a
        bind's or a volume's source, as the container sees it there."""
        self._tar = _TarOut(out)
        self._whiteouts = overlay_whiteouts
        self._links: dict[tuple[int, int], str] = {}
        self._mounts = dict(mounts or {})

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> TreeTar:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:  # after a failure (a client gone), no end-of-archive
            self.close()

    def _info(self, name: str, status: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(status.st_mode)
        info.uid, info.gid = status.st_uid, status.st_gid
        info.mtime = int(status.st_mtime)
        return info

    def add(self, dir_fd: int, name: str, arcname: str) -> None:
        """The entry `name` of the directory `dir_fd` as `arcname`, a directory with all
        it holds."""
        source = self._mounts.get(arcname)
        if source is not None:
            with _opened(str(source.parent), _DIR_FLAGS & ~os.O_NOFOLLOW, None) as parent:
                if parent is not None:
                    self._mounts.pop(arcname)  # once, whatever the source holds
                    self.add(parent, source.name, arcname)
            return
        try:
            status = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as error:
            if error.errno in _RACED:
                return
            raise
        self._entry(dir_fd, name, arcname, status)

    def add_children(self, dir_fd: int, prefix: str) -> None:
        """Every entry of the directory `dir_fd`, named under `prefix` ("" for none)."""
        for child in sorted(os.listdir(dir_fd)):
            self.add(dir_fd, child, f"{prefix}/{child}" if prefix else child)

    def _engine_stub(self, dir_fd: int, name: str, arcname: str, st: os.stat_result) -> bool:
        if not self._whiteouts or not is_engine_stub("/" + arcname, True):
            return False
        if not stat.S_ISDIR(st.st_mode):
            return is_empty(st, None)
        with _opened(name, _DIR_FLAGS, dir_fd) as fd:
            return fd is not None and is_empty(st, fd)

    def _entry(self, dir_fd: int, name: str, arcname: str, status: os.stat_result) -> None:
        if self._engine_stub(dir_fd, name, arcname, status):
            return
        kind = stat.S_IFMT(status.st_mode)
        info = self._info(arcname, status)
        if kind == stat.S_IFDIR:
            self._directory(dir_fd, name, info)
        elif kind == stat.S_IFREG:
            self._file(dir_fd, name, info, status)
        elif kind == stat.S_IFLNK:
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dir_fd)
            self._tar.add(info)
        elif self._whiteouts and _is_whiteout(status):
            head, _, base = arcname.rpartition("/")
            whiteout = self._info(f"{head}/{WHITEOUT_PREFIX}{base}".lstrip("/"), status)
            whiteout.mode = 0o600
            self._tar.add(whiteout)
        elif kind in _TYPES:
            info.type = _TYPES[kind]
            if kind != stat.S_IFIFO:
                info.devmajor = os.major(status.st_rdev)
                info.devminor = os.minor(status.st_rdev)
            self._tar.add(info)
        # sockets are not archived, as dockerd's tar writer leaves them out

    def _directory(self, dir_fd: int, name: str, info: tarfile.TarInfo) -> None:
        with _opened(name, _DIR_FLAGS, dir_fd) as fd:
            if fd is None:
                return
            info.type = tarfile.DIRTYPE
            self._tar.add(info)
            prefix = info.name.rstrip("/")
            if self._whiteouts and _opaque(fd):
                marker = tarfile.TarInfo(f"{prefix}/{WHITEOUT_OPAQUE}".lstrip("/"))
                marker.mode, marker.uid, marker.gid = info.mode, info.uid, info.gid
                marker.mtime = info.mtime
                self._tar.add(marker)
            self.add_children(fd, prefix)

    def _file(self, dir_fd: int, name: str, info: tarfile.TarInfo, status: os.stat_result) -> None:
        key = (status.st_dev, status.st_ino)
        if status.st_nlink > 1 and key in self._links:
            info.type, info.linkname = tarfile.LNKTYPE, self._links[key]
            self._tar.add(info)
            return
        with _opened(name, _FILE_FLAGS, dir_fd) as fd:
            if fd is None:
                return
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != key:
                return  # replaced since lstat: not what the header was made from
            info.size = opened.st_size
            info.pax_headers = _xattrs(fd)
            self._tar.add(info, fd)
        if status.st_nlink > 1:
            self._links[key] = info.name


def write_tree(out: BinaryIO | TarSink, dir_fd: int, *, overlay_whiteouts: bool = False) -> None:
    """The whole tree under `dir_fd` (its entries, not itself) as a tar on `out`."""
    with TreeTar(out, overlay_whiteouts=overlay_whiteouts) as tree:
        tree.add_children(dir_fd, "")
