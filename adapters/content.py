"""A content-addressed blob store: `root/blobs/sha256/<hex>`, nothing else.

A blob becomes visible only once it is complete and verified: `ingest` hashes the bytes
while it writes them to a private temp file under `root/ingest/`, compares size and
digest at the end, fsyncs, and only then renames the file into `blobs/`. Every failure
(a wrong digest, a short or long stream, an I/O error, a cancellation) removes the temp
file, so a blob path either does not exist or holds exactly the bytes its name says.

Two ingests of the same digest never share a temp file; both verify their own bytes, and
the later rename replaces an identical file atomically, so readers never see a torn
blob. Digests are validated before they are used in a path (`sha256:` + 64 lowercase
hex): an id from the outside can never name a file outside the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterable
from pathlib import Path
from typing import BinaryIO, Protocol

import trio

from berth.domain.errors import InvalidParameter, NotFound, space_for

from .private_files import FILE_MODE, private_dir

DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")
_HEX_PATTERN = re.compile(r"[0-9a-f]{64}")
# Bytes gathered before they are hashed and written, in two worker threads at once:
# large enough that the thread hops cost nothing measurable, small enough to keep memory
# flat. Hashing is the bottleneck (sha256 runs at a few hundred MB/s without SHA-NI).
WRITE_BATCH = 4 * 1024 * 1024
_IOV_MAX = 1024


class DigestMismatch(InvalidParameter):
    """The bytes received are not the bytes the digest or size promised."""


def check_digest(digest: object) -> str:
    """Return the hex part of a `sha256:<64 hex>` digest, or raise InvalidParameter."""
    if not isinstance(digest, str) or not DIGEST_PATTERN.fullmatch(digest):
        raise InvalidParameter(f"invalid digest {digest!r}: expected sha256:<64 hex>")
    return digest[len("sha256:") :]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Blobs(Protocol):
    """What the service and the registry client may rely on from a content store.

    A blob is visible only once complete and verified, and then holds exactly the bytes
    its digest names: after a crash there is no torn blob, only leftovers for
    `discard_partial`. Every digest is checked before use (`sha256:` + 64 lowercase
    hex, else `InvalidParameter`). A write that finds no space is `DiskFull` naming the
    blob, and leaves nothing. tests/fakes/content.py keeps these promises in memory;
    tests/contracts/test_content_contract.py holds both to them.
    """

    def has(self, digest: str) -> bool:
        """Whether the blob is stored (complete and verified)."""
        ...

    def digests(self) -> list[str]:
        """Every stored blob's digest, sorted."""
        ...

    def read_bytes(self, digest: str, limit: int) -> bytes:
        """The whole blob; `NotFound` if absent, `InvalidParameter` past `limit` bytes."""
        ...

    def open(self, digest: str) -> BinaryIO:
        """The blob to read as a stream (the caller closes it); `NotFound` if absent."""
        ...

    def write_bytes(self, digest: str, data: bytes) -> object:
        """Store `data` under `digest`; `DigestMismatch` if it is not what the digest
        names. Storing a blob already there is a no-op."""
        ...

    async def ingest(self, digest: str, size: int | None, chunks: AsyncIterable[bytes]) -> object:
        """Stream `chunks` into the blob; `DigestMismatch` for a wrong size (if given) or
        digest, found as soon as the stream overruns `size`. A blob already there is not
        read again. On any failure or cancellation nothing becomes visible."""
        ...

    def delete(self, digest: str) -> None:
        """Remove the blob; an absent one is fine."""
        ...

    def discard_partial(self) -> list[str]:
        """Remove what writes cut short by a crash left (never visible as blobs); what was
        removed. Only while nothing writes."""
        ...


