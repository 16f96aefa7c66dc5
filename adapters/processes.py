"""Processes by pid, as /proc shows them: alive or not, and waiting for one to end.

A pid alone can name a later process once the first has gone; the start time (field 22
of /proc/<pid>/stat, clock ticks after boot) tells the two apart. Waiting uses a pidfd,
which becomes readable when the process exits, whoever its parent is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

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


def signal_child(pid: int, parent: int, signum: int) -> bool:
    """Send `signum` to `pid` if it is a live child of `parent`; False (nothing sent)
    otherwise. The pidfd pins the process, so the check and the signal name the same
    one even if the pid were reused in between."""
    pidfd = open_pidfd(pid)
    if pidfd is None:
        return False
    try:
        fields = _stat_fields(pid)
        if fields is None or fields[0] in (b"Z", b"X") or int(fields[1]) != parent:
            return False
        signal.pidfd_send_signal(pidfd, signum)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)


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


async def kill_and_reap(process: trio.Process) -> None:
    """SIGKILL a child started in a session of its own (its whole group), and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def argument_after(pid: int, flag: bytes, script_suffixes: tuple[bytes, ...]) -> Path | None:
    """The path after `flag` in the command line of live (not zombie) process `pid`, when
    the argument just before the flag (the script) ends with one of `script_suffixes`:
    how a helper process of berth (a forwarder, the name server) is told from any other."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if not process_alive(pid):
        return None
    try:
        at = argv.index(flag, 1)
    except ValueError:
        return None
    if not argv[at - 1].endswith(script_suffixes) or len(argv) <= at + 1:
        return None
    return Path(os.fsdecode(argv[at + 1]))


def processes_under(under: Path, path_of: Callable[[int], Path | None]) -> dict[Path, int]:
    """Every live process whose path (`path_of(pid)`) lies under `under`, by that path."""
    under = under.absolute()
    found: dict[Path, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            path = path_of(int(entry.name))
            if path is not None and path.is_relative_to(under):
                found[path] = int(entry.name)
    return found


async def first_line(process: trio.Process, timeout: float) -> bytes | None:
    """The first line a child writes to its stdout pipe (b"" or less than a line if it
    closes it first, its exit then awaited a moment), None if none comes in `timeout`:
    how a helper process says it is ready."""
    assert process.stdout is not None
    received = b""
    with trio.move_on_after(timeout):
        while b"\n" not in received:
            chunk = await process.stdout.receive_some(4096)
            if not chunk:
                with trio.move_on_after(1):
                    await process.wait()
                break
            received += chunk
        return received.split(b"\n", 1)[0]
    return None


async def start_in_session(argv: list[str], log: BinaryIO) -> trio.Process:
    """A helper process in a session of its own (it outlives berthd), stdout a pipe for
    its ready line, stderr to `log`."""
    return await trio.lowlevel.open_process(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
        close_fds=True,
    )
