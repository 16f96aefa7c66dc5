"""The dashboard as a site of the HTTP core (`..http`), on a loopback TCP address.

GET and HEAD only, one task per connection, keep-alive. Nothing a browser does can hold
berthd up: every send has a deadline (a browser that stops reading is dropped), idle
connections and slow requests time out, and connections beyond a limit are refused. Only
loopback
addresses are served, and only requests whose Host is the address bound (or `localhost`)
with its port, so a web page elsewhere cannot reach the dashboard through DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from ..http.errors import Headers, HttpError
from ..http.listen import serve_listeners
from ..http.messages import AnyReply, Request, StreamReply, http_date
from ..http.routing import Route
from ..http.server import Limits, RequestFactory, Server, Site

log = logging.getLogger("berth.dashboard")

LIMITS = Limits(
    max_head=16 * 1024,
    max_body=64 * 1024,
    receive_size=16 * 1024,
    request_timeout=30.0,  # idle keep-alive, and the time a request may take to arrive
    send_timeout=10.0,
    max_connections=64,
)
SERVER_HEADER = "berth-dashboard/0.1.0"
HTTP_DEFAULT_PORT = 80
ALLOWED_METHODS = ("GET", "HEAD")


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
class EventStream(StreamReply):
    """A `text/event-stream` reply: `produce` writes frames until the client leaves."""

    content_type: str | None = "text/event-stream; charset=utf-8"
    headers: Headers = field(default_factory=lambda: [("X-Accel-Buffering", "no")])


Handler = Callable[[Request], Awaitable[AnyReply]]


class ListenError(Exception):
    """The address cannot be listened on (in use, or not on this host)."""


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


class DashboardSite(Site[Request, Handler]):
    """One handler for every path; the Host check and the method come first."""

    log = log
    limits = LIMITS

    def __init__(self, handler: Handler, address: ListenAddress) -> None:
        self.hosts = accepted_hosts(address)
        self.every_path = Route("GET", re.compile(".*", re.DOTALL), handler, upload=False)

    def requests(self, stream: trio.SocketStream) -> RequestFactory[Request]:
        return Request

    def route(self, request: Request) -> Route[Handler]:
        host = request.headers.get("host", "")
        if host.lower() not in self.hosts:
            expected = ", ".join(sorted(self.hosts))
            raise HttpError(400, f"invalid Host {host!r}: expected one of {expected}")
        if request.method not in ALLOWED_METHODS:
            allow = [("Allow", ", ".join(ALLOWED_METHODS))]
            raise HttpError(405, f"method {request.method} not allowed", allow)
        return self.every_path

    async def call(self, route: Route[Handler], request: Request) -> AnyReply:
        return await route.handler(request)

    def headers(self) -> Headers:
        return [
            ("Server", SERVER_HEADER),
            ("Date", http_date()),
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
    server = Server(DashboardSite(handler, bound))
    await serve_listeners(listeners, server.handle, lambda: task_status.started(bound))
