"""How many bytes a directory tree holds, as dockerd's directory.Size counts them: the
sizes of its regular files, not following symlinks and not crossing into what is mounted
below it (as `du -x`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def tree_size(top: Path) -> int:
    """0 when `top` is no directory."""
    if not top.is_dir():
        return 0
    device = top.stat().st_dev
    total = 0
    for here, dirs, files in os.walk(top):
        for name in files:
            with contextlib.suppress(OSError):
                found = os.lstat(os.path.join(here, name))
                if found.st_dev == device:
                    total += found.st_size
        dirs[:] = [d for d in dirs if _same_device(os.path.join(here, d), device)]
    return total


def _same_device(path: str, device: int) -> bool:
    try:
        return os.lstat(path).st_dev == device
    except OSError:
        return False
