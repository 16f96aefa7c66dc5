"""A small site of the HTTP core, served on socket pairs, and an h11 client for it.

Nothing here knows Docker or the dashboard: the routes echo what the core parsed, stream,
spool uploads, hijack and fail, so that the tests see the core's own behaviour.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import trio

from berth.runtime.http.messages import (
    AnyReply,
    Headers,
    HttpError,
    Reply,
    Request,
    Write,
    json_reply,
)
from berth.runtime.http.routing import Route, Router
from berth.runtime.http.server import Limits, RequestFactory, Server, Site

Handler = Callable[[Request], Awaitable[AnyReply]]
LIMITS = Limits(max_head=2048, max_body=1024, max_upload=8192, receive_size=4096)
SITE_HEADER = ("X-Site", "test")


@dataclass
class Observed:
    method: str
    template: str | None
    status: int


class TestSite(Site[Request, Handler]):
    """Routes by a `Router`; a request with `X-Refuse` is refused by the route hook."""

    __test__ = False  # not a test class, whatever its name
    log = logging.getLogger("tests.http")

    def __init__(self, limits: Limits = LIMITS, upload_dir: Path | None = None) -> None:
        self.limits = limits
        self.upload_dir = upload_dir
        self.router: Router[Handler] = Router()
        self.observed: list[Observed] = []

    def requests(self, stream: trio.SocketStream) -> RequestFactory[Request]:
        return Request

    def route(self, request: Request) -> Route[Handler]:
        route, request.params = self.router.match(request.method, request.path)
        if "x-refuse" in request.headers:
            raise HttpError(403, "refused by the route hook")
        return route

    async def call(self, route: Route[Handler], request: Request) -> AnyReply:
        return await route.handler(request)

    def headers(self) -> Headers:
        return [SITE_HEADER]

    def observe(
        self, request: Request, route: Route[Handler] | None, status: int, seconds: float
    ) -> None:
        template = route.template if route is not None else None
        self.observed.append(Observed(request.method, template, status))


async def echo(request: Request) -> Reply:
    """What the core made of the request."""
    return json_reply(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": request.headers,
            "params": request.params,
            "body": request.body.decode("latin-1"),
        }
    )


def echo_site(limits: Limits = LIMITS, upload_dir: Path | None = None) -> TestSite:
    """A site whose routes echo the request: `GET /items/{id}` and `POST /items`."""
    site = TestSite(limits, upload_dir)
    site.router.add("GET", "/items/(?P<id>[^/]+)", echo)
    site.router.add("POST", "/items", echo)
    return site


@dataclass
class Served:
    server: Server[Request, Handler]
    connect: Callable[[], Awaitable[trio.SocketStream]]


@asynccontextmanager
async def served(site: TestSite) -> AsyncIterator[Served]:
    """`site` served by the core; each `connect()` is a new connection (a socket pair)."""
    server = Server(site)
    async with trio.open_nursery() as nursery:

        async def connect() -> trio.SocketStream:
            ours, theirs = trio.socket.socketpair()
            nursery.start_soon(server.handle, trio.SocketStream(ours))
            return trio.SocketStream(theirs)

        yield Served(server, connect)
        nursery.cancel_scope.cancel()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """HTTP/1.1 on one connection, parsed by h11 (keep-alive, pipelining)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    def encode(
        self, method: str, target: str, body: bytes = b"", headers: Headers | None = None
    ) -> bytes:
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        all_headers = [("Host", "test"), ("Content-Length", str(len(body))), *(headers or [])]
        data = self.conn.send(h11.Request(method=method, target=target, headers=all_headers))
        data += self.conn.send(h11.Data(data=body)) if body else b""
        return data + (self.conn.send(h11.EndOfMessage()) or b"")

    async def event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.conn.receive_data(await self.stream.receive_some(65536))

    async def head(self) -> h11.Response:
        event = await self.event()
        assert isinstance(event, h11.Response), event
        return event

    async def receive(self) -> Answer:
        response = await self.head()
        headers = {k.decode().lower(): v.decode() for k, v in response.headers}
        answer = Answer(response.status_code, headers)
        while not isinstance(event := await self.event(), h11.EndOfMessage):
            assert isinstance(event, h11.Data), event
            answer.chunks.append(bytes(event.data))
        answer.body = b"".join(answer.chunks)
        return answer

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: Headers | None = None
    ) -> Answer:
        await self.stream.send_all(self.encode(method, target, body, headers))
        return await self.receive()


def raw_get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


async def read_to_end(stream: trio.SocketStream) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    received = b""
    try:
        while chunk := await stream.receive_some(65536):
            received += chunk
    except trio.BrokenResourceError:  # closed with our request unread
        pass
    return received


def writer_of(chunks: list[bytes]) -> Callable[[Write], Awaitable[None]]:
    async def produce(write: Write) -> None:
        for chunk in chunks:
            await write(chunk)

    return produce
