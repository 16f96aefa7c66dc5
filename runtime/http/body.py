"""Bodies read and written straight on the connection's socket, by a worker thread.

`UploadStream`: a request body.

A route that takes a large upload and can use it as it arrives (`docker cp` into a
container) gets the body as a stream rather than a spooled file: h11 would cost more CPU
than the whole copy (its chunked reader makes a new bytes object of every piece), and a
spool writes each byte once more. So h11 parses the head only; the body's framing
(Content-Length or chunked) is decoded here, into one reused buffer, by the thread that
uses the bytes. h11 never sees the body, so the connection ends after such an exchange.

`SocketSink`: a reply body. A tar of a container's files (`docker cp` out) would
otherwise go from its files through a pipe into Python and out again, each piece
scheduled by trio; here the thread frames each piece as a chunk and a file's data goes
with sendfile(2) from the file to the socket: no copy in Python, no trio task per piece.
h11 writes the head and the last chunk, as for any reply.

The thread blocks in poll(2) on the socket and on a pipe that cancellation writes to,
so a cancelled request stops the thread rather than abandoning it with the socket's fd.
"""

from __future__ import annotations

import errno
import os
import re
import select
from collections.abc import Callable
from typing import TypeVar

import outcome
import trio

from .errors import HttpError
from .wire import Disconnected, Wire

T = TypeVar("T")
BUFFER_BYTES = 1 << 20
SMALL_WRITES = 64 * 1024  # tar headers and padding, gathered into one chunk
MAX_LINE = 4096  # a chunk-size line or a trailer
EMPTY = memoryview(b"")
_FILE_ERRORS = (errno.EIO, errno.EINVAL, errno.EBADF)
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
Read = Callable[[], memoryview]  # the body's next bytes, valid until the next call


class UploadStream:
    """The body of one request, read once, in order, by `consume`'s worker thread."""

    def __init__(
        self, wire: Wire, headers: dict[str, str], limit: int, timeout: float | None
    ) -> None:
        self._fd = wire.stream.socket.fileno()
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._left = 0 if self._chunked else int(headers.get("content-length") or 0)
        self._limit = limit
        self._timeout = timeout
        self._buffer = bytearray(BUFFER_BYTES)
        self._view = memoryview(self._buffer)
        pending = wire.conn.trailing_data[0]  # body bytes that came with the head
        self._view[: len(pending)] = pending
        self._start, self._end = 0, len(pending)
        self._chunk_left = 0
        self._after_chunk = False  # a chunk's data ends with CRLF
        self._read = 0
        self._stop = -1
        self.done = False  # its end was read: the exchange may be answered
        self.gone = False  # the client went away (or never sent the rest)
        self.refused = False  # too large or malformed: answered as it is, not read on

    async def consume(self, work: Callable[[Read], T]) -> T:
        """`work(read)` in a worker thread; cancelling the caller stops the thread's
        reads (they raise Disconnected) and waits for it."""

        def run(stop: int) -> T:
            self._stop = stop
            try:
                return work(self.read)
            finally:
                self._stop = -1

        return await in_stoppable_thread(run)

    async def drain(self) -> None:
        """Read the rest of the body and drop it (a refused upload is read whole, so
        that the client, still sending, reads the answer)."""

        def drop(read: Read) -> None:
            while read():
                pass

        await self.consume(drop)

    # -- the worker thread's side ----------------------------------------------------------

    def read(self) -> memoryview:
        """The body's next bytes: a view of the buffer, valid until the next call;
        empty at the body's end."""
        if self.done:
            return EMPTY
        if not self._chunked:
            if self._left == 0:
                self.done = True
                return EMPTY
            piece = self._take(self._left)
            self._left -= len(piece)
            return piece
        while self._chunk_left == 0:
            if not self._next_chunk():
                self.done = True
                return EMPTY
        piece = self._take(self._chunk_left)
        self._chunk_left -= len(piece)
        return self._gathered(piece)

    def _take(self, most: int) -> memoryview:
        if self._start == self._end:
            self._start = self._end = 0
            self._fill()
        count = min(most, self._end - self._start)
        self._count(count)
        piece = self._view[self._start : self._start + count]
        self._start += count
        return piece

    def _count(self, count: int) -> None:
        self._read += count
        if self._read > self._limit:
            self.refused = True
            raise HttpError(413, f"request body too large (limit {self._limit} bytes)")

    def _gathered(self, piece: memoryview) -> memoryview:
        """`piece` with the data of the next chunks already in the buffer moved up behind
        it, over their framing: one piece for the user where the client sent many small
        chunks (the docker CLI sends 32 KiB ones), so fewer writes and fewer loops."""
        first = self._start - len(piece)
        end = self._start
        while self._chunk_left == 0 and (size := self._buffered_chunk()):
            count = min(size, self._end - self._start)
            self._count(count)
            self._view[end : end + count] = self._view[self._start : self._start + count]
            end += count
            self._start += count
            self._chunk_left = size - count
        return self._view[first:end]

    def _buffered_chunk(self) -> int:
        """The size of the next chunk when its framing is whole in the buffer (its start
        then moved past it), else 0: left to `_next_chunk`, as is the last chunk."""
        at = self._start
        if self._buffer[at : at + 2] != b"\r\n":
            return 0
        end = self._buffer.find(b"\r\n", at + 2, min(self._end, at + 2 + MAX_LINE))
        if end < 0:
            return 0
        size_text = bytes(self._view[at + 2 : end]).split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text) or not (size := int(size_text, 16)):
            return 0
        self._start = end + 2
        return size

    def _next_chunk(self) -> bool:
        """Parses the next chunk's size line; False at the last chunk (trailers read)."""
        if self._after_chunk and self._line():
            raise self._malformed("chunk data not followed by CRLF")
        self._after_chunk = True
        size_text = self._line().split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise self._malformed(f"bad chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            while self._line():  # trailers, up to the empty line
                pass
            return False
        self._chunk_left = size
        return True

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n", self._start, self._end)) < 0:
            if self._end - self._start > MAX_LINE:
                raise self._malformed("chunk-size line too long")
            # What is left of the buffer moves to its front: a line is short.
            left = self._end - self._start
            self._view[:left] = self._view[self._start : self._end]
            self._start, self._end = 0, left
            self._fill()
        line = bytes(self._view[self._start : end])
        self._start = end + 2
        return line

    def _fill(self) -> None:
        """More bytes from the socket after `_end`; Disconnected once the client has
        gone, has been silent past the timeout, or the request is cancelled."""
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        if self._stop >= 0:
            poller.register(self._stop, select.POLLIN)
        timeout_ms = None if self._timeout is None else int(self._timeout * 1000)
        while True:
            try:
                count = os.readv(self._fd, [self._view[self._end :]])
            except BlockingIOError:
                ready = poller.poll(timeout_ms)
                if not ready or any(fd == self._stop for fd, _ in ready):
                    self.gone = True
                    raise Disconnected from None
                continue
            except OSError:
                count = 0
            if count == 0:
                self.gone = True
                raise Disconnected
            self._end += count
            return

    def _malformed(self, reason: str) -> HttpError:
        self.refused = True
        return HttpError(400, f"malformed chunked request body: {reason}")


async def in_stoppable_thread(work: Callable[[int], T]) -> T:
    """`work(stop)` in a worker thread, `stop` a descriptor that becomes readable once
    the caller is cancelled (the thread's polls watch it); waits for the thread."""
    stop_read, stop_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    async def stop_when_cancelled() -> None:
        try:
            await trio.sleep_forever()
        finally:
            os.write(stop_write, b"!")

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_when_cancelled)
            result = await trio.to_thread.run_sync(outcome.capture, work, stop_read)
            nursery.cancel_scope.cancel()
    finally:
        os.close(stop_read)
        os.close(stop_write)
    return result.unwrap()


