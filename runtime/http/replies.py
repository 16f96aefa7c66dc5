"""Writing the three kinds of reply on one connection: whole, streamed, hijacked."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import h11
import trio

from berth.domain.errors import BerthError

from .body import SocketSink, in_stoppable_thread
from .errors import Headers
from .messages import HijackReply, Reply, StreamReply, ThreadSink, Write
from .wire import Disconnected, Wire, is_disconnect

NO_BODY_STATUSES = (204, 304)


class Sender:
    """Answers on `wire`, each reply with the front-end's own `headers()` first."""

    def __init__(
        self,
        wire: Wire,
        headers: Callable[[], Headers],
        log: logging.Logger,
        max_pending: int,
    ) -> None:
        self.wire = wire
        self.headers = headers
        self.log = log
        self.max_pending = max_pending  # bytes a client may send ahead while a stream runs

    async def whole(self, method: str, reply: Reply, *, close: bool = False) -> None:
        """The reply with its Content-Length; a HEAD gets the headers only, with length 0
        as dockerd answers it."""
        headers = self.headers() + reply.headers
        if reply.content_type is not None:
            headers.append(("Content-Type", reply.content_type))
        body = b"" if method == "HEAD" or reply.status in NO_BODY_STATUSES else reply.body
        if reply.status not in NO_BODY_STATUSES:
            headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        await self.wire.send(h11.Response(status_code=reply.status, headers=headers))
        if body:
            await self.wire.send(h11.Data(data=body))
        await self.wire.send(h11.EndOfMessage())

    async def stream(
        self, method: str, reply: StreamReply, on_error: Callable[[Exception], Reply]
    ) -> bool:
        """Chunks as the producer writes them, until it returns or the client goes away
        (which cancels it). An error before any output is answered by `on_error`; after
        the headers it can only end the connection. True when the connection lives on."""
        started = False
        client_gone = False

        async def start() -> None:
            nonlocal started
            if started:
                return
            started = True
            headers = self.headers() + reply.headers
            if reply.content_type is not None:
                headers.append(("Content-Type", reply.content_type))
            await self.wire.send(h11.Response(status_code=reply.status, headers=headers))

        async def write(data: bytes) -> None:
            await start()
            if data:
                await self.wire.send_data(data)

        async def from_thread(work: Callable[[ThreadSink], None]) -> None:
            await start()
            await in_stoppable_thread(
                lambda stop: work(SocketSink(self.wire, stop, self.wire.send_timeout))
            )

        async def watch_peer(cancel: trio.CancelScope) -> None:
            nonlocal client_gone
            pending = 0
            while data := await self.wire.receive():
                pending += len(data)
                if pending > self.max_pending:
                    break  # more than a request's head: not a client to keep reading for
                self.wire.conn.receive_data(data)  # a pipelined request, for the next cycle
            client_gone = True
            cancel.cancel()

        if method == "HEAD":  # the headers a GET would get; nothing is produced
            await start()
            await self.wire.send(h11.EndOfMessage())
            return True
        if not reply.lazy:
            await start()
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_peer, nursery.cancel_scope)
            try:
                await reply.produce(_StreamOut(write, from_thread))
            except Exception as error:
                if is_disconnect(error):
                    raise Disconnected from error
                failure = error
            nursery.cancel_scope.cancel()
        if client_gone:
            return False
        if failure is not None:
            if not started:
                await self.whole(method, on_error(failure))
                return True
            if isinstance(failure, BerthError):
                # A known condition (e.g. the container removed while its archive was
                # read): the client sees the stream end; no traceback, it is no bug.
                self.log.warning("stream ended early: %s", failure.message)
            else:
                self.log.error("stream failed after its headers were sent", exc_info=failure)
            return False
        await start()
        await self.wire.send(h11.EndOfMessage())
        return True

    async def hijack(self, reply: HijackReply) -> None:
        """`101`, then the raw stream until the producer returns; then end our side."""
        lines = [f"HTTP/1.1 101 {reply.reason}"]
        if reply.content_type is not None:
            lines.append(f"Content-Type: {reply.content_type}")
        lines += [f"{name}: {value}" for name, value in reply.headers]
        lines += ["Connection: Upgrade", f"Upgrade: {reply.upgrade}", "", ""]
        await self.wire.send_raw("\r\n".join(lines).encode("latin-1"))
        await self.wire.wait_sent_read()
        try:
            await reply.produce(HijackedWire(self.wire))
        except Exception as error:
            if not is_disconnect(error):
                self.log.error("hijacked stream failed", exc_info=error)
        with contextlib.suppress(Exception):
            await self.wire.stream.send_eof()


class _StreamOut:
    def __init__(
        self, write: Write, from_thread: Callable[[Callable[[ThreadSink], None]], Awaitable[None]]
    ) -> None:
        self._write = write
        self.from_thread = from_thread

    async def __call__(self, data: bytes) -> None:
        await self._write(data)


class HijackedWire:
    """The connection after a `101`: bytes h11 had already read past the request head come
    first, then the socket's."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        pending, closed = wire.conn.trailing_data
        self._pending = bytes(pending)
        self._closed = closed

    async def send(self, data: bytes) -> None:
        await self.wire.send_raw(data)

    async def receive(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        if self._closed:
            return b""
        return await self.wire.receive()

    async def send_eof(self) -> None:
        with contextlib.suppress(Exception):
            await self.wire.stream.send_eof()
