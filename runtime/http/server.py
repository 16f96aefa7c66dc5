"""The connection loop: read a request within limits, route it, call its handler, reply.

A front-end is a `Site`: its route table and handler calling convention, the headers on
every reply, how its requests are made (e.g. with the caller's credentials), its limits,
and its error hook. No input from a client ends the server: a malformed request is
answered with h11's status hint (400, 431) and the connection closed, a body beyond the
limit with 413, a refused route with whatever the error hook makes of it.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Generic, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import h11
import trio

from .body import UploadStream
from .errors import Headers, HttpError
from .messages import AnyReply, HijackReply, Reply, Request, message_reply
from .replies import Sender
from .routing import H, Route
from .wire import Disconnected, Wire, is_disconnect

R = TypeVar("R", bound=Request)
# Makes one request of a connection from (method, path, query, headers).
RequestFactory = Callable[[str, str, dict[str, str], dict[str, str]], R]


@dataclass(frozen=True)
class Limits:
    max_head: int = 64 * 1024  # request line and headers: 431 beyond
    max_body: int = 10 * 1024 * 1024  # a body held in memory: 413 beyond
    max_upload: int = 0  # a body spooled to a file, for routes that take uploads
    receive_size: int = 64 * 1024
    request_timeout: float | None = None  # idle keep-alive, and the time a request may take
    send_timeout: float | None = None  # a client that stops reading is dropped
    max_connections: int | None = None  # beyond, new connections are closed at once


class BodyTooLarge(Exception):
    pass


class Site(ABC, Generic[R, H]):
    """What a front-end tells the core."""

    log: logging.Logger
    limits: Limits
    upload_dir: Path | None = None  # where upload routes' bodies are spooled

    @abstractmethod
    def requests(self, stream: trio.SocketStream) -> RequestFactory[R]:
        """How the requests of a new connection are made."""

    @abstractmethod
    def route(self, request: R) -> Route[H]:
        """The route for `request` (setting its params); raising refuses it, and its body
        is read and dropped before the error hook answers."""

    @abstractmethod
    async def call(self, route: Route[H], request: R) -> AnyReply:
        """Run the route's handler."""

    def headers(self) -> Headers:
        """Headers on every reply."""
        return []

    def error_reply(self, error: Exception, request: R | None) -> Reply:
        """The error hook: how a refusal or a failure is answered."""
        if isinstance(error, HttpError):
            return message_reply(error.status, error.message, error.headers)
        self.log_internal_error(error, request)
        return message_reply(500, "internal error")

    def log_internal_error(self, error: Exception, request: R | None) -> None:
        where = f"{request.method} {request.path}" if request is not None else "a request"
        self.log.error("internal error in %s", where, exc_info=error)

    def observe(self, request: R, route: Route[H] | None, status: int, seconds: float) -> None:
        """Told of each answered exchange: its route (None when none matched), the status
        it declared and the time from its headers to the end of the reply."""


class Server(Generic[R, H]):
    """Serves one site; `handle` runs one connection to its end."""

    def __init__(self, site: Site[R, H]) -> None:
        self.site = site
        self.limits = site.limits
        self.connections = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        limit = self.limits.max_connections
        if limit is not None and self.connections >= limit:
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                await stream.aclose()
            return
        self.connections += 1
        try:
            await _Connection(self.site, stream).serve()
        except Exception as error:
            if not is_disconnect(error):
                self.site.log.exception("connection failed")
        finally:
            self.connections -= 1
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                await stream.aclose()


