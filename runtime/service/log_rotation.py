"""Rotation of the logs that keep several files (`--log-opt max-file` > 1, ADR 0036).

conmon replaces a full log by itself; the file it leaves must be linked as the next
rotated one before it fills too. One task polls while any such log exists, and sleeps
until a start asks for it (`wanted`) when none does.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from berth.adapters.log_rotation import rotate_noted

#: How often the logs that keep several files are looked at while any exists.
LOG_ROTATION_POLL_S = 0.05


class LogRotation:
    def __init__(self, containers_dir: Path, log_path: Callable[[str], Path]) -> None:
        self.containers_dir = containers_dir
        self.log_path = log_path
        self._wanted = trio.Event()

    def wanted(self) -> None:
        """A log that keeps several files has started."""
        self._wanted.set()

    def rotate(self) -> int:
        """One round over every container's log (blocking I/O); how many rotate."""
        try:
            names = os.listdir(self.containers_dir)
        except FileNotFoundError:
            return 0
        return sum(rotate_noted(self.log_path(name)) for name in names)

    async def keep_rotating(self, sync: Callable[..., Awaitable[Any]]) -> None:
        """Until cancelled; `sync` runs the blocking rounds in a worker thread."""
        while True:
            wanted = self._wanted = trio.Event()
            if await sync(self.rotate):
                await trio.sleep(LOG_ROTATION_POLL_S)
            else:
                await wanted.wait()
