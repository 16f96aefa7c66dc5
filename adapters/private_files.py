"""berth's own state on disk, for root's eyes only: directories 0700, files 0600.

What berth keeps under its root holds containers' secrets: environment values in the
log, the views and each bundle's `config.json`, output in the logs, image content. Each
file gets its mode when it is created, never later, so there is no moment at which
another local user could open it; what an older berth left wider is narrowed when
berth next opens it (ADR/0018).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600
# What SQLite creates next to a database; it gives each its database's mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter: created 0700 with the parents it
    lacks, or narrowed to 0700 when it exists wider (as dockerd sets its root's mode)."""
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, DIR_MODE)
    _narrow(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only its owner can read: created empty 0600, or narrowed to it."""
    os.close(_open(path, os.O_RDONLY))
    return path


def open_private(path: Path, *, append: bool = False) -> BinaryIO:
    """`path` opened to write (emptied, or to `append`), the file 0600 from its first byte."""
    fd = _open(path, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
    return os.fdopen(fd, "ab" if append else "wb")


def write_private(path: Path, data: str | bytes) -> None:
    """Replace `path`'s content with `data` in a 0600 file."""
    with open_private(path) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with a 0600 file holding `text`: a reader sees the old or the new."""
    temporary = path.with_name(f".{path.name}.tmp")
    write_private(temporary, text)
    os.replace(temporary, path)


def private_database(path: Path) -> Path:
    """Make an SQLite database file 0600 before SQLite opens it.

    SQLite creates the database with the process umask's mode (0644 under the usual
    0022), and then its `-wal`, `-shm` and `-journal` with the database's mode, so an
    empty 0600 file created first (a valid empty database) keeps all four private.
    Companions an older berth left wider are narrowed too.
    """
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            _narrow(path.with_name(path.name + suffix), FILE_MODE)
    return path


def _open(path: Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)  # made by an older berth, or wider than our umask
    except BaseException:
        os.close(fd)
        raise
    return fd


def _narrow(path: Path, mode: int) -> None:
    # Stat first: the mode is usually right, and chmod would fail on a read-only root.
    if stat.S_IMODE(os.stat(path).st_mode) != mode:
        os.chmod(path, mode)
