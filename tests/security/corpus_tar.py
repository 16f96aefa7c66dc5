"""Tar members for the breakout corpus, by hand where tarfile would not write the shape."""

from __future__ import annotations

import tarfile

MTIME = 1_700_000_000
BLOCK = 512
RECORD = 10240


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def _member(info: tarfile.TarInfo, data: bytes = b"", fmt: int = tarfile.PAX_FORMAT) -> bytes:
    info.size = len(data)
    info.mtime = MTIME
    return info.tobuf(fmt, "utf-8", "surrogateescape") + _pad(data)


def _info(name: str, kind: bytes, mode: int, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def d(name: str, mode: int = 0o755) -> bytes:
    return _member(_info(name, tarfile.DIRTYPE, mode))


def f(name: str, data: bytes = b"", mode: int = 0o644, **fields: object) -> bytes:
    return _member(_info(name, tarfile.REGTYPE, mode, **fields), data)


# Links carry an owner of their own and mode 0777, so that a chown, chmod or utime that
# went through a link to the sentinel tree would show there.
LINK_ID = 4242


def s(name: str, target: str, mode: int = 0o777) -> bytes:
    """A symlink `name` -> `target`."""
    info = _info(name, tarfile.SYMTYPE, mode, linkname=target, uid=LINK_ID, gid=LINK_ID)
    return _member(info)


def h(name: str, target: str, mode: int = 0o777) -> bytes:
    """A hardlink `name` to the earlier entry `target`."""
    info = _info(name, tarfile.LNKTYPE, mode, linkname=target, uid=LINK_ID, gid=LINK_ID)
    return _member(info)


def c(name: str, major: int, minor: int, mode: int = 0o666) -> bytes:
    return _member(_info(name, tarfile.CHRTYPE, mode, devmajor=major, devminor=minor))


def pax(name: str, kind: bytes, headers: dict[str, str], linkname: str = "") -> bytes:
    """A member whose PAX records say what its ustar fields do not."""
    info = _info(name, kind, 0o644, linkname=linkname)
    info.pax_headers = headers
    return _member(info)


def gnu(name: str, data: bytes = b"") -> bytes:
    """A regular file in GNU format: long names go in a `././@LongLink` L header."""
    return _member(_info(name, tarfile.REGTYPE, 0o644), data, fmt=tarfile.GNU_FORMAT)


def raw(
    name: bytes,
    typeflag: bytes = b"0",
    data: bytes = b"",
    prefix: bytes = b"",
    linkname: bytes = b"",
) -> bytes:
    """A ustar header written by hand, for shapes tarfile will not produce."""

    def octal(value: int, width: int) -> bytes:
        return b"%0*o\0" % (width - 1, value)

    header = bytearray(BLOCK)
    header[0:100] = name.ljust(100, b"\0")[:100]
    header[100:108] = octal(0o644, 8)
    header[108:116] = octal(0, 8)
    header[116:124] = octal(0, 8)
    header[124:136] = octal(len(data), 12)
    header[136:148] = octal(MTIME, 12)
    header[148:156] = b" " * 8
    header[156:157] = typeflag
    header[157:257] = linkname.ljust(100, b"\0")[:100]
    header[257:265] = b"ustar\x0000"
    header[345:500] = prefix.ljust(155, b"\0")[:155]
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + _pad(data)


def tar(*members: bytes) -> bytes:
    """Members, the end-of-archive marker, and padding to a whole record, as tar writes."""
    body = b"".join(members) + bytes(2 * BLOCK)
    return body + bytes(-len(body) % RECORD)