class _Connection(Generic[R, H]):
    def __init__(self, site: Site[R, H], stream: trio.SocketStream) -> None:
        self.site = site
        self.limits = limits = site.limits
        self.wire = Wire(stream, limits.max_head, limits.receive_size, limits.send_timeout)
        self.send = Sender(self.wire, site.headers, site.log, limits.max_head)
        self.make_request = site.requests(stream)

    async def serve(self) -> None:
        conn = self.wire.conn
        while await self._exchange():
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _exchange(self) -> bool:
        """Read one request and answer it; False when the connection should close."""
        try:
            with trio.move_on_after(self.limits.request_timeout or float("inf")) as waited:
                read = await self._read()
            if waited.cancelled_caught or read is None:
                return False  # idle, gone, or a request that took too long to arrive
            return await self._answer(*read)
        except h11.RemoteProtocolError as error:
            if self.wire.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = error.error_status_hint or 400
                reply = self.site.error_reply(HttpError(status, str(error)), None)
                with contextlib.suppress(Exception):
                    await self.send.whole("GET", reply, close=True)
            return False

    async def _read(
        self,
    ) -> tuple[R, Route[H] | None, Exception | None, float] | None:
        """The request with its body (or its spooled upload), its route, and why it is
        refused if it is; None when the connection is to close instead (the client has
        gone, or sent a body beyond the limit, which is answered 413 here)."""
        event = await self.wire.next_event()
        if not isinstance(event, h11.Request):
            return None
        # h11 bounds a head only while it is incomplete; one read can bring a whole head
        # far beyond the limit, so its size is checked here too.
        head = len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers)
        if head > self.limits.max_head:
            raise h11.RemoteProtocolError("Receive buffer too long", error_status_hint=431)
        started = time.perf_counter()
        path, query = split_target(event.target.decode("latin-1"))
        pairs = parse_qsl(query, keep_blank_values=True)
        request = self.make_request(
            event.method.decode("ascii", "replace").upper(),
            unquote(path),
            dict(pairs),
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers},
        )
        request.query_pairs = pairs
        route: Route[H] | None = None
        problem: Exception | None = None
        try:
            route = self.site.route(request)
        except Exception as error:
            problem = error
        upload = route is not None and (route.upload or route.streamed)
        limit = self.limits.max_upload if upload else self.limits.max_body
        try:
            if problem is not None or route is None:
                await self._read_body(lambda _: None, limit)  # refused: not kept
            elif route.streamed:
                await self.wire.continue_if_asked()
                request.stream = UploadStream(
                    self.wire, request.headers, limit, self.limits.request_timeout
                )
            elif upload:
                problem = await self._spool(request)
            else:
                parts: list[bytes] = []
                await self._read_body(parts.append, limit)
                request.body = b"".join(parts)
        except BodyTooLarge:
            _discard(request)
            message = f"request body too large (limit {limit} bytes)"
            reply = self._error(HttpError(413, message), request)
            await self.send.whole(request.method, reply, close=True)
            self.site.observe(request, route, 413, time.perf_counter() - started)
            return None
        except BaseException:
            _discard(request)
            raise
        return request, route, problem, started

    async def _read_body(self, sink: Callable[[bytes], object], limit: int) -> None:
        size = 0
        while True:
            event = await self.wire.next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise BodyTooLarge
                sink(event.data)  # h11's own copy of the bytes: no second one
            elif isinstance(event, h11.EndOfMessage):
                return
            else:  # closed, or paused by something h11 did not expect
                raise Disconnected

    async def _spool(self, request: R) -> Exception | None:
        """Read the body into a file; a write that fails (a full disk) ends the spooling
        and is answered once the rest of the body was read, so that the client reads it."""
        problem: Exception | None = None
        spool: IO[bytes] | None = None
        directory = self.site.upload_dir or Path(tempfile.gettempdir())

        def step(action: Callable[[], object], path: Path) -> None:
            nonlocal problem
            if problem is not None:
                return
            try:
                action()
            except OSError as error:
                if error.filename is None:
                    error.filename = str(path)  # name the file that could not be written
                problem = error

        def open_spool() -> None:
            nonlocal spool
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below or in _discard)
                dir=directory, prefix="upload-", delete=False
            )
            request.upload = Path(spool.name)

        def write(data: bytes) -> None:
            if spool is not None:
                step(lambda: spool.write(data), request.upload or directory)

        step(open_spool, directory)
        try:
            await self._read_body(write, self.limits.max_upload)
        finally:
            if spool is not None:
                step(spool.close, request.upload or directory)
                with contextlib.suppress(OSError):
                    spool.close()
        return problem

    async def _answer(
        self, request: R, route: Route[H] | None, problem: Exception | None, started: float
    ) -> bool:
        status: int | None = None
        try:
            if problem is not None or route is None:
                reply: AnyReply = self._error(problem or HttpError(404, "page not found"), request)
            else:
                reply = await self._call(route, request)
            if request.stream is not None:
                reply = await self._finish_stream(request, request.stream, reply)
            status = 101 if isinstance(reply, HijackReply) else reply.status
            if isinstance(reply, Reply):
                # The handler is done with the upload: gone before the client hears back.
                _discard(request)
                # h11 never saw a streamed body: the connection cannot serve another.
                await self.send.whole(request.method, reply, close=request.stream is not None)
                return request.stream is None
            if isinstance(reply, HijackReply):
                await self.send.hijack(reply)
                return False
            return await self.send.stream(
                request.method, reply, lambda error: self._error(error, request)
            )
        finally:
            _discard(request)
            if status is not None:
                self.site.observe(request, route, status, time.perf_counter() - started)

    async def _call(self, route: Route[H], request: R) -> AnyReply:
        try:
            return await self.site.call(route, request)
        except Exception as error:
            if request.stream is not None and request.stream.gone:
                raise Disconnected from error  # no one to answer, and no fault of ours
            return self._error(error, request)

    async def _finish_stream(self, request: R, stream: UploadStream, reply: AnyReply) -> AnyReply:
        """A streamed body the handler left unread (it refused the request first) is read
        to its end before the answer, as the core does for a refused route: a client
        still sending might not read an answer that came early."""
        if not stream.done and not stream.gone and not stream.refused:
            try:
                await stream.drain()
            except HttpError as error:
                return self._error(error, request)
        if stream.gone:
            raise Disconnected
        return reply

    def _error(self, error: Exception, request: R) -> Reply:
        return self.site.error_reply(error, request)


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request target, both still percent-encoded. The usual form,
    `/path?query`, is split at its `?` only: a path that starts with `//` is a path, not
    a host. The absolute form (`http://host/path?query`) is parsed as a URL."""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    url = urlsplit(target)
    return url.path, url.query


def _discard(request: Request) -> None:
    if request.upload is not None:
        with contextlib.suppress(OSError):
            request.upload.unlink()
        request.upload = None
