"""Where the files of an archive copied into a container wait until the whole archive
is accepted, so that each byte is written once and a refused archive leaves nothing.

A file's content goes, as it arrives, into an unnamed file (`O_TMPFILE`) made in the
target directory's own filesystem, its owner, mode, xattrs and mtime set on it there;
once the last entry has been accepted it is linked into place (linkat through
/proc/self/fd): no second write. An unnamed file vanishes with its descriptor, so a
refused archive, a failure or a crash leaves nothing behind.

Each waiting file holds a descriptor, so at most `budget` wait this way (a share of the
process's descriptor limit); the contents of the files past it, and of every file when
the target's filesystem has no `O_TMPFILE`, go into one unnamed heap file in
`heap_dir` and are copied into place from there (copy_file_range): the price is a second
write of those bytes only. A file the archive names as a region of a file it is already
in (a spooled archive read in place) waits where it is.
"""

from __future__ import annotations

import errno
import os
import resource
import tempfile
from pathlib import Path
from typing import IO

from berth.domain.layer_entries import WriteFile

from .plain_archive import FileRegion
from .tarstream import Data
from .unpack import set_file_metadata, write_all

MAX_BUDGET = 4096
# The errors of a filesystem (or kernel) without O_TMPFILE.
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)


def default_budget() -> int:
    """Unnamed files that may wait at once: a quarter of the descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(MAX_BUDGET, max(0, soft // 4))


def open_unnamed(dir_fd: int) -> int:
    """A new unnamed file in the filesystem of the directory `dir_fd`."""
    return os.open(".", os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)


class StagedFile:
    """An unnamed file of the target's filesystem, content and metadata set."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size

    def place(self, parent: int, name: str) -> bool:
        """Link it as `name` in the directory `parent`; False when `parent` is on another
        filesystem (a mount below the target), where it has to be copied."""
        try:
            os.link(f"/proc/self/fd/{self.fd}", name, dst_dir_fd=parent, follow_symlinks=True)
        except OSError as error:
            if error.errno == errno.EXDEV:
                return False
            raise
        return True

    def region(self) -> FileRegion:
        return FileRegion(self.fd, 0, self.size)


Staged = StagedFile | FileRegion


class Staging:
    """The waiting contents of one archive's files; `close` lets go of all of them."""

    def __init__(self, target_fd: int, heap_dir: Path | None, budget: int | None) -> None:
        self._target = target_fd
        self._heap_dir = heap_dir
        self._budget = default_budget() if budget is None else budget
        self._files: list[int] = []
        self._heap: IO[bytes] | None = None
        self._heap_end = 0

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._files:
            os.close(fd)
        self._files.clear()
        if self._heap is not None:
            self._heap.close()
            self._heap = None

    def stage(self, action: WriteFile, data: Data) -> Staged:
        """The file's content (all of `data`), kept until the archive is accepted."""
        if isinstance(data, FileRegion):
            return data
        fd = self._unnamed()
        if fd is None:
            return self._on_heap(data)
        size = 0
        for piece in data:
            write_all(fd, piece)
            size += len(piece)
        set_file_metadata(fd, action)
        return StagedFile(fd, size)

    def _unnamed(self) -> int | None:
        if len(self._files) >= self._budget:
            return None
        try:
            fd = open_unnamed(self._target)
        except OSError as error:
            if error.errno not in _NO_TMPFILE:
                raise
            self._budget = 0
            return None
        self._files.append(fd)
        return fd

    def _on_heap(self, data: Data) -> FileRegion:
        if self._heap is None:
            if self._heap_dir is not None:
                self._heap_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._heap = tempfile.TemporaryFile(dir=self._heap_dir)  # noqa: SIM115 (close())
        fd, start = self._heap.fileno(), self._heap_end
        for piece in data:
            write_all(fd, piece)
            self._heap_end += len(piece)
        return FileRegion(fd, start, self._heap_end - start)
