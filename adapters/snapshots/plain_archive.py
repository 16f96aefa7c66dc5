"""An uncompressed archive in a regular file (a `docker cp` upload, spooled), read in place.

The layer pipeline reads a stream: every byte of file data goes through Python twice for
an upload (the planning pass, the writing pass). When the archive is a plain tar in a
regular file, neither is needed: the planning pass skips file data by seeking, and the
writing pass has the kernel copy each file's bytes from the archive into the new file
(`copy_file_range`: no copy through user space, a reflink where the filesystem shares
extents). Headers still go through the same parser and policy.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import BinaryIO

from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import LayerRejected

from .decompress import BZIP2_MAGIC, CHUNK, GZIP_MAGIC, XZ_MAGIC, ZSTD_MAGIC


def _corrupt(reason: str) -> InvalidParameter:
    return InvalidParameter(f"failed to unpack layer: {reason}")


def is_plain_file(raw: BinaryIO) -> bool:
    """Whether `raw` is a regular file holding an uncompressed archive."""
    try:
        fd = raw.fileno()
    except (OSError, ValueError):
        return False
    if not os.path.isfile(f"/proc/self/fd/{fd}"):
        return False
    start = raw.tell()
    head = raw.read(6)
    raw.seek(start)
    compressed = (GZIP_MAGIC, ZSTD_MAGIC, BZIP2_MAGIC, XZ_MAGIC)
    return not any(head.startswith(magic) for magic in compressed)


class FileRegion:
    """`length` bytes of the archive at `offset`: a file's data, copied by the kernel."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self.fd, self.offset, self.length = fd, offset, length

    def __iter__(self) -> Iterator[bytes]:
        offset, left = self.offset, self.length
        while left > 0:
            piece = os.pread(self.fd, min(left, CHUNK), offset)
            if not piece:
                raise _corrupt("unexpected end of tar stream")
            offset += len(piece)
            left -= len(piece)
            yield piece

    def copy_into(self, fd: int) -> None:
        """Into `fd` at its position: `copy_file_range` where the two files' filesystems
        allow it (the same one), else `sendfile` (any two files)."""
        offset, left = self.offset, self.length
        copy = _copy_range
        while left > 0:
            try:
                copied = copy(self.fd, fd, left, offset)
            except OSError as error:
                if copy is _send or error.errno not in _NO_COPY_RANGE:
                    raise
                copy = _send
                continue
            if copied == 0:
                raise _corrupt("unexpected end of tar stream")
            offset += copied
            left -= copied


# copy_file_range refuses files of two filesystems (EXDEV), or a filesystem without it.
_NO_COPY_RANGE = (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


def _copy_range(source: int, target: int, count: int, offset: int) -> int:
    return os.copy_file_range(source, target, count, offset)


def _send(source: int, target: int, count: int, offset: int) -> int:
    return os.sendfile(target, source, offset, count)


class PlainArchive:
    """The stream interface TarReader reads (as `HashingStream`), over a plain file."""

    def __init__(self, raw: BinaryIO, max_bytes: int) -> None:
        self._raw = raw
        self._fd = raw.fileno()
        self._end = os.fstat(self._fd).st_size
        self._max = max_bytes
        self._start = raw.tell()
        if self._end - self._start > max_bytes:
            raise LayerRejected(f"layer exceeds {max_bytes} bytes uncompressed")

    @property
    def size(self) -> int:
        return self._raw.tell() - self._start

    def read(self, n: int) -> bytes:
        return self._raw.read(n)

    def exact(self, n: int) -> bytes:
        data = self._raw.read(n)
        if len(data) != n:
            raise _corrupt("unexpected end of tar stream")
        return data

    def _advance(self, n: int) -> int:
        at = self._raw.tell()
        if at + n > self._end:
            raise _corrupt("unexpected end of tar stream")
        self._raw.seek(n, os.SEEK_CUR)
        return at

    def skip(self, n: int) -> None:
        self._advance(n)

    def data(self, n: int) -> FileRegion:
        return FileRegion(self._fd, self._advance(n), n)

    def drain(self) -> None:
        self._raw.seek(0, os.SEEK_END)
