"""Processes by pid, as /proc shows them: alive or not, and waiting for one to end.

A pid alone can name a later process once the first has gone; the start time (field 22
of /proc/<pid>/stat, clock ticks after boot) tells the two apart. Waiting uses a pidfd,
which becomes readable when the process exits, whoever its parent is.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import trio

#: Where pidfds are missing (kernels before 5.3), how often a wait looks again.
POLL_S = 0.5


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    return stat[stat.rindex(b")") + 2 :].split()


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat; None if the pid is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[22 - 3])


def process_alive(pid: int, start_time: int | None = None) -> bool:
    """Whether `pid` runs (not a zombie) and, given `start_time`, is the process that
    started then rather than a later one that reused its pid."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return False
    return start_time is None or int(fields[22 - 3]) == start_time


def open_pidfd(pid: int) -> int | None:
    """A pidfd for `pid` (readable once it exits); None if it is gone or pidfds are missing."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    except OSError as error:
        if error.errno in (errno.ENOSYS, errno.EINVAL):
            return None
        raise


async def wait_process_gone(pid: int, start_time: int | None = None) -> None:
    """Until process `pid` (the one that started at `start_time`) has exited."""
    while process_alive(pid, start_time):
        pidfd = open_pidfd(pid)
        if pidfd is None:
            if process_alive(pid, start_time):
                await trio.sleep(POLL_S)
            continue
        try:
            # Checked again with the pidfd open: the pid may have been reused meanwhile.
            if process_alive(pid, start_time):
                await trio.lowlevel.wait_readable(pidfd)
            return
        finally:
            os.close(pidfd)
