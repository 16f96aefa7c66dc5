"""Reading a container's root filesystem from the host, never following a link out of it."""

from __future__ import annotations

import os
from pathlib import Path


def read_in_root(root: Path, relative: str, limit: int = 1 << 20) -> str | None:
    """A small file of a container's root filesystem, never following a link out of it."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, flags | os.O_DIRECTORY)
    try:
        parts = [p for p in relative.split("/") if p]
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            except OSError:
                return None
            os.close(fd)
            fd = next_fd
        try:
            file_fd = os.open(parts[-1], flags, dir_fd=fd)
        except OSError:
            return None
        with os.fdopen(file_fd, "rb") as handle:
            return handle.read(limit).decode(errors="replace")
    finally:
        os.close(fd)
