"""`docker diff`: what a container's writable layer changed, as dockerd's overlay2 driver
reports it (moby pkg/archive `OverlayChanges`, 20.10).

The overlay upper directory is walked in lexical order, depth first, as Go's
filepath.Walk does; each entry is

- Deleted (2): a 0/0 character device (overlay's whiteout) or an opaque directory
  (`trusted.overlay.opaque=y`: what was below it is gone);
- Modified (0): present in a lower layer too; a directory whose size, mode and mtime
  equal the lower one's is no change at all (it is in the upper layer only because
  something below it changed);
- Added (1): otherwise.

The parent of an added or deleted path is reported Modified once, before it, unless it is
already reported or is `/`. Every directory is opened relative to its parent with
O_NOFOLLOW, in the upper and in each lower layer alike: a link never leads elsewhere.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from berth.domain.commit import is_engine_stub

from .dir_handles import DIR_FLAGS as _DIR_FLAGS
from .tree_tar import OPAQUE_XATTR, is_empty

MODIFIED, ADDED, DELETED = 0, 1, 2
_ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    kind: int

    def doc(self) -> dict[str, object]:
        return {"Path": self.path, "Kind": self.kind}


def _same_time(a: os.stat_result, b: os.stat_result) -> bool:
    if a.st_mtime_ns == b.st_mtime_ns:
        return True
    seconds = a.st_mtime_ns // 1_000_000_000 == b.st_mtime_ns // 1_000_000_000
    return seconds and (a.st_mtime_ns % 1_000_000_000 == 0 or b.st_mtime_ns % 1_000_000_000 == 0)


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as error:
        if error.errno in _ABSENT:
            return None
        raise


def _open_dir(name: str, dir_fd: int) -> int | None:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in _ABSENT:
            return None
        raise


def _deleted(status: os.stat_result, fd: int | None) -> bool:
    if stat.S_ISCHR(status.st_mode) and status.st_rdev == os.makedev(0, 0):
        return True
    if fd is None:
        return False
    try:
        return os.getxattr(fd, OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _visible(name: str, lowers: list[int]) -> list[tuple[int, os.stat_result]]:
    """The lower layers (top first) that have `name`, with what they have, down to a
    whiteout of it: that hides the layers below, and is nothing itself."""
    found = []
    for lower in lowers:
        status = _lstat(name, lower)
        if status is None:
            continue
        if _deleted(status, None):
            break
        found.append((lower, status))
    return found


class _Walk:
    def __init__(self) -> None:
        self.changes: list[Change] = []
        self._changed_dirs: set[str] = set()
        self.stub_parents: set[str] = set()

    def directory(self, fd: int, lowers: list[int], prefix: str) -> None:
        for name in sorted(os.listdir(fd)):
            with ExitStack() as stack:
                status = _lstat(name, fd)
                if status is None:
                    continue  # removed meanwhile by the running container
                child_fd = None
                if stat.S_ISDIR(status.st_mode):
                    child_fd = _open_dir(name, fd)
                    if child_fd is None:
                        continue
                    stack.callback(os.close, child_fd)
                path = f"{prefix}/{name}"
                if is_engine_stub(path, is_empty(status, child_fd)):
                    self.stub_parents.add(prefix)
                    continue
                visible = _visible(name, lowers)
                self._record(path, status, child_fd, [below for _, below in visible])
                if child_fd is None:
                    continue
                child_lowers = []
                for lower, below in visible:
                    opened = _open_dir(name, lower) if stat.S_ISDIR(below.st_mode) else None
                    if opened is None:
                        break  # a file there hides the layers below it
                    stack.callback(os.close, opened)
                    child_lowers.append(opened)
                    if _deleted(below, opened):
                        break  # so does an opaque directory
                self.directory(child_fd, child_lowers, path)

    def _record(
        self, path: str, status: os.stat_result, fd: int | None, below: list[os.stat_result]
    ) -> None:
        is_dir = stat.S_ISDIR(status.st_mode)
        if _deleted(status, fd):
            kind = DELETED
        elif below:
            first = below[0]
            if (
                is_dir
                and stat.S_ISDIR(first.st_mode)
                and status.st_size == first.st_size
                and status.st_mode == first.st_mode
                and _same_time(status, first)
            ):
                return  # unchanged itself; what is below it may have changed
            kind = MODIFIED
        else:
            kind = ADDED
        if is_dir:
            self._changed_dirs.add(path)
        if kind != MODIFIED:
            parent = path.rpartition("/")[0]
            if parent and parent not in self._changed_dirs:
                self.changes.append(Change(parent, MODIFIED))
                self._changed_dirs.add(parent)
        self.changes.append(Change(path, kind))


def layer_changes(upper: Path, lowers: Sequence[Path]) -> list[Change]:
    """The changes of the writable layer `upper` over `lowers` (top layer first), in
    dockerd's order. Blocking: a worker thread's."""
    walk = _Walk()
    with ExitStack() as stack:
        fds = []
        for path in (upper, *lowers):
            fd = os.open(path, _DIR_FLAGS)
            stack.callback(os.close, fd)
            fds.append(fd)
        walk.directory(fds[0], fds[1:], "")
    return _without_stub_parents(walk.changes, walk.stub_parents)


def _without_stub_parents(changes: list[Change], stub_parents: set[str]) -> list[Change]:
    """A directory in the upper layer only because the engine made a mount point in it
    (`/etc` for `/etc/hosts`) is no change either, unless something else below it is."""
    kept = []
    for change in changes:
        if change.kind == MODIFIED and change.path in stub_parents:
            below = change.path + "/"
            if not any(other.path.startswith(below) for other in changes):
                continue
        kept.append(change)
    return kept
