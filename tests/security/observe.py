"""Observing the filesystem around an unpacked layer: every node's state, and content digests."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any


def tree_state(
    root: Path, *, exclude: Path | None = None, with_root: bool = True, times: bool = True
) -> dict[str, Any]:
    """Every node under `root` (not following symlinks): type, mode, owner, links,
    size, mtime (unless `times` is false), content or link text, and xattrs."""
    state: dict[str, Any] = {}

    def visit(path: Path) -> None:
        st = os.lstat(path)
        content: bytes | None = None
        if stat.S_ISREG(st.st_mode):
            content = path.read_bytes()
        elif stat.S_ISLNK(st.st_mode):
            content = os.fsencode(os.readlink(path))
        names = os.listxattr(path, follow_symlinks=False)
        xattrs = {key: os.getxattr(path, key, follow_symlinks=False) for key in sorted(names)}
        if path != root or with_root:
            state[str(path.relative_to(root))] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_nlink,
                st.st_size,
                st.st_mtime_ns if times else None,
                st.st_rdev,
                content,
                xattrs,
            )
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                if path / name != exclude:
                    visit(path / name)

    visit(root)
    return state


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
