"""Decompression of layer blobs, streaming and bounded: gzip, zstd, bzip2, xz or a plain
tar (moby's DecompressStream's formats).

The uncompressed stream is hashed (the layer's diff id) and counted as it is read, and
refused past a byte budget, so a decompression bomb stops there.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import importlib
import lzma
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import BinaryIO, Protocol, cast

import zstandard

from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import LayerRejected

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"


@functools.cache
def inflate_module() -> ModuleType:
    """ISA-L's zlib (isal, ~2x zlib's inflate speed), with zlib's API; else zlib. Chosen at
    the first layer inflated: isal's libraries wait until then (ADR/0048)."""
    try:
        return importlib.import_module("isal.isal_zlib")
    except ImportError:
        return zlib


def _corrupt(reason: str) -> InvalidParameter:
    return InvalidParameter(f"failed to unpack layer: {reason}")


# -- decompression ---------------------------------------------------------------------


def _plain_chunks(raw: BinaryIO) -> Iterator[bytes]:
    while chunk := raw.read(CHUNK):
        yield chunk


def _gzip_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """Inflate gzip members (concatenated, as gzip allows) in at most CHUNK-sized pieces.

    zlib's API directly rather than GzipFile: GzipFile reads 8 KiB at a time through
    Python and ran at half the speed; the output bound keeps a bomb from filling memory.
    """
    inflate = inflate_module()
    inflater = inflate.decompressobj(16 + zlib.MAX_WBITS)
    started = False
    while True:
        data = raw.read(CHUNK)
        if not data:
            break
        started = True
        while data:
            try:
                chunk = inflater.decompress(data, CHUNK)
            except inflate.error as err:
                raise _corrupt(f"gzip: {err}") from None
            if chunk:
                yield chunk
            if inflater.eof:
                data = inflater.unused_data
                if data:
                    inflater = inflate.decompressobj(16 + zlib.MAX_WBITS)
                continue
            data = inflater.unconsumed_tail
    if not started or not inflater.eof:
        raise _corrupt("gzip: compressed file ended before the end-of-stream marker was reached")


class _ZstdFrames:
    """Follows zstd frame structure over the compressed bytes, to tell a stream that
    ends between frames from a truncated one (the zstandard reader returns EOF for both).
    Decoding and validation of content are zstd's; this only walks frame and block
    headers (RFC 8878 sections 3.1.1-3.1.2)."""

    def __init__(self) -> None:
        self._state = "magic"
        self._want = 4
        self._field = bytearray()
        self._checksum = False
        self._last = False

    @property
    def between_frames(self) -> bool:
        return self._state == "magic" and not self._field

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._state in ("block", "skip"):
                step = min(self._want, len(view))
                self._want -= step
                view = view[step:]
                if not self._want:
                    self._after_body()
                continue
            step = min(self._want - len(self._field), len(view))
            self._field += view[:step]
            view = view[step:]
            if len(self._field) == self._want:
                field = bytes(self._field)
                self._field.clear()
                self._on_field(int.from_bytes(field, "little"))

    def _expect(self, state: str, want: int) -> None:
        self._state, self._want = state, want
        if want == 0 and state in ("block", "skip"):
            self._after_body()
        elif want == 0:
            self._expect("block_header", 3)

    def _on_field(self, value: int) -> None:
        if self._state == "magic":
            if value == 0xFD2FB528:
                self._expect("descriptor", 1)
            elif 0x184D2A50 <= value <= 0x184D2A5F:
                self._expect("skip_size", 4)
            else:
                raise _corrupt("zstd: unknown frame magic")
        elif self._state == "descriptor":
            fcs, single = value >> 6, (value >> 5) & 1
            self._checksum = bool(value & 0b100)
            rest = (0 if single else 1) + (0, 1, 2, 4)[value & 3]
            rest += (1 if single else 0, 2, 4, 8)[fcs]
            self._expect("header_rest", rest)
        elif self._state == "header_rest":
            self._expect("block_header", 3)
        elif self._state == "block_header":
            kind, size = (value >> 1) & 3, value >> 3
            if kind == 3:
                raise _corrupt("zstd: reserved block type")
            self._last = bool(value & 1)
            self._expect("block", 1 if kind == 1 else size)
        elif self._state == "skip_size":
            self._last, self._checksum = True, False
            self._expect("skip", value)
        elif self._state == "checksum":
            self._expect("magic", 4)

    def _after_body(self) -> None:
        if self._state == "skip":
            self._expect("magic", 4)
        elif not self._last:
            self._expect("block_header", 3)
        elif self._checksum:
            self._expect("checksum", 4)
        else:
            self._expect("magic", 4)


