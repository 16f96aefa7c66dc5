"""Rotation of a container's log into numbered files, alongside conmon (ADR 0036).

conmon 2.1.6 writes the log (`container.log`) and, when a write would pass its
`--log-size-max`, renames a new empty file over it: the old file is unlinked, its lines
gone. Rotation keeps them by a hard link: the file being written is always also
`container.log.1`, so conmon's rename leaves the full file there. Each time a new file
is being written, the numbered ones move up one (`.1` to `.2`, ...), the one past
`max_file` is deleted, and the new file is linked as `.1`: with the log itself, at most
`max_file` files (distinct inodes) exist. Readers take `rotated_files` (oldest first),
then the log.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .private_files import write_private


def _numbered(path: Path) -> dict[int, Path]:
    """`path.N` for every N on disk."""
    prefix = path.name + "."
    found: dict[int, Path] = {}
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return found
    for name in names:
        suffix = name[len(prefix) :] if name.startswith(prefix) else ""
        if suffix.isdigit() and suffix == str(int(suffix)):
            found[int(suffix)] = path.with_name(name)
    return found


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def rotated_files(path: Path) -> list[Path]:
    """The log's rotated files, oldest first, without the one being written (`.1` while
    it is still the log itself)."""
    current = _inode(path)
    numbered = _numbered(path)
    return [numbered[n] for n in sorted(numbered, reverse=True) if _inode(numbered[n]) != current]


def keep_rotated(path: Path, max_file: int) -> bool:
    """Make sure the file being written at `path` is kept when conmon replaces it: if it
    is not yet `path.1`, move the numbered files up (dropping those past `max_file`) and
    link it as `path.1`. True when it did so. With `max_file` 1 nothing is kept: conmon's
    replacement empties the log, as json-file with max-file 1 does."""
    first = path.with_name(f"{path.name}.1")
    current = _inode(path)
    if max_file < 2 or current is None or _inode(first) == current:
        return False
    numbered = _numbered(path)
    for n in sorted(numbered, reverse=True):
        if n + 1 > max_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(numbered[n])
        else:
            os.replace(numbered[n], path.with_name(f"{path.name}.{n + 1}"))
    with contextlib.suppress(FileNotFoundError):  # replaced meanwhile: the next round links it
        os.link(path, first)
    return True


def plan_rotation(path: Path, max_file: int) -> None:
    """Note next to the log how many files it keeps (read by `rotate_noted`, which may
    run in another process than the start that wrote it); none with `max_file` 1."""
    note = _note(path)
    if max_file < 2:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(note)
        return
    write_private(note, str(max_file))


def rotate_noted(path: Path) -> bool:
    """`keep_rotated` with the count noted for this log; whether one was noted."""
    try:
        max_file = int(_note(path).read_text())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return False
    keep_rotated(path, max_file)
    return True


def _note(path: Path) -> Path:
    return path.with_name(f"{path.name}.max-file")
