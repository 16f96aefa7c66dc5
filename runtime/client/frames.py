"""Docker's stdcopy frames (attach and logs without a TTY) back onto stdout and stderr."""

from __future__ import annotations

import struct
from typing import BinaryIO, Protocol


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


def copy_frames(source: Readable, stdout: BinaryIO, stderr: BinaryIO) -> None:
    """Write each frame's payload to its stream (1 stdout, 2 stderr) until the source ends."""
    while True:
        header = source.read(8)
        if len(header) < 8:
            return
        stream, length = struct.unpack(">BxxxI", header)
        payload = source.read(length)
        target = stderr if stream == 2 else stdout
        target.write(payload)
        target.flush()
        if len(payload) < length:
            return
