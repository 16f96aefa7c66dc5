"""An overlay mount by mount(2), without spawning mount(8) (ADR/0041).

The lowerdirs are short names relative to the snapshots root (overlay.py), which the
kernel resolves from the caller's working directory. A process has one working directory
for all its threads, so the mount runs on a thread of its own that first takes a private
copy of it (unshare(CLONE_FS)); the engine's directory never moves, and the copy ends
with the thread.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import trio

CLONE_FS = 0x00000200
_libc = ctypes.CDLL(None, use_errno=True)


def _mount_from(cwd: Path, options: str, target: Path) -> int:
    """0, or the errno of unshare, chdir or mount."""
    if _libc.unshare(CLONE_FS) != 0:
        return ctypes.get_errno()
    try:
        os.chdir(cwd)
    except OSError as error:
        return error.errno or 0
    done = _libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, options.encode())
    return 0 if done == 0 else ctypes.get_errno()


def _on_own_thread(cwd: Path, options: str, target: Path) -> int:
    outcome: list[int] = []
    thread = threading.Thread(
        target=lambda: outcome.append(_mount_from(cwd, options, target)),
        name="overlay-mount",
    )
    thread.start()
    thread.join()
    return outcome[0]


async def mount_overlay(cwd: Path, options: str, target: Path) -> str | None:
    """Mount overlay with `options` (relative paths from `cwd`) on `target`; None, or the
    kernel's reason it refused."""
    code = await trio.to_thread.run_sync(_on_own_thread, cwd, options, target)
    return None if code == 0 else os.strerror(code)
