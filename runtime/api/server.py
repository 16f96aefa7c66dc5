"""The Docker Engine API as a site of the HTTP core (`..http`), on a unix socket.

What is Docker's lives here: `/vX.Y` prefixes (1.24 to 1.41), Docker's response headers,
errors as `{"message": ...}` with the error's `http_status` (304 without a body), the
`101 UPGRADED` raw stream of attach, the body limits, and the caller's `Actor` from the
socket's peer credentials on every request. Handlers are `(App, Request)`.

No input from a client may yield a 500 or end the server: domain errors map to their
status, malformed requests to 400, and only a genuine internal error is a 500 (logged).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from berth.domain.cause import Actor, ActorKind
from berth.domain.errors import BerthError, InvalidParameter, NotModified, disk_full
from berth.domain.redaction import command_text

from ..http import messages, routing
from ..http.errors import Headers, HttpError
from ..http.listen import serve_listeners, unix_listener
from ..http.messages import (
    AnyReply,
    RawChannel,
    Reply,
    StreamOut,
    StreamReply,
    Write,
    http_date,
    json_line,
    json_reply,
    message_reply,
    no_content,
)
from ..http.server import Limits, RequestFactory, Server, Site
from ..store.integrity import ReadOnlyLog
from ..store.postgres import store_unavailable
from .params import go_int

if TYPE_CHECKING:
    from ..service.engine import Engine
    from ..service.images import ImageService
    from ..service.runner import Runner

__all__ = [
    "API_VERSION",
    "DEFAULT_SOCKET",
    "ENGINE_VERSION",
    "MIN_API_VERSION",
    "App",
    "HijackReply",
    "RawChannel",
    "Reply",
    "Request",
    "Route",
    "Router",
    "StreamOut",
    "StreamReply",
    "Write",
    "error_reply",
    "json_line",
    "json_reply",
    "no_content",
    "parse_host",
    "serve_api",
    "split_version",
]

log = logging.getLogger("berth.api")

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "20.10.24"
SERVER_HEADER = f"Docker/{ENGINE_VERSION} (linux) berth/0.1.0"
LIMITS = Limits(
    max_head=64 * 1024,
    max_body=10 * 1024 * 1024,  # JSON and other small bodies
    max_upload=16 * 1024 * 1024 * 1024,  # image archives, spooled to disk
    receive_size=256 * 1024,  # an upload (docker cp in) in fewer, larger reads
)
DEFAULT_SOCKET = Path("/run/berth/berth.sock")
SOCKET_MODE = 0o660  # root-equivalent: only root and the socket's group
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")

# (method, route template, status, seconds): how berthd's metrics see each exchange.
RequestObserver = Callable[[str, str, int, float], None]
UNMATCHED_ROUTE = "unmatched"
# The routes besides GET and HEAD that record nothing, so a read-only log still serves them.
READ_ONLY_ROUTES = frozenset(
    {
        ("POST", "/containers/{id}/wait"),
        ("POST", "/containers/{id}/attach"),
        ("POST", "/containers/{id}/resize"),
    }
)


@dataclass
class App:
    """What handlers work with: the engine, its images and the runner."""

    engine: Engine
    images: ImageService
    runner: Runner
    root: Path
    observe: RequestObserver | None = None


@dataclass
class Request(messages.Request):
    """A request to the API: who sent it and the API version it asked for."""

    actor: Actor = field(default_factory=lambda: Actor(ActorKind.API))
    api_version: str = API_VERSION

    def integer(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None or value == "":
            return None
        return go_int(name, value)


@dataclass
class HijackReply(messages.HijackReply):
    """Docker's hijacked stream: `101 UPGRADED`, then stdcopy frames (attach)."""

    reason: str = "UPGRADED"
    content_type: str | None = "application/vnd.docker.raw-stream"


Handler = Callable[[App, Request], Awaitable[AnyReply]]
Router = routing.Router[Handler]
Route = routing.Route[Handler]


