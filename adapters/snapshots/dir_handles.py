"""Descriptors of the directories a writer works in, each walked once from its root.

A layer or a copied archive names its files by path; opening every component of every
path again for every action (O_NOFOLLOW, from the root's descriptor) cost a cp of 400
files some 2,600 opens and closes, a third of its time on overlayfs. A directory is
walked the same way once, component by component, and its descriptor kept: what the
descriptor names cannot be redirected by a symbolic link put in the tree afterwards,
since a descriptor is not a path. A removal forgets the descriptors at and below what
it removes, so a directory replaced by something else is walked again.

Descriptors are let go of, oldest first, past `KEPT` between two actions (never
during one, while a caller may hold one), and all at `close`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Enough for the directories a tar stream fills one after another.
KEPT = 64


class DirectoryHandles:
    def __init__(self, root_fd: int) -> None:
        self._root = root_fd
        self._open: dict[tuple[str, ...], int] = {}  # oldest first

    def open(self, parts: Sequence[str]) -> int:
        """The directory at `parts` under the root; owned here: do not close it."""
        key = tuple(parts)
        if not key:
            return self._root
        fd = self._open.pop(key, None)
        if fd is None:
            fd = os.open(key[-1], DIR_FLAGS, dir_fd=self.open(key[:-1]))
        self._open[key] = fd  # the most recent last
        return fd

    def forget(self, parts: Sequence[str]) -> None:
        """What is at `parts` is being removed or replaced: its descriptors and those of
        everything below it are stale."""
        prefix = tuple(parts)
        for key in [k for k in self._open if k[: len(prefix)] == prefix]:
            os.close(self._open.pop(key))

    def trim(self) -> None:
        """Between two actions: keep the `KEPT` most recent."""
        while len(self._open) > KEPT:
            os.close(self._open.pop(next(iter(self._open))))

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
