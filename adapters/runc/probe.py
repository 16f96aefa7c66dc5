"""A short command run in a running container and waited for: a health probe (ADR 0036).

`runc exec` in the foreground, its stdout and stderr read together through one pipe (runc
copies each stream on its own, so their lines may come in either order), at most `keep`
bytes of them held (the rest is read and dropped, so the command never blocks
on a full pipe). The exec'd process inherits the container's process settings (user,
env, working directory, capabilities) from runc's state, as a probe does in dockerd. On
timeout the exec'd process is SIGKILLed by the pid runc wrote for it, then runc is waited
for: nothing is left running in the container.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import trio

from .commands import Runc
from .protocol import ProbeOutcome

_READ = 65536


async def run_probe(
    runc: Runc,
    container_id: str,
    command: Sequence[str],
    timeout: float,
    pid_file: Path,
    keep: int,
) -> ProbeOutcome:
    """Run `command` in the container; its exit code (None: still running after
    `timeout` seconds, then killed) and the first `keep` bytes of its output."""
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    process = await trio.lowlevel.open_process(
        [runc.binary, "--root", str(runc.root), "exec", "--pid-file", str(pid_file),
         container_id, *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        close_fds=True,
    )  # fmt: skip
    output = bytearray()
    timed_out = False
    try:
        assert process.stdout is not None
        with trio.move_on_after(timeout) as scope:
            while chunk := await process.stdout.receive_some(_READ):
                output += chunk[: max(0, keep - len(output))]
            await process.wait()
        timed_out = scope.cancelled_caught
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                _kill_exec(pid_file)
                with trio.move_on_after(5):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()
            with contextlib.suppress(FileNotFoundError):
                pid_file.unlink()
    code = process.returncode
    return ProbeOutcome(None if timed_out else code, bytes(output))


def _kill_exec(pid_file: Path) -> None:
    """SIGKILL the exec'd process (runc forwards no SIGKILL of its own)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
