"""What the layer unpack policy (`layers.py`) works with: normalised tar entry headers
in, filesystem actions out, per-layer limits, names cleaned into layer paths, and the
checks one entry must pass whatever the layer holds."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from .errors import InvalidParameter

GIB = 1 << 30
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_RAW_NAME_BYTES = 65536
MAX_SYMLINK_TARGET_BYTES = 4095
MAX_ID = (1 << 32) - 2  # (uid_t)-1 means "unchanged" to chown, so it is not an id
MAX_DEV_MAJOR = (1 << 12) - 1
MAX_DEV_MINOR = (1 << 20) - 1
MAX_XATTR_NAME_BYTES = 255
MAX_XATTR_VALUE_BYTES = 65536
_NS_MIN = -(1 << 63)
_NS_MAX = (1 << 63) - 1

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
RESERVED_XATTR_PREFIX = "trusted.overlay."

IMPLICIT_DIR_MODE = 0o755


class LayerRejected(InvalidParameter):
    """A layer breaks the unpack policy; nothing of it may be used."""

    def __init__(self, reason: str, entry: str | None = None) -> None:
        where = "invalid layer" if entry is None else f"invalid layer entry {entry!r}"
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        self.entry = entry


@dataclass(frozen=True, slots=True)
class LayerLimits:
    """Per-layer budgets. Bytes count the whole uncompressed stream."""

    max_bytes: int = 16 * GIB
    max_entries: int = 1_000_000
    keep_devices: bool = True


DEFAULT_LIMITS = LayerLimits()


class EntryType(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"


Xattrs: TypeAlias = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar header, normalised: PAX and GNU long names already merged in."""

    name: str
    type: EntryType
    size: int = 0
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    mtime_ns: int = 0
    devmajor: int = 0
    devminor: int = 0
    xattrs: Xattrs = ()


# -- actions ---------------------------------------------------------------------------
# Paths are cleaned, relative to the layer root, "/"-separated; "" is the root itself.


@dataclass(frozen=True, slots=True)
class MakeDir:
    path: str
    implicit: bool = False
    xattrs: Xattrs = ()


@dataclass(frozen=True, slots=True)
class WriteFile:
    path: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    xattrs: Xattrs = ()


@dataclass(frozen=True, slots=True)
class Symlink:
    path: str
    target: str
    uid: int
    gid: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Hardlink:
    path: str
    target: str


@dataclass(frozen=True, slots=True)
class MakeDevice:
    path: str
    kind: EntryType
    mode: int
    uid: int
    gid: int
    major: int
    minor: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Whiteout:
    path: str


@dataclass(frozen=True, slots=True)
class OpaqueDir:
    path: str


@dataclass(frozen=True, slots=True)
class Remove:
    path: str


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class SetDirMetadata:
    """Final mode, owner and mtime of a directory; None leaves the value as created."""

    path: str
    mode: int
    uid: int | None
    gid: int | None
    mtime_ns: int | None


Action: TypeAlias = (
    MakeDir
    | WriteFile
    | Symlink
    | Hardlink
    | MakeDevice
    | Whiteout
    | OpaqueDir
    | Remove
    | Skip
    | SetDirMetadata
)


# -- names -----------------------------------------------------------------------------


def encoded_name(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def clean_path(name: str, *, what: str = "name", entry: str | None = None) -> str:
    """`name` as a path relative to the layer root, or LayerRejected."""
    entry = name if entry is None else entry
    if "\x00" in name:
        raise LayerRejected(f"{what} contains a NUL byte", entry)
    if len(encoded_name(name)) > MAX_RAW_NAME_BYTES:
        raise LayerRejected(f"{what} is longer than {MAX_RAW_NAME_BYTES} bytes", entry)
    parts: list[str] = []
    for component in name.split("/"):
        if component in ("", "."):
            continue
        if component == "..":
            if not parts:
                raise LayerRejected(f"{what} escapes the layer root", entry)
            parts.pop()
            continue
        if len(encoded_name(component)) > MAX_COMPONENT_BYTES:
            raise LayerRejected(
                f"{what} has a component longer than {MAX_COMPONENT_BYTES} bytes", entry
            )
        parts.append(component)
    path = "/".join(parts)
    if len(encoded_name(path)) > MAX_PATH_BYTES:
        raise LayerRejected(f"{what} is longer than {MAX_PATH_BYTES} bytes", entry)
    return path


def split_path(path: str) -> list[str]:
    return path.split("/") if path else []


def join_path(parts: list[str]) -> str:
    return "/".join(parts)


# -- one entry's own checks --------------------------------------------------------------


def check_numbers(entry: Entry) -> None:
    if entry.size < 0:
        raise LayerRejected("negative size", entry.name)
    if entry.mode < 0:
        raise LayerRejected("negative mode", entry.name)
    for label, value in (("uid", entry.uid), ("gid", entry.gid)):
        if not 0 <= value <= MAX_ID:
            raise LayerRejected(f"{label} {value} out of range", entry.name)


def clamp_ns(value: int) -> int:
    return min(max(value, _NS_MIN), _NS_MAX)


def kept_xattrs(entry: Entry) -> Xattrs:
    kept: list[tuple[str, bytes]] = []
    for key, value in entry.xattrs:
        size = len(encoded_name(key))
        if not key or "\x00" in key or size > MAX_XATTR_NAME_BYTES or "." not in key:
            raise LayerRejected(f"invalid xattr name {key!r}", entry.name)
        if len(value) > MAX_XATTR_VALUE_BYTES:
            raise LayerRejected(f"xattr {key!r} larger than {MAX_XATTR_VALUE_BYTES}", entry.name)
        if key.startswith(RESERVED_XATTR_PREFIX):
            continue  # engine-reserved: overlayfs would act on it
        kept.append((key, value))
    return tuple(kept)


def check_symlink_target(entry: Entry) -> None:
    if not entry.linkname:
        raise LayerRejected("empty symlink target", entry.name)
    if "\x00" in entry.linkname:
        raise LayerRejected("symlink target contains a NUL byte", entry.name)
    if len(encoded_name(entry.linkname)) > MAX_SYMLINK_TARGET_BYTES:
        raise LayerRejected(
            f"symlink target longer than {MAX_SYMLINK_TARGET_BYTES} bytes", entry.name
        )


def check_device(entry: Entry) -> None:
    if not 0 <= entry.devmajor <= MAX_DEV_MAJOR or not 0 <= entry.devminor <= MAX_DEV_MINOR:
        raise LayerRejected(
            f"device number {entry.devmajor}:{entry.devminor} out of range", entry.name
        )
