"""The dashboard's HTTP/1.1 server: trio + h11 on a loopback TCP address.

GET only, one task per connection, keep-alive. Nothing a browser does can hold berthd up:
every send has a deadline (a browser that stops reading is dropped), idle connections and
slow request headers time out, and connections beyond a limit are refused. Only loopback
addresses are served, and only requests whose Host is the address bound (or `localhost`)
with its port, so a web page elsewhere cannot reach the dashboard through DNS rebinding.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qsl, unquote, urlsplit

import h11
import trio

from ..http.io import next_event

log = logging.getLogger("berth.dashboard")

SEND_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0  # idle keep-alive, and the time a request's head may take
MAX_CONNECTIONS = 64
MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
RECV = 16 * 1024
SERVER_HEADER = "berth-dashboard/0.1.0"
HTTP_DEFAULT_PORT = 80

Send = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_listen_address(text: str) -> ListenAddress:
    """`127.0.0.1:9323`, `[::1]:9323` or `localhost:9323`; anything not loopback is refused."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.removeprefix("[").removesuffix("]")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{host!r} is not an IP address; the dashboard serves only a loopback address "
            "such as 127.0.0.1 or ::1"
        ) from None
    if not address.is_loopback:
        raise ValueError(
            f"{host} is not a loopback address: metrics and the dashboard are served only on "
            "loopback (127.0.0.0/8 or ::1), as they show every container's configuration"
        )
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"invalid port {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return ListenAddress(str(address), port)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class EventStream:
    """A `text/event-stream` reply: `produce` writes frames until the client leaves."""

    produce: Callable[[Send], Awaitable[None]]


Handler = Callable[[Request], Awaitable[Response | EventStream]]


class ListenError(Exception):
    """The address cannot be listened on (in use, or not on this host)."""


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def accepted_hosts(address: ListenAddress) -> frozenset[str]:
    """The Host headers a request to `address` may carry, compared exactly (lower case):
    the address bound or `localhost`, with the port, which may be left out only when it
    is HTTP's default. A name a rebinding page controls, an empty Host or one with more
    in it (`127.0.0.1:80@evil`) is none of them."""
    literal = f"[{address.host}]" if ":" in address.host else address.host
    names = (literal.lower(), "localhost")
    hosts = {f"{name}:{address.port}" for name in names}
    if address.port == HTTP_DEFAULT_PORT:
        hosts.update(names)
    return frozenset(hosts)


class _Gone(Exception):
    """The client closed, stalled or spoke nonsense: end the connection quietly."""


