"""A streaming tar header parser: ustar, GNU long names and PAX records.

berth's own, not `tarfile`: the project's CPython predates the fix for slow PAX header
parsing (CVE-2024-6232), and only headers are needed; the data is copied by the writer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol

from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import DEFAULT_LIMITS, Entry, EntryType, LayerRejected

from .decompress import HashingStream, decompressed

MAX_META_BYTES = 1 << 20  # PAX and GNU long-name headers (Go's archive/tar uses the same)
_BLOCK = 512


def _corrupt(reason: str) -> InvalidParameter:
    return InvalidParameter(f"failed to unpack layer: {reason}")


# -- tar headers -----------------------------------------------------------------------

_DECIMAL = re.compile(rb"[0-9]{1,20}")
_PAX_TIME = re.compile(rb"(-?)([0-9]{1,20})(?:\.([0-9]{0,30}))?")
_TYPES = {
    b"0": EntryType.FILE,
    b"\0": EntryType.FILE,
    b"7": EntryType.FILE,
    b"1": EntryType.HARDLINK,
    b"2": EntryType.SYMLINK,
    b"3": EntryType.CHAR,
    b"4": EntryType.BLOCK,
    b"5": EntryType.DIR,
    b"6": EntryType.FIFO,
}
_META_TYPES = frozenset({b"x", b"g", b"L", b"K"})


def _cstr(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _number(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # base-256 (GNU/star)
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    digits = _cstr(field).strip(b" ")
    if not digits:
        return 0
    if digits.strip(b"01234567"):
        raise _corrupt(f"invalid {what} field {field!r} in tar header")
    return int(digits, 8)


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156], "checksum")
    blanked = block[:148] + b" " * 8 + block[156:]
    unsigned = sum(blanked)
    signed = unsigned - 256 * sum(1 for byte in blanked if byte > 127)
    return stored in (unsigned, signed)


def _parse_pax(data: bytes) -> dict[bytes, bytes]:
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos, pos + 21)
        length_text = data[pos:space]
        if space < 0 or not _DECIMAL.fullmatch(length_text):
            raise _corrupt("malformed PAX record length")
        end = pos + int(length_text)
        if end <= space + 1 or end > len(data) or data[end - 1] != 0x0A:
            raise _corrupt("malformed PAX record")
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if not equals or not key:
            raise _corrupt("malformed PAX record")
        records[key] = value
        pos = end
    return records


def _pax_decimal(value: bytes, key: str) -> int:
    if not _DECIMAL.fullmatch(value):
        raise _corrupt(f"invalid PAX {key} {value[:40]!r}")
    return int(value)


def _pax_time(value: bytes) -> int:
    match = _PAX_TIME.fullmatch(value)
    if match is None:
        raise _corrupt(f"invalid PAX mtime {value[:40]!r}")
    sign, whole, fraction = match.groups()
    ns = int(whole) * 1_000_000_000 + int((fraction or b"")[:9].ljust(9, b"0"))
    return -ns if sign else ns


# A file's data, in pieces (views of a buffer are used before the next piece is read).
Data = Iterable[bytes | memoryview]


class TarSource(Protocol):
    """What the reader reads from: a (decompressed) stream, or a plain archive file."""

    def read(self, n: int) -> bytes: ...

    def exact(self, n: int) -> bytes: ...

    def skip(self, n: int) -> None: ...

    def data(self, n: int) -> Data: ...


class TarReader:
    """Tar headers from the stream, one `Entry` at a time, data left to the caller."""

    def __init__(self, stream: TarSource) -> None:
        self._stream = stream
        self._data_left = 0
        self._padding = 0

    def data(self) -> Data:
        """The current entry's data, to be read whole before the next entry."""
        left, self._data_left = self._data_left, 0
        return self._stream.data(left)

    def _skip_rest(self) -> None:
        self._stream.skip(self._data_left + self._padding)
        self._data_left = self._padding = 0

    def _block(self) -> bytes | None:
        block = self._stream.read(_BLOCK)
        while block and len(block) < _BLOCK:
            more = self._stream.read(_BLOCK - len(block))
            if not more:
                raise _corrupt("unexpected end of tar stream in a header")
            block += more
        return block or None

    def next_entry(self) -> Entry | None:
        """The next entry, or None at the end of the archive."""
        self._skip_rest()
        pax: dict[bytes, bytes] = {}
        long_name: bytes | None = None
        long_link: bytes | None = None
        meta_bytes = 0
        while True:
            block = self._block()
            if block is None or block == bytes(_BLOCK):
                return None  # end-of-archive marker, or end of stream at a boundary
            if not _checksum_ok(block):
                raise _corrupt("invalid tar header checksum")
            flag = block[156:157]
            size = _number(block[124:136], "size")
            if size < 0:
                raise _corrupt("negative size in tar header")
            if flag in _META_TYPES:
                meta_bytes += size
                if meta_bytes > MAX_META_BYTES:
                    raise LayerRejected(f"extended headers larger than {MAX_META_BYTES} bytes")
                data = self._stream.exact(size)
                self._stream.exact(-size % _BLOCK)
                if flag == b"x":
                    pax.update(_parse_pax(data))
                elif flag == b"L":
                    long_name = data.rstrip(b"\0")
                elif flag == b"K":
                    long_link = data.rstrip(b"\0")
                continue  # b"g": global PAX headers are ignored, as dockerd does
            return self._entry(block, flag, size, pax, long_name, long_link)

    def _entry(
        self,
        block: bytes,
        flag: bytes,
        size: int,
        pax: dict[bytes, bytes],
        long_name: bytes | None,
        long_link: bytes | None,
    ) -> Entry:
        name = _cstr(block[0:100])
        prefix = _cstr(block[345:500])
        if block[257:263] == b"ustar\0" and prefix:
            name = prefix + b"/" + name
        name = pax.get(b"path", long_name if long_name is not None else name)
        linkname = pax.get(
            b"linkpath", long_link if long_link is not None else _cstr(block[157:257])
        )
        text_name = _text(name)
        entry_type = _TYPES.get(flag)
        if entry_type is None:
            raise LayerRejected(f"unsupported tar entry type {flag!r}", text_name)
        if flag == b"\0" and name.endswith(b"/"):
            entry_type = EntryType.DIR  # pre-POSIX archives mark directories by name only
        if any(key.startswith(b"GNU.sparse.") for key in pax):
            raise LayerRejected("sparse files are not supported", text_name)
        if b"size" in pax:
            size = _pax_decimal(pax[b"size"], "size")
        if entry_type is not EntryType.FILE:
            size = 0  # header-only types carry no data, whatever the size field says
        self._data_left, self._padding = size, -size % _BLOCK
        xattrs = tuple(
            sorted(
                (_text(key[len(b"SCHILY.xattr.") :]), value)
                for key, value in pax.items()
                if key.startswith(b"SCHILY.xattr.")
            )
        )
        return Entry(
            name=text_name,
            type=entry_type,
            size=size,
            mode=_number(block[100:108], "mode"),
            uid=_pax_decimal(pax[b"uid"], "uid")
            if b"uid" in pax
            else _number(block[108:116], "uid"),
            gid=_pax_decimal(pax[b"gid"], "gid")
            if b"gid" in pax
            else _number(block[116:124], "gid"),
            linkname=_text(linkname),
            mtime_ns=(
                _pax_time(pax[b"mtime"])
                if b"mtime" in pax
                else _number(block[136:148], "mtime") * 1_000_000_000
            ),
            devmajor=_number(block[329:337], "devmajor"),
            devminor=_number(block[337:345], "devminor"),
            xattrs=xattrs,
        )


def read_entries(blob: BinaryIO, max_bytes: int = DEFAULT_LIMITS.max_bytes) -> Iterator[Entry]:
    """Every entry header of a layer blob (any compression), data skipped. No filesystem."""
    tar = TarReader(HashingStream(decompressed(blob), max_bytes))
    while (entry := tar.next_entry()) is not None:
        yield entry
