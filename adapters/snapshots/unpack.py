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
   opening every path component again for every action with O_NOFOLLOW, so a symlink
   in the tree is never followed, whatever the planner let through. Files are created
   with O_EXCL; ownership is set with lchown semantics; modes through an fd, or with
   AT_SYMLINK_NOFOLLOW for device nodes, which are never opened; symlinks are never
   chmod-ed.

Any failure removes the partly written target and raises: `LayerRejected` for a policy
violation or a budget, `InvalidParameter("failed to unpack layer: ...")` for a corrupt or
truncated stream, and the `OSError` itself for a local filesystem failure.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

from berth.domain.errors import InvalidParameter
from berth.domain.layers import (
    DEFAULT_LIMITS,
    Action,
    Entry,
    EntryType,
    Hardlink,
    LayerLimits,
    LayerPlanner,
    LayerRejected,
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

__all__ = ["LayerWriter", "UnpackResult", "read_entries", "unpack_layer"]

CHUNK = 1 << 20
MAX_META_BYTES = 1 << 20  # PAX and GNU long-name headers (Go's archive/tar uses the same)
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
OPAQUE_XATTR = "trusted.overlay.opaque"

_BLOCK = 512
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
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


def _corrupt(reason: str) -> InvalidParameter:
    return InvalidParameter(f"failed to unpack layer: {reason}")


# -- decompression ---------------------------------------------------------------------


def _plain_chunks(raw: BinaryIO) -> Iterator[bytes]:
    while chunk := raw.read(CHUNK):
        yield chunk


def _gzip_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """Inflate gzip members (concatenated, as gzip allows) in at most CHUNK-sized pieces.

    zlib directly rather than GzipFile: GzipFile reads 8 KiB at a time through Python
    and ran at half the speed; the output bound keeps a bomb from filling memory.
    """
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False
    while True:
        data = raw.read(CHUNK)
        if not data:
            break
        started = True
        while data:
            try:
                chunk = inflater.decompress(data, CHUNK)
            except zlib.error as err:
                raise _corrupt(f"gzip: {err}") from None
            if chunk:
                yield chunk
            if inflater.eof:
                data = inflater.unused_data
                if data:
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
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


def _decompressed(raw: BinaryIO) -> Iterator[bytes]:
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(GZIP_MAGIC):
        return _gzip_chunks(raw)
    if head == ZSTD_MAGIC:
        return _zstd_chunks(raw)
    return _plain_chunks(raw)


class _Stream:
    """The uncompressed layer: hashed and counted as it is read, bounded in size."""

    def __init__(self, chunks: Iterator[bytes], max_bytes: int) -> None:
        self._chunks = chunks
        self._max = max_bytes
        self._buf = b""
        self._off = 0
        self._hash = hashlib.sha256()
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


class _TarReader:
    """Tar headers from the stream, one `Entry` at a time, data left to the caller."""

    def __init__(self, stream: _Stream) -> None:
        self._stream = stream
        self._data_left = 0
        self._padding = 0

    def data(self) -> Iterator[bytes]:
        """The current entry's data; consuming it is optional."""
        left, self._data_left = self._data_left, 0
        return self._stream.pieces(left)

    def _skip_rest(self) -> None:
        for _ in self._stream.pieces(self._data_left + self._padding):
            pass
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
    tar = _TarReader(_Stream(_decompressed(blob), max_bytes))
    while (entry := tar.next_entry()) is not None:
        yield entry


# -- the filesystem side ---------------------------------------------------------------


def _components(path: str) -> list[str]:
    parts = path.split("/") if path else []
    for part in parts:
        if part in ("", ".", "..") or "\0" in part:
            raise ValueError(f"unsafe path {path!r}")
    return parts


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _set_xattrs(fd: int, xattrs: Xattrs) -> None:
    for key, value in xattrs:
        try:
            os.setxattr(fd, key, value)
        except OSError as err:
            if err.errno not in _IGNORED_XATTR_ERRORS:
                raise


class LayerWriter:
    """Carries out planner actions under one root directory fd, never following a
    symlink: every action walks its path again from the root, component by component,
    each opened O_DIRECTORY | O_NOFOLLOW."""

    def __init__(self, root_fd: int) -> None:
        self._root = root_fd

    @contextmanager
    def _dir(self, parts: list[str]) -> Iterator[int]:
        fd = os.open(".", _DIR_FLAGS, dir_fd=self._root)
        try:
            for part in parts:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def apply(self, action: Action, data: Iterable[bytes] = ()) -> None:
        """Carry out one action; `data` is the file content of a WriteFile."""
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
            with self._dir(parts[:-1]) as parent:
                os.mknod(parts[-1], stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
        elif isinstance(action, OpaqueDir):
            with self._dir(_components(action.path)) as fd:
                os.setxattr(fd, OPAQUE_XATTR, b"y")
        elif isinstance(action, Remove):
            self._remove(action)
        elif isinstance(action, SetDirMetadata):
            self._dir_metadata(action)
        elif not isinstance(action, Skip):
            raise TypeError(f"unknown action {action!r}")

    def _write_file(self, action: WriteFile, data: Iterable[bytes]) -> None:
        parts = _components(action.path)
        with self._dir(parts[:-1]) as parent:
            fd = os.open(parts[-1], _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
            try:
                for piece in data:
                    _write_all(fd, piece)
                # chown before chmod (chown clears setuid/setgid); xattrs after both,
                # since writes and chown drop security.capability.
                os.fchown(fd, action.uid, action.gid)
                os.fchmod(fd, action.mode)
                _set_xattrs(fd, action.xattrs)
                os.utime(fd, ns=(action.mtime_ns, action.mtime_ns))
            finally:
                os.close(fd)

    def _make_dir(self, action: MakeDir) -> None:
        parts = _components(action.path)
        if parts:
            with self._dir(parts[:-1]) as parent, suppress(FileExistsError):
                os.mkdir(parts[-1], 0o700, dir_fd=parent)  # a dir over a dir merges
        with self._dir(parts) as fd:  # and it must be a directory, not a symlink to one
            _set_xattrs(fd, action.xattrs)

    def _symlink(self, action: Symlink) -> None:
        parts = _components(action.path)
        with self._dir(parts[:-1]) as parent:
            os.symlink(action.target, parts[-1], dir_fd=parent)
            os.chown(parts[-1], action.uid, action.gid, dir_fd=parent, follow_symlinks=False)
            times = (action.mtime_ns, action.mtime_ns)
            os.utime(parts[-1], ns=times, dir_fd=parent, follow_symlinks=False)

    def _hardlink(self, action: Hardlink) -> None:
        parts, target = _components(action.path), _components(action.target)
        with self._dir(target[:-1]) as source, self._dir(parts[:-1]) as parent:
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
        with self._dir(parts[:-1]) as parent:
            device = os.makedev(action.major, action.minor)
            os.mknod(parts[-1], kind | 0o600, device, dir_fd=parent)
            os.chown(parts[-1], action.uid, action.gid, dir_fd=parent, follow_symlinks=False)
            # fchmodat(AT_SYMLINK_NOFOLLOW): device nodes are never opened
            os.chmod(parts[-1], action.mode, dir_fd=parent, follow_symlinks=False)
            times = (action.mtime_ns, action.mtime_ns)
            os.utime(parts[-1], ns=times, dir_fd=parent, follow_symlinks=False)

    def _remove(self, action: Remove) -> None:
        parts = _components(action.path)
        with self._dir(parts[:-1]) as parent:
            try:
                mode = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode
            except FileNotFoundError:
                return
            if stat.S_ISDIR(mode):
                shutil.rmtree(parts[-1], dir_fd=parent)  # fd-based, never follows symlinks
            else:
                os.unlink(parts[-1], dir_fd=parent)

    def _dir_metadata(self, action: SetDirMetadata) -> None:
        with self._dir(_components(action.path)) as fd:
            if action.uid is not None or action.gid is not None:
                uid = -1 if action.uid is None else action.uid
                gid = -1 if action.gid is None else action.gid
                os.fchown(fd, uid, gid)
            os.fchmod(fd, action.mode)
            if action.mtime_ns is not None:
                os.utime(fd, ns=(action.mtime_ns, action.mtime_ns))


# -- the whole thing -------------------------------------------------------------------


def _unpack(raw: BinaryIO, root_fd: int, limits: LayerLimits) -> UnpackResult:
    stream = _Stream(_decompressed(raw), limits.max_bytes)
    tar = _TarReader(stream)
    planner = LayerPlanner(limits)
    writer = LayerWriter(root_fd)
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
    os.mkdir(target, 0o700)  # FileExistsError for anything already there, symlinks too
    try:
        root_fd = os.open(target, _DIR_FLAGS)
        try:
            with open(blob, "rb") as raw:
                return _unpack(raw, root_fd, limits)
        finally:
            os.close(root_fd)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # does not follow symlinks
        raise
