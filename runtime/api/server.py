"""The Docker Engine API's HTTP/1.1 server: trio + h11 on a unix socket.

One task per connection, keep-alive, `/vX.Y` prefixes, Docker's response headers, errors
as `{"message": ...}` with the error's `http_status`. Handlers answer one of three kinds:

- `Reply`: a whole body (or none: 204, 304);
- `StreamReply`: a chunked body the handler writes piece by piece (each write is one
  chunk); the headers go out at once (`wait` needs that) or, when `lazy`, with the first
  write, so that an error before any output is still a proper error response (`pull`);
- `HijackReply`: `101 UPGRADED`, then the raw connection (attach).

No input from a client may yield a 500 or end the server: domain errors map to their
status, malformed requests to 400, and only a genuine internal error is a 500 (logged).
Every request carries the caller's `Actor` from the socket's peer credentials.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import stat
import struct
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import h11
import trio

from berth.domain.cause import Actor, ActorKind
from berth.domain.errors import BerthError, InvalidParameter, NotFound, NotModified, disk_full
from berth.domain.redaction import command_text

from ..http.io import next_event
from ..store.integrity import ReadOnlyLog
from .params import go_int

if TYPE_CHECKING:
    from ..service.engine import Engine
    from ..service.images import ImageService
    from ..service.runner import Runner

log = logging.getLogger("berth.api")

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "20.10.24"
SERVER_HEADER = f"Docker/{ENGINE_VERSION} (linux) berth/0.1.0"
MAX_BODY = 10 * 1024 * 1024  # JSON and other small bodies
MAX_UPLOAD = 16 * 1024 * 1024 * 1024  # image archives, spooled to disk
MAX_HEADERS = 64 * 1024
RECV = 64 * 1024
DEFAULT_SOCKET = Path("/run/berth/berth.sock")
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")

Write = Callable[[bytes], Awaitable[None]]
# (method, route template, status, seconds): how berthd's metrics see each exchange.
RequestObserver = Callable[[str, str, int, float], None]
UNMATCHED_ROUTE = "unmatched"
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
# The routes besides GET and HEAD that record nothing, so a read-only log still serves them.
READ_ONLY_ROUTES = frozenset(
    {("POST", "/containers/{id}/wait"), ("POST", "/containers/{id}/attach")}
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
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    actor: Actor
    api_version: str = API_VERSION
    body: bytes = b""
    upload: Path | None = None
    params: dict[str, str] = field(default_factory=dict)

    def json(self, *, default: Any = None) -> Any:
        """The body as JSON (`default` when empty); 400 when it is not JSON."""
        if not self.body.strip():
            return default
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as error:
            raise InvalidParameter(f"invalid JSON in request body: {error}") from None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None or value == "":
            return default
        return value.lower() not in ("0", "false", "no")

    def integer(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None or value == "":
            return None
        return go_int(name, value)

    def text(self, name: str, default: str = "") -> str:
        return self.query.get(name, default)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class StreamReply:
    produce: Callable[[Write], Awaitable[None]]
    status: int = 200
    content_type: str | None = "application/json"
    lazy: bool = False  # headers with the first write, so early errors are real errors
    stop_on_eof: bool = True  # a client that goes away cancels the producer


@dataclass
class HijackReply:
    produce: Callable[[Write], Awaitable[None]]


AnyReply = Reply | StreamReply | HijackReply
Handler = Callable[[App, Request], Awaitable[AnyReply]]


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value).encode() + b"\n")


def no_content(status: int = 204) -> Reply:
    return Reply(status, b"", None)


def error_reply(status: int, message: str) -> Reply:
    if status == 304:
        return no_content(304)
    return json_reply({"message": message}, status)


def json_line(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    upload: bool

    @property
    def template(self) -> str:
        """The pattern with each named group as `{name}`: a label that is never a raw path."""
        bare = self.pattern.pattern.removeprefix("^").removesuffix("$")
        return _NAMED_GROUP.sub(lambda found: "{" + found.group(1) + "}", bare)


class Router:
    """Routes by method and path (the path without its `/vX.Y` prefix, percent-decoded)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, *, upload: bool = False) -> None:
        """`pattern` is a regex over the path; named groups become `request.params`."""
        self.routes.append(Route(method, re.compile(f"^{pattern}$"), handler, upload))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and (route.method == method or (method == "HEAD" and route.method == "GET")):
                return route, found.groupdict()
        raise NotFound("page not found")


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