def error_reply(status: int, message: str) -> Reply:
    if status == 304:
        return no_content(304)
    return message_reply(status, message)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def split_version(path: str) -> tuple[str, str]:
    """(`api version`, path without the prefix); 400 outside 1.24-1.41."""
    found = _VERSIONED.match(path)
    if not found:
        return API_VERSION, path
    version = f"{int(found.group(1))}.{int(found.group(2))}"
    if _version_tuple(version) > _version_tuple(API_VERSION):
        raise InvalidParameter(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )
    if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
        raise InvalidParameter(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    return version, found.group(3)


def peer_actor(sock: socket.socket | trio.socket.SocketType) -> Actor:
    """The caller from `SO_PEERCRED`, with its command line when /proc lets us read it."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
    except (OSError, AttributeError, struct.error):
        return Actor(ActorKind.API)
    command: str | None = None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read(4096)
        argv = cmdline.rstrip(b"\0").decode(errors="replace").split("\0")
        command = command_text(argv) if cmdline else None
    except OSError:
        pass
    return Actor(ActorKind.API, uid=uid, pid=pid, command=command)


def common_headers() -> Headers:
    return [
        ("Api-Version", API_VERSION),
        ("Docker-Experimental", "false"),
        ("Ostype", "linux"),
        ("Server", SERVER_HEADER),
        ("Date", http_date()),
    ]


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


class ApiSite(Site[Request, Handler]):
    log = log
    limits = LIMITS

    def __init__(self, app: App, router: Router) -> None:
        self.app = app
        self.router = router
        self.upload_dir = app.root / "tmp"

    def requests(self, stream: trio.SocketStream) -> RequestFactory[Request]:
        actor = peer_actor(stream.socket)

        def make(method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> Request:
            return Request(method, path, query, headers, actor=actor)

        return make

    def route(self, request: Request) -> Route:
        request.api_version, request.path = split_version(request.path)
        route, request.params = self.router.match(request.method, request.path)
        self._check_writable(route)
        return route

    def _check_writable(self, route: Route) -> None:
        """While the log is served read-only, refuse up front every request that would
        record an event, before it touches anything (the store refuses the append too)."""
        read_only = self.app.engine.store.read_only
        if read_only is None or route.method in ("GET", "HEAD"):
            return
        if (route.method, route.template) not in READ_ONLY_ROUTES:
            raise ReadOnlyLog(read_only.message)

    async def call(self, route: Route, request: Request) -> AnyReply:
        return await route.handler(self.app, request)

    def headers(self) -> Headers:
        return common_headers()

    def error_reply(self, error: Exception, request: Request | None) -> Reply:
        leaf = _leaf(error)
        if isinstance(leaf, HttpError):
            return error_reply(leaf.status, leaf.message)
        if isinstance(leaf, NotModified):
            return no_content(304)
        if not isinstance(leaf, BerthError):  # a write below found no space, or no store
            leaf = disk_full(leaf, self.app.root) or store_unavailable(leaf) or leaf
        if isinstance(leaf, BerthError):
            return error_reply(leaf.http_status, leaf.message)
        self.log_internal_error(error, request)
        return error_reply(500, f"internal error: {type(leaf).__name__}: {leaf}")

    def observe(self, request: Request, route: Route | None, status: int, seconds: float) -> None:
        if self.app.observe is not None:
            template = route.template if route is not None else UNMATCHED_ROUTE
            self.app.observe(request.method, template, status, seconds)


def parse_host(host: str) -> Path:
    """`unix:///run/berth/berth.sock` → the socket's path (only unix sockets are served)."""
    if host.startswith("unix://"):
        path = host.removeprefix("unix://")
    elif host.startswith("/"):
        path = host
    else:
        raise ValueError(f"unsupported host {host!r}: only unix:///PATH is served")
    if not path.startswith("/"):
        raise ValueError(f"unix socket path must be absolute: {host!r}")
    return Path(path)


async def serve_api(
    app: App,
    router: Router,
    path: Path,
    *,
    task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on `path` and serve each connection in its own task until cancelled."""
    server = Server(ApiSite(app, router))
    owner = (0, 0) if os.geteuid() == 0 else None
    async with unix_listener(path, SOCKET_MODE, owner) as listener:
        await serve_listeners([listener], server.handle, lambda: task_status.started(path))
