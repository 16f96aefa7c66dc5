"""Docker's stdcopy frames (attach and logs without a TTY) back onto stdout and stderr."""

from __future__ import annotations

import struct
from typing import BinaryIO, Protocol

#: The most read at once: a frame may announce up to 4 GiB, which is copied in pieces.
PIECE = 64 * 1024


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


def copy_frames(source: Readable, stdout: BinaryIO, stderr: BinaryIO) -> None:
    """Write each frame's payload to its stream (1 stdout, 2 stderr) until the source ends."""
    while True:
        header = source.read(8)
        if len(header) < 8:
            return
        stream, length = struct.unpack(">BxxxI", header)
        target = stderr if stream == 2 else stdout
        while length > 0:
            payload = source.read(min(length, PIECE))
            target.write(payload)
            length -= len(payload)
            if len(payload) == 0:
                target.flush()
                return
        target.flush()
