"""An archive that arrives in pieces (a request body read off the socket), as the tar
reader's source: headers are copied out, file data is handed on as views of the pieces.

Each piece may be a view of a buffer its reader reuses, valid until the next piece is
asked for; everything here is done with a piece before the next is read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import LayerRejected

from .decompress import HashingStream, decompressor_for
from .tarstream import TarSource

Pieces = Callable[[], bytes | memoryview]  # the next piece; empty at the end
HEAD_BYTES = 6  # enough for every compression magic


def _corrupt(reason: str) -> InvalidParameter:
    return InvalidParameter(f"failed to unpack layer: {reason}")


class PieceSource:
    """The stream interface TarReader reads, over pieces."""

    def __init__(self, pieces: Pieces, max_bytes: int) -> None:
        self._pieces = pieces
        self._max = max_bytes
        self._piece = memoryview(b"")
        self._at = 0
        self.size = 0

    def _more(self) -> bool:
        self._piece, self._at = memoryview(self._pieces()), 0
        self.size += len(self._piece)
        if self.size > self._max:
            raise LayerRejected(f"layer exceeds {self._max} bytes uncompressed")
        return len(self._piece) > 0

    def head(self, n: int) -> bytes:
        """Up to the first `n` bytes, left to be read again."""
        parts: list[bytes] = []
        while sum(map(len, parts)) < n:
            if self._at == len(self._piece) and not self._more():
                break
            parts.append(bytes(self._piece[self._at :]))
            self._at = len(self._piece)
        joined = b"".join(parts)
        self._piece, self._at = memoryview(joined), 0  # read again from here
        return joined[:n]

    def view(self, n: int) -> memoryview:
        """Up to `n` bytes as a view of the current piece; empty only at the end."""
        if self._at == len(self._piece) and not self._more():
            return self._piece[:0]
        piece = self._piece[self._at : self._at + n]
        self._at += len(piece)
        return piece

    def read(self, n: int) -> bytes:
        return bytes(self.view(n))

    def exact(self, n: int) -> bytes:
        return b"".join(bytes(piece) for piece in self.data(n))

    def data(self, n: int) -> Iterator[memoryview]:
        """Exactly `n` bytes, in views; a short stream is corrupt."""
        while n > 0:
            piece = self.view(n)
            if not piece:
                raise _corrupt("unexpected end of tar stream")
            n -= len(piece)
            yield piece

    def skip(self, n: int) -> None:
        for _ in self.data(n):
            pass

    def drain(self) -> None:
        while self.view(1 << 30):
            pass


class _PieceFile(io.RawIOBase):
    """The pieces as a file, for a decompressor."""

    def __init__(self, source: PieceSource) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        piece = self._source.view(len(buffer))
        buffer[: len(piece)] = piece
        return len(piece)


def tar_source(pieces: Pieces, max_bytes: int) -> TarSource:
    """The uncompressed archive of the pieces: read as they come when it is a plain tar,
    through the decompressor its first bytes name otherwise."""
    source = PieceSource(pieces, max_bytes)
    chunks = decompressor_for(source.head(HEAD_BYTES))
    if chunks is None:
        return source
    reader = io.BufferedReader(_PieceFile(source), buffer_size=1 << 20)
    return HashingStream(chunks(cast(BinaryIO, reader)), max_bytes, hashing=False)