class ContentStore:
    """Verified blobs by digest (the real `Blobs`). Safe to share between tasks and threads."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs" / "sha256"
        self._ingest = self.root / "ingest"
        # Private from content/ down: a blob can be a private image's layer.
        for directory in (self.root, self.root / "blobs", self._blobs, self._ingest):
            private_dir(directory)

    def discard_partial(self) -> list[str]:
        """Remove downloads a crash cut short (never committed). Only while nothing
        downloads."""
        removed = []
        for entry in self._ingest.iterdir():
            _unlink(entry)
            removed.append(str(entry))
        return removed

    def path(self, digest: str) -> Path:
        return self._blobs / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    def digests(self) -> list[str]:
        return sorted(
            "sha256:" + entry.name
            for entry in self._blobs.iterdir()
            if _HEX_PATTERN.fullmatch(entry.name)
        )

    def delete(self, digest: str) -> None:
        """Remove a blob; removing one that is absent is not an error."""
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    def read_bytes(self, digest: str, limit: int) -> bytes:
        """The whole blob, refused when it is larger than `limit` bytes."""
        path = self.path(digest)
        try:
            with path.open("rb") as f:
                data = f.read(limit + 1)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None
        if len(data) > limit:
            raise InvalidParameter(f"blob {digest} is larger than the limit of {limit} bytes")
        return data

    def write_bytes(self, digest: str, data: bytes) -> Path:
        """Store `data` under `digest` after checking that it is what the digest names.

        Like `ingest`, a full disk is `DiskFull` naming the blob, and leaves nothing."""
        with space_for(self.path(digest)):
            return self._write_bytes(digest, data)

    def _write_bytes(self, digest: str, data: bytes) -> Path:
        final = self.path(digest)
        actual = sha256_digest(data)
        if actual != digest:
            raise DigestMismatch(f"failed to verify digest: expected {digest}, got {actual}")
        if final.is_file():
            return final
        fd, temp = self._open_temp(digest)
        try:
            try:
                _write(fd, [data], True)
            finally:
                os.close(fd)
            self._commit(temp, final)
        except BaseException:
            _unlink(temp)
            raise
        return final

    async def ingest(self, digest: str, size: int | None, chunks: AsyncIterable[bytes]) -> Path:
        """Stream `chunks` into the blob `digest`; verify size (if given) and digest.

        When the blob is already present the chunks are not read and its path is
        returned. A stream longer than `size` is cut off as soon as it overruns. A full
        disk is `DiskFull` naming the blob.
        """
        with space_for(self.path(digest)):
            return await self._stream_in(digest, size, chunks)

    async def _stream_in(self, digest: str, size: int | None, chunks: AsyncIterable[bytes]) -> Path:
        final = self.path(digest)
        if size is not None and size < 0:
            raise InvalidParameter(f"invalid size {size} for blob {digest}")
        if final.is_file():
            return final
        fd, temp = self._open_temp(digest)
        hasher = hashlib.sha256()
        written = 0
        try:
            try:
                batch: list[bytes] = []
                pending = 0
                async for chunk in chunks:
                    written += len(chunk)
                    if size is not None and written > size:
                        raise DigestMismatch(
                            f"unexpected size: expected {size}, got at least {written}"
                        )
                    batch.append(chunk)
                    pending += len(chunk)
                    if pending >= WRITE_BATCH:
                        await _hash_and_write(fd, hasher, batch, False)
                        batch, pending = [], 0
                await _hash_and_write(fd, hasher, batch, True)
            finally:
                os.close(fd)
            if size is not None and written != size:
                raise DigestMismatch(f"unexpected size: expected {size}, got {written}")
            actual = "sha256:" + hasher.hexdigest()
            if actual != digest:
                raise DigestMismatch(f"failed to verify digest: expected {digest}, got {actual}")
            await trio.to_thread.run_sync(self._commit, temp, final)
        except BaseException:
            _unlink(temp)
            raise
        return final

    def _open_temp(self, digest: str) -> tuple[int, Path]:
        name = f"{check_digest(digest)}.{secrets.token_hex(8)}"
        temp = self._ingest / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        return os.open(temp, flags, FILE_MODE), temp

    def _commit(self, temp: Path, final: Path) -> None:
        if final.is_file():
            # Someone else committed the same verified bytes first; keep theirs.
            _unlink(temp)
            return
        os.rename(temp, final)
        dir_fd = os.open(self._blobs, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


async def _hash_and_write(fd: int, hasher: hashlib._Hash, batch: list[bytes], sync: bool) -> None:
    """Hash and write `batch` in two worker threads at once (both release the GIL)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, _hash, hasher, batch)
        nursery.start_soon(trio.to_thread.run_sync, _write, fd, batch, sync)


def _hash(hasher: hashlib._Hash, batch: list[bytes]) -> None:
    for chunk in batch:
        hasher.update(chunk)


def _write(fd: int, batch: list[bytes], sync: bool) -> None:
    views = [memoryview(chunk) for chunk in batch if chunk]
    while views:
        written = os.writev(fd, views[:_IOV_MAX])
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]
    if sync:
        os.fsync(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
