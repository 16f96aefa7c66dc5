"""The runc binary: one process per command, its answer and its error text.

runc keeps each container's state in `<root>/<id>`; where that directory is missing
there is nothing to ask runc about, which saves a process on the common paths.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import trio

from berth.adapters.processes import process_start_time
from berth.domain.errors import BerthError

from .protocol import RuncState, Status


def runc_message(stderr: bytes) -> str:
    """runc's error text from its stderr (plain or JSON log lines)."""
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    messages = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            messages.append(line.strip())
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            messages.append(str(entry.get("msg", "")))
    return "; ".join(messages) if messages else "runc failed"


class Runc:
    """runc with its `--root`; every call reaps its process, stdin is /dev/null."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = shutil.which(binary) or binary
        self.root = root

    def knows(self, container_id: str) -> bool:
        return (self.root / container_id).exists()

    async def run(self, *args: str) -> tuple[int, bytes, bytes]:
        result = await trio.run_process(
            [self.binary, "--root", str(self.root), *args],
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            close_fds=True,
        )
        return result.returncode, result.stdout, result.stderr

    async def state(self, container_id: str) -> RuncState | None:
        """`runc state`, or None if runc does not know the container."""
        code, out, err = await self.run("state", container_id)
        if code != 0:
            # runc's "does not exist", crun's "error opening file `<root>/<id>/status`".
            if b"not exist" in err or b"/status`: No such file" in err:
                return None
            raise BerthError(f"runc state {container_id}: {runc_message(err)}")
        doc = json.loads(out)
        pid = int(doc.get("pid") or 0)
        status: Status = doc.get("status", "stopped")
        start_time = process_start_time(pid) if pid > 0 and status != "stopped" else None
        return RuncState(
            id=container_id,
            status=status,
            pid=pid,
            start_time=start_time,
            bundle=str(doc.get("bundle", "")),
        )
