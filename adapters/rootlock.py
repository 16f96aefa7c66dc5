"""One engine per root directory: an exclusive `flock` on `<root>/engine.lock`.

Whoever acts on a root's containers (berthd, or a `berth` command running the engine
in-process) holds the lock for as long as it acts, so no two processes ever start, stop or
remove the same container, and reconcile after a crash knows that whatever is half done
was left by a process that is gone. The kernel drops the lock when its holder dies, even
by SIGKILL, so a stale lock cannot outlive its process.

The file says who holds it (pid, kind, and the API socket the holder serves, if any), so
that a second berthd can say which pid to look at, and a `berth` command can talk to the
daemon that holds the root instead of waiting for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from berth.domain.errors import Conflict

LOCK_FILE = "engine.lock"
#: Reading the holder races its write of the file; a few tries see the whole of it.
READ_TRIES = 20
READ_RETRY_S = 0.01
WAIT_POLL_S = 0.05


@dataclass(frozen=True)
class Holder:
    """Who holds a root: `kind` is "berthd" or "berth"; `socket` the API it serves."""

    pid: int
    kind: str
    socket: str | None = None

    def describe(self) -> str:
        served = f", serving unix://{self.socket}" if self.socket else ""
        return f"{self.kind} (pid {self.pid}{served})"


class RootLocked(Conflict):
    """The root is held by another process."""

    def __init__(self, root: Path, holder: Holder | None) -> None:
        who = holder.describe() if holder else "another process"
        super().__init__(f"the berth root {root} is in use by {who}")
        self.holder = holder


class RootLock:
    """The lock of one root; `acquire` once, `release` (or process exit) ends it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, kind: str, socket: Path | None = None, *, wait_s: float = 0.0) -> None:
        """Take the lock, waiting up to `wait_s`; RootLocked (naming the holder) if not."""
        if self._fd is not None:
            return
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise RootLocked(self.root, self.holder()) from None
                time.sleep(WAIT_POLL_S)
        record = {"pid": os.getpid(), "kind": kind, "socket": str(socket) if socket else None}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None

    def holder(self) -> Holder | None:
        """Who holds the root now; None when nobody does."""
        if self._fd is not None:
            return Holder(os.getpid(), "self")
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # held (exclusively) by someone: read who
            else:
                return None
            for _ in range(READ_TRIES):
                found = _parse(os.pread(fd, 4096, 0))
                if found is not None:
                    return found
                time.sleep(READ_RETRY_S)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> RootLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _parse(data: bytes) -> Holder | None:
    try:
        record = json.loads(data)
        pid = int(record["pid"])
    except (ValueError, KeyError, TypeError):
        return None
    socket = record.get("socket")
    return Holder(pid, str(record.get("kind") or "berth"), str(socket) if socket else None)
