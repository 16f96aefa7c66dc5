"""Unpack one image layer blob into a new directory, without ever leaving it.

`unpack_layer(blob, target)` is synchronous and blocking; the runtime calls it through
`trio.to_thread.run_sync`. It changes no process-wide state (no umask, no chdir).

The pipeline, all streaming, so memory stays bounded whatever the layer's size:

1. the blob is decompressed in-process (gzip or zstd, told apart by magic bytes; any
   other blob is read as a plain tar);
2. the uncompressed stream is hashed (the layer's diff_id) and counted as it is read,
   and refused past `LayerLimits.max_bytes` (a decompression bomb stops there);
3. our own tar header parser (ustar, GNU long names, PAX records; no `tarfile`
   extraction) turns each header into an `Entry`;
4. the pure `LayerPlanner` (berth.domain.layers) decides what the entry does;
5. `LayerWriter` carries the actions out relative to an O_DIRECTORY fd of the target,
   reaching each directory by opening its path's components with O_NOFOLLOW, once
   (dir_handles.py), so a symlink in the tree is never followed, whatever the planner
   let through. Files are created
   with O_EXCL; ownership is set with lchown semantics; modes through an fd, or with
   AT_SYMLINK_NOFOLLOW for device nodes, which are never opened; symlinks are never
   chmod-ed.

Any failure removes the partly written target and raises: `LayerRejected` for a policy
violation or a budget, `InvalidParameter("failed to unpack layer: ...")` for a corrupt or
truncated stream, `DiskFull` when the disk is, and the `OSError` itself for another local
filesystem failure.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

from berth.domain.errors import space_for
from berth.domain.layer_entries import (
    DEFAULT_LIMITS,
    Action,
    EntryType,
    Hardlink,
    LayerLimits,
    MakeDevice,
    MakeDir,
    OpaqueDir,
    Remove,
    SetDirMetadata,
    Skip,
    Symlink,
    Whiteout,
    WriteFile,
    Xattrs,
)
from berth.domain.layers import LayerPlanner

from .decompress import HashingStream, decompressed
from .dir_handles import DIR_FLAGS, DirectoryHandles
from .plain_archive import FileRegion
from .tarstream import Data, TarReader, read_entries

__all__ = ["LayerWriter", "UnpackResult", "read_entries", "unpack_layer"]

OPAQUE_XATTR = "trusted.overlay.opaque"

_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_IGNORED_XATTR_ERRORS = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM})
_DEVICE_FORMAT = {
    EntryType.CHAR: stat.S_IFCHR,
    EntryType.BLOCK: stat.S_IFBLK,
    EntryType.FIFO: stat.S_IFIFO,
}


@dataclass(frozen=True, slots=True)
class UnpackResult:
    diff_id: str  # "sha256:<hex>" of the uncompressed tar stream
    size: int  # bytes of the uncompressed tar stream
    entries: int  # tar entries in the layer


# -- the filesystem side ---------------------------------------------------------------


def _components(path: str) -> list[str]:
    parts = path.split("/") if path else []
    for part in parts:
        if part in ("", ".", "..") or "\0" in part:
            raise ValueError(f"unsafe path {path!r}")
    return parts


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def set_file_metadata(fd: int, action: WriteFile) -> None:
    """A written file's owner, mode, xattrs and mtime, through its descriptor."""
    # chown before chmod (chown clears setuid/setgid); xattrs after both, since writes
    # and chown drop security.capability.
    os.fchown(fd, action.uid, action.gid)
    os.fchmod(fd, action.mode)
    _set_xattrs(fd, action.xattrs)
    os.utime(fd, ns=(action.mtime_ns, action.mtime_ns))


def _set_xattrs(fd: int, xattrs: Xattrs) -> None:
    for key, value in xattrs:
        try:
            os.setxattr(fd, key, value)
        except OSError as err:
            if err.errno not in _IGNORED_XATTR_ERRORS:
                raise


