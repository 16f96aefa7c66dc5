"""Docker's stdcopy framing: an 8-byte header (stream, 0, 0, 0, uint32 BE length) per frame.

Without a TTY, attach and logs carry each write as a frame; stream 1 is stdout, 2 stderr.
"""

from __future__ import annotations

import struct

from berth.adapters.logs import LogLine

STDOUT = 1
STDERR = 2
MAX_FRAME = (1 << 32) - 1


def frame(stream: int, payload: bytes) -> bytes:
    """One stdcopy frame (long payloads are split so the length always fits)."""
    out = bytearray()
    for start in range(0, max(len(payload), 1), MAX_FRAME):
        part = payload[start : start + MAX_FRAME]
        out += struct.pack(">BxxxI", stream, len(part)) + part
    return bytes(out)


def timestamp(line: LogLine) -> bytes:
    """Docker's RFC 3339 timestamp with nanoseconds, as `logs --timestamps` prints it."""
    return line.time.strftime("%Y-%m-%dT%H:%M:%S.%f000Z").encode()


def log_frame(line: LogLine, timestamps: bool = False, details: bool = False) -> bytes:
    """The frame for one log line (a partial line gets no newline). `details` (`logs
    --details`): the line's attributes and a space before it, as dockerd writes them;
    berth records no attributes (the log options that add them are refused), so a space."""
    text = line.text + (b"" if line.partial else b"\n")
    if details:
        text = b" " + text
    if timestamps:
        text = timestamp(line) + b" " + text
    return frame(STDOUT if line.stream == "stdout" else STDERR, text)
