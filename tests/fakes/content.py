"""An in-memory `Blobs`: verified bytes by digest."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterable
from typing import BinaryIO

import trio

from berth.adapters.content import DigestMismatch, check_digest, sha256_digest
from berth.domain.errors import InvalidParameter, NotFound

from .faults import Faults


class FakeContent:
    def __init__(self) -> None:
        self.faults = Faults()
        self.blobs: dict[str, bytes] = {}

    def has(self, digest: str) -> bool:
        check_digest(digest)
        return digest in self.blobs

    def digests(self) -> list[str]:
        return sorted(self.blobs)

    def read_bytes(self, digest: str, limit: int) -> bytes:
        data = self._get(digest)
        if len(data) > limit:
            raise InvalidParameter(f"blob {digest} is larger than the limit of {limit} bytes")
        return data

    def open(self, digest: str) -> BinaryIO:
        return io.BytesIO(self._get(digest))

    def write_bytes(self, digest: str, data: bytes) -> str:
        check_digest(digest)
        self.faults.check("write_bytes")
        self.faults.check_space(digest)
        actual = sha256_digest(data)
        if actual != digest:
            raise DigestMismatch(f"failed to verify digest: expected {digest}, got {actual}")
        self.blobs[digest] = bytes(data)
        return digest

    async def ingest(self, digest: str, size: int | None, chunks: AsyncIterable[bytes]) -> str:
        check_digest(digest)
        self.faults.check("ingest")
        if size is not None and size < 0:
            raise InvalidParameter(f"invalid size {size} for blob {digest}")
        if digest in self.blobs:
            return digest
        self.faults.check_space(digest)
        hasher = hashlib.sha256()
        received = bytearray()
        async for chunk in chunks:
            received += chunk
            if size is not None and len(received) > size:
                raise DigestMismatch(
                    f"unexpected size: expected {size}, got at least {len(received)}"
                )
            hasher.update(chunk)
            await trio.lowlevel.checkpoint()
        if size is not None and len(received) != size:
            raise DigestMismatch(f"unexpected size: expected {size}, got {len(received)}")
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            raise DigestMismatch(f"failed to verify digest: expected {digest}, got {actual}")
        self.blobs[digest] = bytes(received)
        return digest

    def delete(self, digest: str) -> None:
        check_digest(digest)
        self.blobs.pop(digest, None)

    def discard_partial(self) -> list[str]:
        return []  # an ingest cut short keeps its bytes in the task that held them

    def _get(self, digest: str) -> bytes:
        check_digest(digest)
        try:
            return self.blobs[digest]
        except KeyError:
            raise NotFound(f"blob {digest} not found in the content store") from None