def peer_actor(sock: Any) -> Actor:
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


def common_headers() -> list[tuple[str, str]]:
    return [
        ("Api-Version", API_VERSION),
        ("Docker-Experimental", "false"),
        ("Ostype", "linux"),
        ("Server", SERVER_HEADER),
        ("Date", formatdate(usegmt=True)),
    ]


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _is_disconnect(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_is_disconnect(e) for e in error.exceptions)
    return isinstance(
        error,
        trio.BrokenResourceError | trio.ClosedResourceError | ConnectionError | _Disconnected,
    )


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class Server:
    """Serves one router; `handle` runs one connection to its end."""

    def __init__(self, app: App, router: Router) -> None:
        self.app = app
        self.router = router
        self.upload_dir = app.root / "tmp"

    async def handle(self, stream: trio.SocketStream) -> None:
        actor = peer_actor(stream.socket)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADERS)
        try:
            while await self._one_exchange(stream, conn, actor):
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except _Disconnected:
            pass
        except Exception as error:
            if not _is_disconnect(error):
                log.exception("API connection failed")
        finally:
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                await stream.aclose()

    # Reading -------------------------------------------------------------------------------

    async def _read_body(
        self, stream: trio.SocketStream, conn: h11.Connection, sink: Callable[[bytes], None]
    ) -> None:
        while True:
            event = await next_event(stream, conn, RECV)
            if isinstance(event, h11.Data):
                sink(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                raise _Disconnected

    async def _one_exchange(
        self, stream: trio.SocketStream, conn: h11.Connection, actor: Actor
    ) -> bool:
        """Read one request and answer it; False when the connection should close."""
        try:
            event = await next_event(stream, conn, RECV)
        except h11.RemoteProtocolError as error:
            await self._send_protocol_error(stream, conn, error)
            return False
        if isinstance(event, h11.ConnectionClosed) or not isinstance(event, h11.Request):
            return False
        try:
            return await self._answer(stream, conn, actor, event)
        except h11.RemoteProtocolError as error:
            await self._send_protocol_error(stream, conn, error)
            return False

    async def _send_protocol_error(
        self, stream: trio.SocketStream, conn: h11.Connection, error: h11.RemoteProtocolError
    ) -> None:
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            status = error.error_status_hint or 400
            with contextlib.suppress(Exception):
                await self._send_reply(stream, conn, "GET", error_reply(status, str(error)), True)

    async def _answer(
        self, stream: trio.SocketStream, conn: h11.Connection, actor: Actor, event: h11.Request
    ) -> bool:
        started = time.perf_counter()
        method = event.method.decode("ascii", "replace").upper()
        target = event.target.decode("latin-1")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        request = Request(method, unquote(split.path), query, headers, actor)
        route: Route | None = None
        problem: BerthError | None = None
        try:
            request.api_version, request.path = split_version(request.path)
            route, request.params = self.router.match(method, request.path)
            self._check_writable(route)
        except BerthError as error:
            problem = error
        # Read the body: to a file for uploads, into memory (limited) otherwise.
        upload_file: Any = None
        try:
            if route is not None and route.upload and problem is None:

                def open_spool() -> None:
                    nonlocal upload_file
                    self.upload_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                    upload_file = tempfile.NamedTemporaryFile(  # noqa: SIM115
                        dir=self.upload_dir, prefix="upload-", delete=False
                    )
                    request.upload = Path(upload_file.name)

                problem = self._spool(request, open_spool)
                size = 0

                def to_file(data: bytes) -> None:
                    nonlocal size, problem
                    size += len(data)
                    if size > MAX_UPLOAD:
                        raise _TooLarge
                    if problem is None:
                        problem = self._spool(request, lambda: upload_file.write(data))

                await self._read_body(stream, conn, to_file)
                if problem is None:
                    problem = self._spool(request, upload_file.close)
            elif problem is not None:
                await self._read_body(stream, conn, lambda _: None)  # refused: not kept
            else:
                parts: list[bytes] = []
                total = 0

                def to_memory(data: bytes) -> None:
                    nonlocal total
                    total += len(data)
                    if total > MAX_BODY:
                        raise _TooLarge
                    parts.append(data)

                await self._read_body(stream, conn, to_memory)
                request.body = b"".join(parts)
        except _TooLarge:
            limit = MAX_UPLOAD if upload_file is not None else MAX_BODY
            message = f"request body too large (limit {limit} bytes)"
            await self._send_reply(stream, conn, method, error_reply(413, message), True)
            self._discard(upload_file, request)
            self._observe(method, route, 413, started)
            return False
        except BaseException:
            self._discard(upload_file, request)
            raise
        status: int | None = None
        try:
            if problem is not None or route is None:
                reply: AnyReply = error_reply(
                    problem.http_status if problem else 404,
                    problem.message if problem else "page not found",
                )
            else:
                reply = await self._call(route.handler, request)
            status = 101 if isinstance(reply, HijackReply) else reply.status
            if isinstance(reply, Reply):
                await self._send_reply(stream, conn, method, reply)
                return True
            if isinstance(reply, StreamReply):
                return await self._send_stream(stream, conn, method, reply)
            await self._hijack(stream, reply)
            return False
        finally:
            self._discard(upload_file, request)
            self._observe(method, route, status, started)

    def _spool(self, request: Request, step: Callable[[], object]) -> BerthError | None:
        """One step of spooling an upload to disk; a full disk ends the spooling, and is
        answered once the rest of the body was read (so that the client reads it)."""
        try:
            step()
        except OSError as error:
            full = disk_full(error, request.upload or self.upload_dir)
            if full is None:
                raise
            return full
        return None

    def _check_writable(self, route: Route) -> None:
        """While the log is served read-only, refuse up front every request that would
        record an event, before it touches anything (the store refuses the append too)."""
        read_only = self.app.engine.store.read_only
        if read_only is None or route.method in ("GET", "HEAD"):
            return
        if (route.method, route.template) not in READ_ONLY_ROUTES:
            raise ReadOnlyLog(read_only.message)

    def _observe(
        self, method: str, route: Route | None, status: int | None, started: float
    ) -> None:
        if self.app.observe is None or status is None:
            return
        template = route.template if route is not None else UNMATCHED_ROUTE
        self.app.observe(method, template, status, time.perf_counter() - started)

    @staticmethod
    def _discard(upload_file: Any, request: Request) -> None:
        if upload_file is not None:
            with contextlib.suppress(OSError):
                upload_file.close()
        if request.upload is not None:
            with contextlib.suppress(OSError):
                request.upload.unlink()

    async def _call(self, handler: Handler, request: Request) -> AnyReply:
        try:
            return await handler(self.app, request)
        except Exception as error:
            return self._reply_for(error, request)

    def _reply_for(self, error: Exception, request: Request) -> Reply:
        leaf = _leaf(error)
        if isinstance(leaf, NotModified):
            return no_content(304)
        if not isinstance(leaf, BerthError):  # a write below the handlers found no space
            leaf = disk_full(leaf, self.app.root) or leaf
        if isinstance(leaf, BerthError):
            return error_reply(leaf.http_status, leaf.message)
        log.error("internal error in %s %s", request.method, request.path, exc_info=error)
        return error_reply(500, f"internal error: {type(leaf).__name__}: {leaf}")

    # Writing -------------------------------------------------------------------------------

    @staticmethod
    async def _send(stream: trio.SocketStream, conn: h11.Connection, event: Any) -> None:
        data = conn.send(event)
        if data:
            await stream.send_all(data)

    async def _send_reply(
        self,
        stream: trio.SocketStream,
        conn: h11.Connection,
        method: str,
        reply: Reply,
        close: bool = False,
    ) -> None:
        headers = common_headers() + reply.headers
        if reply.content_type is not None:
            headers.append(("Content-Type", reply.content_type))
        body = b"" if method == "HEAD" else reply.body
        if reply.status not in (204, 304):
            headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        await self._send(stream, conn, h11.Response(status_code=reply.status, headers=headers))
        if body and reply.status not in (204, 304):
            await self._send(stream, conn, h11.Data(data=body))
        await self._send(stream, conn, h11.EndOfMessage())

    async def _send_stream(
        self, stream: trio.SocketStream, conn: h11.Connection, method: str, reply: StreamReply
    ) -> bool:
        started = False
        client_gone = False

        async def start() -> None:
            nonlocal started
            if started:
                return
            started = True
            headers = common_headers()
            if reply.content_type is not None:
                headers.append(("Content-Type", reply.content_type))
            await self._send(stream, conn, h11.Response(status_code=reply.status, headers=headers))

        async def write(data: bytes) -> None:
            await start()
            if data and method != "HEAD":
                await self._send(stream, conn, h11.Data(data=data))

        async def watch_eof(cancel: trio.CancelScope) -> None:
            nonlocal client_gone
            while True:
                try:
                    data = await stream.receive_some(RECV)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    data = b""
                if not data:
                    client_gone = True
                    cancel.cancel()
                    return
                conn.receive_data(data)  # a pipelined request, kept for the next cycle

        if not reply.lazy:
            await start()
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            if reply.stop_on_eof:
                nursery.start_soon(watch_eof, nursery.cancel_scope)
            try:
                await reply.produce(write)
            except Exception as error:
                if _is_disconnect(error):
                    raise _Disconnected from error
                failure = error
            nursery.cancel_scope.cancel()
        if client_gone:
            return False
        if failure is not None:
            if not started:
                request = Request(method, "", {}, {}, Actor(ActorKind.API))
                await self._send_reply(stream, conn, method, self._reply_for(failure, request))
                return True
            log.error("stream failed after its headers were sent", exc_info=failure)
            return False
        await start()
        await self._send(stream, conn, h11.EndOfMessage())
        return True

    async def _hijack(self, stream: trio.SocketStream, reply: HijackReply) -> None:
        """`101 UPGRADED`, then the raw stream; the client's half-close is not an end."""
        await stream.send_all(
            b"HTTP/1.1 101 UPGRADED\r\n"
            b"Content-Type: application/vnd.docker.raw-stream\r\n"
            b"Connection: Upgrade\r\n"
            b"Upgrade: tcp\r\n"
            b"\r\n"
        )
        try:
            await reply.produce(stream.send_all)
        except Exception as error:
            if not _is_disconnect(error):
                log.error("attach stream failed", exc_info=error)
        with contextlib.suppress(Exception):
            await stream.send_eof()


# Listening -----------------------------------------------------------------------------------


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


def check_socket_free(path: Path) -> None:
    """FileExistsError if another process serves (or a non-socket file sits) at `path`."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        if _answers(path):
            raise FileExistsError(f"another daemon is serving unix://{path}")


def _answers(path: Path) -> bool:
    """Whether a process accepts connections on the unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


async def _bind(path: Path) -> trio.socket.SocketType:
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    check_socket_free(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # stale socket of a daemon that is gone
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o117)
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o660)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)
    sock.listen(128)
    return sock


async def serve_api(
    app: App,
    router: Router,
    path: Path,
    *,
    task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on `path` and serve each connection in its own task until cancelled."""
    sock = await _bind(path)
    listener = trio.SocketListener(sock)
    server = Server(app, router)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started(path)
            while True:
                try:
                    stream = await listener.accept()
                except OSError as error:  # EMFILE and friends: wait, do not die
                    log.warning("accept failed: %s", error)
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(server.handle, stream)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        with trio.CancelScope(shield=True):
            await listener.aclose()