class LayerWriter:
    """Carries out planner actions under one root directory fd, never following a
    symlink: each directory is reached from the root component by component, each
    opened O_DIRECTORY | O_NOFOLLOW (once: dir_handles.py). Close it when done."""

    def __init__(self, root_fd: int) -> None:
        self._dirs = DirectoryHandles(root_fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._dirs.close()

    def apply(self, action: Action, data: Data = ()) -> None:
        """Carry out one action; `data` is the file content of a WriteFile."""
        self._dirs.trim()
        if isinstance(action, WriteFile):
            self._write_file(action, data)
        elif isinstance(action, MakeDir):
            self._make_dir(action)
        elif isinstance(action, Symlink):
            self._symlink(action)
        elif isinstance(action, Hardlink):
            self._hardlink(action)
        elif isinstance(action, MakeDevice):
            self._make_device(action)
        elif isinstance(action, Whiteout):
            parts = _components(action.path)
            self._dirs.forget(parts)  # about to be removed or replaced
            parent = self._dirs.open(parts[:-1])
            os.mknod(parts[-1], stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
        elif isinstance(action, OpaqueDir):
            fd = self._dirs.open(_components(action.path))
            os.setxattr(fd, OPAQUE_XATTR, b"y")
        elif isinstance(action, Remove):
            self._remove(action)
        elif isinstance(action, SetDirMetadata):
            self._dir_metadata(action)
        elif not isinstance(action, Skip):
            raise TypeError(f"unknown action {action!r}")

    def _write_file(self, action: WriteFile, data: Data) -> None:
        parts = _components(action.path)
        parent = self._dirs.open(parts[:-1])
        fd = os.open(parts[-1], _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            if isinstance(data, FileRegion):
                data.copy_into(fd)
            else:
                for piece in data:
                    write_all(fd, piece)
            set_file_metadata(fd, action)
        finally:
            os.close(fd)

    def _make_dir(self, action: MakeDir) -> None:
        parts = _components(action.path)
        if parts:
            parent = self._dirs.open(parts[:-1])
            with suppress(FileExistsError):
                os.mkdir(parts[-1], 0o700, dir_fd=parent)  # a dir over a dir merges
        fd = self._dirs.open(parts)  # and it must be a directory, not a symlink to one
        _set_xattrs(fd, action.xattrs)

    def _symlink(self, action: Symlink) -> None:
        parts = _components(action.path)
        parent = self._dirs.open(parts[:-1])
        os.symlink(action.target, parts[-1], dir_fd=parent)
        os.chown(parts[-1], action.uid, action.gid, dir_fd=parent, follow_symlinks=False)
        times = (action.mtime_ns, action.mtime_ns)
        os.utime(parts[-1], ns=times, dir_fd=parent, follow_symlinks=False)

    def _hardlink(self, action: Hardlink) -> None:
        parts, target = _components(action.path), _components(action.target)
        source = self._dirs.open(target[:-1])
        parent = self._dirs.open(parts[:-1])
        os.link(
            target[-1],
            parts[-1],
            src_dir_fd=source,
            dst_dir_fd=parent,
            follow_symlinks=False,  # a hardlink to a symlink links the symlink
        )

    def _make_device(self, action: MakeDevice) -> None:
        parts = _components(action.path)
        kind = _DEVICE_FORMAT[action.kind]
        parent = self._dirs.open(parts[:-1])
        device = os.makedev(action.major, action.minor)
        os.mknod(parts[-1], kind | 0o600, device, dir_fd=parent)
        os.chown(parts[-1], action.uid, action.gid, dir_fd=parent, follow_symlinks=False)
        # fchmodat(AT_SYMLINK_NOFOLLOW): device nodes are never opened
        os.chmod(parts[-1], action.mode, dir_fd=parent, follow_symlinks=False)
        times = (action.mtime_ns, action.mtime_ns)
        os.utime(parts[-1], ns=times, dir_fd=parent, follow_symlinks=False)

    def _remove(self, action: Remove) -> None:
        parts = _components(action.path)
        parent = self._dirs.open(parts[:-1])
        try:
            mode = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return
        self._dirs.forget(parts)  # about to be removed or replaced
        if stat.S_ISDIR(mode):
            shutil.rmtree(parts[-1], dir_fd=parent)  # fd-based, never follows symlinks
        else:
            os.unlink(parts[-1], dir_fd=parent)

    def _dir_metadata(self, action: SetDirMetadata) -> None:
        fd = self._dirs.open(_components(action.path))
        if action.uid is not None or action.gid is not None:
            uid = -1 if action.uid is None else action.uid
            gid = -1 if action.gid is None else action.gid
            os.fchown(fd, uid, gid)
        os.fchmod(fd, action.mode)
        if action.mtime_ns is not None:
            os.utime(fd, ns=(action.mtime_ns, action.mtime_ns))


# -- the whole thing -------------------------------------------------------------------


def _unpack(raw: BinaryIO, root_fd: int, limits: LayerLimits) -> UnpackResult:
    stream = HashingStream(decompressed(raw), limits.max_bytes)
    tar = TarReader(stream)
    planner = LayerPlanner(limits)
    with LayerWriter(root_fd) as writer:
        while (entry := tar.next_entry()) is not None:
            for action in planner.feed(entry):
                writer.apply(action, tar.data() if isinstance(action, WriteFile) else ())
        for metadata in planner.finish():
            writer.apply(metadata)
    stream.drain()  # the diff_id covers the whole stream, padding after the tar included
    return UnpackResult(diff_id=stream.diff_id, size=stream.size, entries=planner.entries)


def unpack_layer(blob: Path, target: Path, limits: LayerLimits = DEFAULT_LIMITS) -> UnpackResult:
    """Unpack the layer `blob` into `target`, which must not exist yet (its parent must).

    On any failure nothing is left at `target`.
    """
    with open(blob, "rb") as raw:
        return unpack_stream(raw, target, limits)


def unpack_stream(
    raw: BinaryIO, target: Path, limits: LayerLimits = DEFAULT_LIMITS
) -> UnpackResult:
    """`unpack_layer` of a blob already open."""
    with space_for(target):
        os.mkdir(target, 0o700)  # FileExistsError for anything already there, symlinks too
        try:
            root_fd = os.open(target, DIR_FLAGS)
            try:
                return _unpack(raw, root_fd, limits)
            finally:
                os.close(root_fd)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)  # does not follow symlinks
            raise