class SocketSink:
    """A reply body written by a worker thread onto the socket, each flush one chunk
    (none when the client speaks HTTP/1.0: the body then ends with the connection)."""

    def __init__(self, wire: Wire, stop: int, timeout: float | None) -> None:
        self._fd = wire.stream.socket.fileno()
        self._chunked = (wire.conn.their_http_version or b"1.0") >= b"1.1"
        self._poller = select.poll()
        self._poller.register(self._fd, select.POLLOUT)
        self._poller.register(stop, select.POLLIN)
        self._stop = stop
        self._timeout_ms = None if timeout is None else int(timeout * 1000)
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= SMALL_WRITES:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._chunk(len(self._pending))
            self._send(b"\r\n")

    def send_file(self, fd: int, count: int) -> None:
        """One chunk: what was written before, then `count` bytes of the file (zeros
        past its end, as the chunk's size was said first)."""
        self._chunk(len(self._pending) + count)
        left = count
        while left:
            try:
                sent = os.sendfile(self._fd, fd, None, left)
            except BlockingIOError:
                self._wait()
                continue
            except OSError as error:
                if error.errno in _FILE_ERRORS:
                    raise  # the file's fault, not the client's
                raise Disconnected from error
            if sent == 0:
                break  # the file shrank
            left -= sent
        while left:
            self._send(bytes(min(left, SMALL_WRITES)))
            left -= min(left, SMALL_WRITES)
        self._send(b"\r\n")

    def _chunk(self, size: int) -> None:
        head = b"%x\r\n" % size if self._chunked else b""
        self._send(head + self._pending)
        self._pending.clear()

    def _send(self, data: bytes) -> None:
        if data == b"\r\n" and not self._chunked:
            return
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                self._wait()
            except OSError as error:
                raise Disconnected from error

    def _wait(self) -> None:
        ready = self._poller.poll(self._timeout_ms)
        if not ready or any(fd == self._stop for fd, _ in ready):
            raise Disconnected
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in ready):
            raise Disconnected