class DashboardServer:
    def __init__(self, handler: Handler, address: ListenAddress) -> None:
        self.handler = handler
        self.hosts = accepted_hosts(address)
        self.connections = 0

    async def handle(self, stream: trio.SocketStream) -> None:
        if self.connections >= MAX_CONNECTIONS:
            await stream.aclose()
            return
        self.connections += 1
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        try:
            while True:
                request: Request | None = None
                with trio.move_on_after(REQUEST_TIMEOUT_S):
                    request = await self._read_request(stream, conn)
                if request is None:
                    return  # idle, or a request that took too long to arrive
                must_close = await self._answer(stream, conn, request)
                if must_close or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (_Gone, h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except OSError as error:
            log.debug("dashboard connection failed: %s", error)
        except Exception:
            log.exception("dashboard connection failed")
        finally:
            self.connections -= 1
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                await stream.aclose()

    async def _read_request(self, stream: trio.SocketStream, conn: h11.Connection) -> Request:
        try:
            event = await next_event(stream, conn, RECV)
        except h11.RemoteProtocolError as error:
            await self._reply(
                stream, conn, "GET", _error(error.error_status_hint or 400, str(error))
            )
            raise _Gone from error
        if not isinstance(event, h11.Request):
            raise _Gone
        size = 0
        while True:  # a GET has no body; read and drop one within limits
            part = await next_event(stream, conn, RECV)
            if isinstance(part, h11.Data):
                size += len(part.data)
                if size > MAX_BODY:
                    raise _Gone
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                raise _Gone
        target = urlsplit(event.target.decode("latin-1"))
        return Request(
            method=event.method.decode("ascii", "replace").upper(),
            path=unquote(target.path),
            query=dict(parse_qsl(target.query, keep_blank_values=True)),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers},
        )

    async def _answer(
        self, stream: trio.SocketStream, conn: h11.Connection, request: Request
    ) -> bool:
        """Answer one request; True when the connection must close afterwards."""
        host = request.headers.get("host", "")
        if host.lower() not in self.hosts:
            reply: Response | EventStream = _error(
                400, f"invalid Host {host!r}: expected one of {', '.join(sorted(self.hosts))}"
            )
        elif request.method not in ("GET", "HEAD"):
            reply = _error(405, f"method {request.method} not allowed")
            reply.headers.append(("Allow", "GET, HEAD"))
        else:
            try:
                reply = await self.handler(request)
            except HttpError as error:
                reply = _error(error.status, error.message)
            except Exception:
                log.exception("dashboard: %s %s failed", request.method, request.path)
                reply = _error(500, "internal error")
        if isinstance(reply, Response):
            await self._reply(stream, conn, request.method, reply)
            return False
        await self._stream(stream, conn, request.method, reply)
        return True

    async def _send(
        self,
        stream: trio.SocketStream,
        conn: h11.Connection,
        event: h11.Response | h11.Data | h11.EndOfMessage,
    ) -> None:
        data = conn.send(event)
        if not data:
            return
        with trio.move_on_after(SEND_TIMEOUT_S) as deadline:
            await stream.send_all(data)
        if deadline.cancelled_caught:
            raise _Gone  # the browser stopped reading; drop it rather than wait

    async def _reply(
        self, stream: trio.SocketStream, conn: h11.Connection, method: str, reply: Response
    ) -> None:
        body = b"" if method == "HEAD" else reply.body
        headers = [
            *_common_headers(),
            *reply.headers,
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
        ]
        await self._send(stream, conn, h11.Response(status_code=reply.status, headers=headers))
        if body:
            await self._send(stream, conn, h11.Data(data=body))
        await self._send(stream, conn, h11.EndOfMessage())

    async def _stream(
        self, stream: trio.SocketStream, conn: h11.Connection, method: str, reply: EventStream
    ) -> None:
        headers = [
            *_common_headers(),
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("X-Accel-Buffering", "no"),
        ]
        await self._send(stream, conn, h11.Response(status_code=200, headers=headers))
        if method == "HEAD":
            await self._send(stream, conn, h11.EndOfMessage())
            return

        async def send(data: bytes) -> None:
            await self._send(stream, conn, h11.Data(data=data))

        async def watch_close(cancel: trio.CancelScope) -> None:
            # Anything after the request (even a pipelined one) ends the stream: the
            # connection closes after it.
            try:
                while await stream.receive_some(RECV):
                    pass
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            cancel.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_close, nursery.cancel_scope)
            with contextlib.suppress(_Gone, trio.BrokenResourceError, trio.ClosedResourceError):
                await reply.produce(send)
            nursery.cancel_scope.cancel()


def _error(status: int, message: str) -> Response:
    return Response(status, json.dumps({"message": message}).encode() + b"\n")


def _common_headers() -> list[tuple[str, str]]:
    return [
        ("Server", SERVER_HEADER),
        ("Date", formatdate(usegmt=True)),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]


async def serve_dashboard(
    handler: Handler,
    address: ListenAddress,
    *,
    task_status: trio.TaskStatus[ListenAddress] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on `address` and serve until cancelled; started with the bound address."""
    try:
        listeners = await trio.open_tcp_listeners(address.port, host=address.host)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ListenError(f"cannot serve metrics on {address.url()}: {reason}") from None
    bound_host, bound_port = listeners[0].socket.getsockname()[:2]
    bound = ListenAddress(str(bound_host), int(bound_port))
    server = DashboardServer(handler, bound)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started(bound)
            for listener in listeners:
                nursery.start_soon(_accept_loop, listener, server, nursery)
    finally:
        with trio.CancelScope(shield=True):
            for listener in listeners:
                with contextlib.suppress(Exception):
                    await listener.aclose()


async def _accept_loop(
    listener: trio.SocketListener, server: DashboardServer, nursery: trio.Nursery
) -> None:
    while True:
        try:
            stream = await listener.accept()
        except OSError as error:  # EMFILE and friends: wait, do not die
            log.warning("dashboard accept failed: %s", error)
            await trio.sleep(0.1)
            continue
        nursery.start_soon(server.handle, stream)
