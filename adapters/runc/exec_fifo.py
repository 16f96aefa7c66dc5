"""Starting a created container through its runtime's `exec.fifo`, as `runc start` and
`crun start` do, without spawning either (one process fewer on every start, ADR/0041).

Both runtimes leave a fifo named `exec.fifo` in the container's state directory
(`<root>/<id>/`) while the container is created, and take its absence for "started":

- runc's init blocks opening the fifo for writing; the starter opens it for reading, reads
  the "0" the init writes, then end-of-file once the init has exec'd the payload (the
  descriptor is close-on-exec), and removes the fifo.
- crun's init holds the fifo open for reading; the starter opens it for writing without
  blocking, removes it, and writes one byte, which lets the init exec the payload.

Opening for writing without blocking tells the two apart: it fails with ENXIO when nobody
reads (runc's way). Whatever this cannot settle (no fifo, an init that died waiting) it
leaves to the runtime's own `start`, which knows the right error.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import trio

from berth.adapters.processes import process_alive

EXEC_FIFO = "exec.fifo"
#: How often a start waiting for runc's init checks that the init is still alive.
ALIVE_CHECK_S = 0.1


async def start_by_fifo(fifo: Path, init_pid: int | None) -> bool:
    """Let the created container whose fifo this is run its process; False when this
    cannot tell that it did (no fifo, or the init died or left without a word), for the
    caller to ask the runtime's `start`."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError as error:
        if error.errno != errno.ENXIO:
            raise
        return await _read_until_exec(fifo, init_pid)
    try:
        # crun's order: gone first, so that its state says running once the init runs.
        os.unlink(fifo)
        os.write(fd, b"0")
    finally:
        os.close(fd)
    return True


async def _read_until_exec(fifo: Path, init_pid: int | None) -> bool:
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if not await _read_word_and_end(fd, init_pid):
            return False
    finally:
        trio.lowlevel.notify_closing(fd)
        os.close(fd)
    fifo.unlink(missing_ok=True)
    return True


async def _read_word_and_end(fd: int, init_pid: int | None) -> bool:
    """Whether the init wrote to the fifo and then exec'd (end-of-file)."""
    word = b""
    woken = False
    while True:
        try:
            chunk = os.read(fd, 16)
        except BlockingIOError:
            chunk = None
        if chunk == b"" and (word or woken):
            # End-of-file: the init exec'd after its word, or a writer left without one.
            return bool(word)
        if chunk:
            word += chunk
            continue
        # Before the init opens its end, a read sees end-of-file and a poll waits.
        woken = False
        with trio.move_on_after(ALIVE_CHECK_S):
            await trio.lowlevel.wait_readable(fd)
            woken = True
        if not woken and (init_pid is None or not process_alive(init_pid)):
            # A busy machine may have run the init's word, its exec and a short payload's
            # whole life while this slept past its deadline: the word is still in the pipe.
            try:
                return bool(os.read(fd, 16))
            except BlockingIOError:
                return False
