"""One connection's bytes: h11 events read from and written to a trio stream."""

from __future__ import annotations

import fcntl
import struct
import termios
from typing import Any

import h11
import trio

PASSTHROUGH_BYTES = 64 * 1024
#: How long a hijack waits for the client to read the 101 before the stream's first bytes.
HEAD_READ_BOUND_S = 0.1
HEAD_READ_POLL_S = 0.0005
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class Disconnected(Exception):
    """The peer closed, stalled past the send deadline or went away mid-message."""


def is_disconnect(error: BaseException) -> bool:
    """Whether `error` (or every error in its group) only says that the peer went away."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_disconnect(e) for e in error.exceptions)
    return isinstance(
        error,
        trio.BrokenResourceError | trio.ClosedResourceError | ConnectionError | Disconnected,
    )


class Wire:
    def __init__(
        self,
        stream: trio.SocketStream,
        max_head: int,
        receive_size: int,
        send_timeout: float | None,
    ) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head)
        self.receive_size = receive_size
        self.send_timeout = send_timeout

    async def receive(self) -> bytes:
        """The next bytes from the peer; b"" once it has gone (closed, reset or broken)."""
        try:
            return await self.stream.receive_some(self.receive_size)
        except _STREAM_ERRORS:
            return b""

    async def next_event(self) -> Any:
        """The connection's next h11 event, reading from the stream as needed.

        A client that sent `Expect: 100-continue` is told to go on; a peer that has gone
        away reads as end of data, which h11 turns into `ConnectionClosed` or a protocol
        error.
        """
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            await self.continue_if_asked()
            self.conn.receive_data(await self.receive())

    async def continue_if_asked(self) -> None:
        """`100 Continue` to a client that sent `Expect: 100-continue` and waits for it."""
        if self.conn.they_are_waiting_for_100_continue:
            await self.send_raw(
                self.conn.send(h11.InformationalResponse(status_code=100, headers=[]))
            )

    async def send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            await self.send_raw(data)

    async def send_data(self, data: bytes) -> None:
        """Body bytes as h11 frames them; a large piece is sent from where it is rather
        than joined with its framing into a new buffer (a copy of every byte)."""
        pieces = self.conn.send_with_data_passthrough(h11.Data(data=data)) or []
        if len(data) < PASSTHROUGH_BYTES:
            pieces = [b"".join(pieces)]
        for piece in pieces:
            await self.send_raw(piece)

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as they are; a peer that does not take them within the send
        deadline is dropped rather than waited for."""
        if self.send_timeout is None:
            await self.stream.send_all(data)
            return
        with trio.move_on_after(self.send_timeout) as deadline:
            await self.stream.send_all(data)
        if deadline.cancelled_caught:
            raise Disconnected

    async def wait_sent_read(self) -> None:
        """Until the peer has read all that was sent (a unix socket's output queue, SIOCOUTQ,
        is empty), at most HEAD_READ_BOUND_S.

        A Python client (docker-py, through http.client) reads a 101's head through a
        buffered reader and then the raw socket: bytes that came with the head into that
        buffer are lost to it. dockerd has the same race; berth, answering faster, lost
        `attach(logs=True, stream=False)`'s whole output one time in ten."""
        fd = self.stream.socket.fileno()
        with trio.move_on_after(HEAD_READ_BOUND_S):
            while _unread(fd) > 0:
                await trio.sleep(HEAD_READ_POLL_S)


def _unread(fd: int) -> int:
    try:
        queued = fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0")  # SIOCOUTQ
    except OSError:
        return 0
    return int(struct.unpack("i", queued)[0])
