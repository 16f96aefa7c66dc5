"""What a breakout case is and how its outcome is judged: the sentinel tree outside the layer,
the case record, and the checks of a contained tree."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Expect = Literal["reject", "contained"]
Check = Callable[[Path, Path], None]

OUTSIDE_FILES: dict[str, tuple[bytes, int]] = {
    "hello": (b"world", 0o644),
    "host-file": (b"I am a host file", 0o644),
    "perm400": (b"...", 0o400),
    "etc/passwd": (b"root:x:0:0:outside", 0o644),
}

# Host paths the absolute-symlink cases aim at (through `/etc` symlinks). A tree that
# followed one of those symlinks would touch these; the tests compare them before/after.
HOST_SENTINELS = (
    "/etc/passwd",
    "/etc/unbroken",
    "/etc/emptied",
    "/etc/localpasswd",
    "/etc/whitedout",
    "/dne",
)


def populate_outside(outside: Path) -> None:
    """Create the sentinel tree the cases try to reach."""
    outside.mkdir()
    for rel, (data, mode) in OUTSIDE_FILES.items():
        path = outside / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)


def no_check(target: Path, outside: Path) -> None:
    """The check of a rejected case: there is no tree to look at."""


@dataclass(frozen=True)
class BreakoutCase:
    name: str
    origin: str
    layer: bytes
    expect: Expect
    why: str
    check: Check = no_check

    def __repr__(self) -> str:
        return f"BreakoutCase({self.name!r}, expect={self.expect!r})"


def _lstat(root: Path, rel: str) -> os.stat_result:
    return os.lstat(root / rel)


def all_of(*checks: Check) -> Check:
    def check(target: Path, outside: Path) -> None:
        for one in checks:
            one(target, outside)

    return check


def is_file(rel: str, data: bytes) -> Check:
    def check(target: Path, outside: Path) -> None:
        st = _lstat(target, rel)
        assert stat.S_ISREG(st.st_mode), f"{rel} is not a regular file"
        assert (target / rel).read_bytes() == data, f"{rel} has the wrong content"

    return check


def is_dir(rel: str) -> Check:
    def check(target: Path, outside: Path) -> None:
        assert stat.S_ISDIR(_lstat(target, rel).st_mode), f"{rel} is not a real directory"

    return check


def is_symlink(rel: str, verbatim: str) -> Check:
    def check(target: Path, outside: Path) -> None:
        assert stat.S_ISLNK(_lstat(target, rel).st_mode), f"{rel} is not a symlink"
        assert os.readlink(target / rel) == verbatim, f"{rel} target was rewritten"

    return check


def same_inode(a: str, b: str) -> Check:
    def check(target: Path, outside: Path) -> None:
        sa, sb = _lstat(target, a), _lstat(target, b)
        assert (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino), f"{a} and {b} differ"

    return check


def other_inode(a: str, b: str) -> Check:
    def check(target: Path, outside: Path) -> None:
        sa, sb = _lstat(target, a), _lstat(target, b)
        assert (sa.st_dev, sa.st_ino) != (sb.st_dev, sb.st_ino), f"{a} and {b} are one file"

    return check


def absent(rel: str) -> Check:
    def check(target: Path, outside: Path) -> None:
        assert not os.path.lexists(target / rel), f"{rel} exists"

    return check


def is_device(rel: str, major: int, minor: int) -> Check:
    def check(target: Path, outside: Path) -> None:
        st = _lstat(target, rel)
        assert stat.S_ISCHR(st.st_mode), f"{rel} is not a char device"
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor), rel

    return check


def is_whiteout(rel: str) -> Check:
    return is_device(rel, 0, 0)


def outside_mode(rel: str, mode: int) -> Check:
    def check(target: Path, outside: Path) -> None:
        assert stat.S_IMODE(os.lstat(outside / rel).st_mode) == mode, f"outside/{rel} chmod-ed"

    return check


def no_xattr(rel: str, key: str) -> Check:
    def check(target: Path, outside: Path) -> None:
        assert key not in os.listxattr(target / rel, follow_symlinks=False), f"{rel} has {key}"

    return check


def has_xattr(rel: str, key: str, value: bytes) -> Check:
    def check(target: Path, outside: Path) -> None:
        assert os.getxattr(target / rel, key, follow_symlinks=False) == value, f"{rel}: {key}"

    return check