class _FrameCheckingSource:
    """The compressed blob, seen by the zstd reader, with its frames followed."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.frames = _ZstdFrames()
        self.exhausted = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data:
            self.frames.feed(data)
        else:
            self.exhausted = True
        return data


def _zstd_chunks(raw: BinaryIO) -> Iterator[bytes]:
    source = _FrameCheckingSource(raw)
    reader = zstandard.ZstdDecompressor().stream_reader(
        cast(BinaryIO, source), read_across_frames=True
    )
    while True:
        try:
            chunk = reader.read(CHUNK)
        except zstandard.ZstdError as err:
            raise _corrupt(f"zstd: {err}") from None
        if not chunk:
            break
        yield chunk
    if not source.exhausted or not source.frames.between_frames:
        raise _corrupt("zstd: stream truncated")


class _Decoder(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def _stream_chunks(raw: BinaryIO, new: Callable[[], _Decoder], name: str) -> Iterator[bytes]:
    """bzip2 or xz, concatenated streams too, in at most CHUNK-sized pieces (as gzip's)."""
    decoder = new()
    data = raw.read(CHUNK)
    while True:
        try:
            chunk = decoder.decompress(data, CHUNK)
        except (OSError, EOFError, lzma.LZMAError) as err:
            raise _corrupt(f"{name}: {err}") from None
        data = b""
        if chunk:
            yield chunk
        if decoder.eof:
            data = decoder.unused_data or raw.read(CHUNK)
            if not data:
                return
            decoder = new()
        elif decoder.needs_input:
            data = raw.read(CHUNK)
            if not data:
                raise _corrupt(f"{name}: compressed file ended before the end of the stream")


def decompressor_for(head: bytes) -> Callable[[BinaryIO], Iterator[bytes]] | None:
    """What inflates a blob whose first 6 bytes are `head`; None for a plain one."""
    if head.startswith(GZIP_MAGIC):
        return _gzip_chunks
    if head.startswith(ZSTD_MAGIC):
        return _zstd_chunks
    if head.startswith(BZIP2_MAGIC):
        return lambda raw: _stream_chunks(raw, bz2.BZ2Decompressor, "bzip2")
    if head == XZ_MAGIC:
        return lambda raw: _stream_chunks(raw, lzma.LZMADecompressor, "xz")
    return None


def decompressed(raw: BinaryIO) -> Iterator[bytes]:
    head = raw.read(6)
    raw.seek(0)
    return (decompressor_for(head) or _plain_chunks)(raw)


class HashingStream:
    """The uncompressed layer: hashed and counted as it is read, bounded in size."""

    def __init__(self, chunks: Iterator[bytes], max_bytes: int, *, hashing: bool = True) -> None:
        self._chunks = chunks
        self._max = max_bytes
        self._buf = b""
        self._off = 0
        self._hash = hashlib.sha256()
        self._hashing = hashing  # an archive copied into a container needs no diff id
        self.size = 0

    @property
    def diff_id(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def read(self, n: int) -> bytes:
        """Up to `n` bytes; b"" only at the end of the stream."""
        if self._off == len(self._buf):
            chunk = next(self._chunks, b"")
            if not chunk:
                return b""
            self.size += len(chunk)
            if self.size > self._max:
                raise LayerRejected(f"layer exceeds {self._max} bytes uncompressed")
            if self._hashing:
                self._hash.update(chunk)
            self._buf, self._off = chunk, 0
        piece = self._buf[self._off : self._off + n]
        self._off += len(piece)
        return piece

    def pieces(self, n: int) -> Iterator[bytes]:
        """Exactly `n` bytes, in pieces; a short stream is corrupt."""
        while n > 0:
            piece = self.read(min(n, CHUNK))
            if not piece:
                raise _corrupt("unexpected end of tar stream")
            n -= len(piece)
            yield piece

    def exact(self, n: int) -> bytes:
        return b"".join(self.pieces(n))

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def skip(self, n: int) -> None:
        for _ in self.pieces(n):
            pass

    def data(self, n: int) -> Iterator[bytes]:
        return self.pieces(n)
