"""One lock, for the whole host, over taking a subnet: from reading the host's routes to
the new bridge's address (and so its route) being there.

Several berthd roots on one host each pick their subnets among the routes they see; two
picking at the same moment saw the same free subnet, and Linux accepts the same address
on two bridges, with one route each: traffic for one then went to the other. dockerd,
one per host, has no such race. The lock is a `flock` on a file under /run, so it goes
with the process that holds it, also when it is killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

import trio

LOCK_FILE = Path("/run/berth/address-pools.lock")


@contextlib.asynccontextmanager
async def address_pools_held(lock_file: Path = LOCK_FILE) -> AsyncIterator[None]:
    """Held by one process of the host at a time (another waits in a thread)."""
    lock_file.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        # Not cancellable: a thread left waiting would take the lock for nobody.
        await trio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
