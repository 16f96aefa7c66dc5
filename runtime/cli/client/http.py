"""A small synchronous HTTP/1.1 client for berthd's unix socket.

It is hand-written on `socket` rather than built on `http.client` or h11 because each of
those costs about 25 ms to import, a sizeable share of a `berth run` whose whole client
side should stay well under 100 ms (ADR/0015). It speaks only what the Docker Engine API
needs: Content-Length and chunked bodies, keep-alive, and the attach hijack (`101`).
"""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

API_VERSION = "1.41"
USER_AGENT = "berth-cli/0.1.0"
READ_SIZE = 64 * 1024


class DaemonUnreachable(Exception):
    """The socket does not answer: no daemon, or no permission to reach it."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"Cannot connect to the berth daemon at {host}. Is the berth daemon running?"
        )
        self.host = host


class DaemonError(Exception):
    """An error answer: Docker's status code and `{"message": ...}` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ProtocolError(Exception):
    """The daemon's answer is not HTTP/1.1 as this client understands it."""


def socket_path(host: str) -> str:
    """`unix:///run/berth/berth.sock` (or a bare absolute path) → the socket's path."""
    path = host.removeprefix("unix://")
    if not path.startswith("/") or "://" in path:
        raise ValueError(f"unsupported host {host!r}: use unix:///PATH")
    return path


def api_path(path: str, query: Mapping[str, Any] | None = None) -> str:
    """`/containers/x/start` with its query → `/v1.41/containers/x/start?...`."""
    target = f"/v{API_VERSION}{path}"
    wanted = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
    # A list is the parameter given once per item (`changes=...&changes=...`).
    return f"{target}?{urlencode(wanted, doseq=True)}" if wanted else target


def segment(text: str) -> str:
    """A name or reference as one path segment (`/` and `:` kept as the docker CLI sends)."""
    return quote(text, safe="/:@")


def _query_value(value: Any) -> str | list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


class Response:
    """Status, headers, and a body read as it arrives (whole, in pieces or as lines)."""

    def __init__(self, connection: Connection, status: int, headers: dict[str, str]) -> None:
        self.connection = connection
        self.status = status
        self.headers = headers
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = int(length) if length is not None else None
        self._done = False
        self._buffer = b""

    def _no_body(self) -> None:
        self._done = True
        self.connection.release(reusable=True)

    def _piece(self) -> bytes:
        """The next part of the body as it arrives; b"" at its end."""
        if self._done:
            return b""
        reader = self.connection.reader
        if self._chunked:
            size_line = reader.readline()
            if not size_line:
                raise ProtocolError("connection closed inside a chunked body")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._finish(reusable=True)
                return b""
            data = reader.read(size)
            reader.readline()
            if len(data) < size:
                raise ProtocolError("connection closed inside a chunk")
            return data
        if self._remaining is not None:
            if self._remaining == 0:
                self._finish(reusable=True)
                return b""
            data = reader.read1(min(self._remaining, READ_SIZE))
            if not data:
                raise ProtocolError("connection closed before the body's end")
            self._remaining -= len(data)
            return data
        data = reader.read1(READ_SIZE)  # until the daemon closes
        if not data:
            self._finish(reusable=False)
        return data

    def _finish(self, reusable: bool) -> None:
        self._done = True
        keep = reusable and self.headers.get("connection", "").lower() != "close"
        self.connection.release(reusable=keep)

    def pieces(self) -> Iterator[bytes]:
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        while piece := self._piece():
            yield piece

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all when negative); fewer only at the body's end."""
        if size < 0:
            return b"".join(self.pieces())
        while len(self._buffer) < size:
            piece = self._piece()
            if not piece:
                break
            self._buffer += piece
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def lines(self) -> Iterator[bytes]:
        """The body split into lines (JSON-lines streams: events, pull progress)."""
        pending = b""
        for piece in self.pieces():
            pending += piece
            *whole, pending = pending.split(b"\n")
            yield from (line for line in whole if line.strip())
        if pending.strip():
            yield pending

    def json(self) -> Any:
        data = self.read()
        return json.loads(data) if data.strip() else None

    def close(self) -> None:
        if not self._done:
            self._done = True
            self.connection.close()


class Connection:
    """One HTTP/1.1 connection on the unix socket."""

    def __init__(self, client: DaemonClient) -> None:
        self.client = client
        self.sock = client.open_socket()
        self.reader: io.BufferedReader = self.sock.makefile("rb")

    def send(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | BinaryIO | None,
    ) -> None:
        lines = [f"{method} {target} HTTP/1.1", "Host: api.moby.localhost"]
        lines += [f"User-Agent: {USER_AGENT}", *(f"{k}: {v}" for k, v in headers.items())]
        if isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}")
        elif body is not None:
            lines.append(f"Content-Length: {os.fstat(body.fileno()).st_size - body.tell()}")
        elif method in ("POST", "PUT"):
            lines.append("Content-Length: 0")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if isinstance(body, bytes):
                self.sock.sendall(head + body)
            else:
                self.sock.sendall(head)
                if body is not None:
                    self.sock.sendfile(body)
        except BrokenPipeError:
            pass  # the daemon answered early (an error); read that answer

    def receive(self, method: str) -> Response:
        status_line = self.reader.readline()
        if not status_line:
            raise ProtocolError("the daemon closed the connection without an answer")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError(f"not an HTTP answer: {status_line[:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            line = self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        response = Response(self, status, headers)
        if status != 101 and (method == "HEAD" or status in (204, 304) or status < 200):
            response._no_body()
        return response

    def release(self, reusable: bool) -> None:
        if reusable:
            self.client.idle = self
        else:
            self.close()

    def close(self) -> None:
        if self.client.idle is self:
            self.client.idle = None
        self.reader.close()
        self.sock.close()


class DaemonClient:
    """Requests to one berthd; a connection is reused once its last answer was read."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.path = socket_path(host)
        self.idle: Connection | None = None

    def open_socket(self) -> socket.socket:
        """A socket connected to the daemon; DaemonUnreachable if nothing answers."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise DaemonUnreachable(self.host) from None
        return sock

    def may_resend(self, reused: bool) -> bool:
        """Whether a request whose connection closed without an answer may be sent again:
        on a kept-alive connection the daemon had closed meanwhile, it was never read."""
        return reused

    def _connection(self) -> Connection:
        connection, self.idle = self.idle, None
        return connection or Connection(self)

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        *,
        body: Any = None,
        data: bytes | BinaryIO | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request and read the answer's head; errors (>= 400) raise DaemonError.

        `body` is sent as JSON; `data` as it is (bytes, or a file sent with sendfile).
        """
        extra = dict(headers or {})
        payload: bytes | BinaryIO | None = data
        if body is not None:
            payload = json.dumps(body).encode()
            extra.setdefault("Content-Type", "application/json")
        target = api_path(path, query)
        reused = self.idle is not None
        connection = self._connection()
        try:
            connection.send(method, target, extra, payload)
            response = connection.receive(method)
        except (ProtocolError, ConnectionError):
            connection.close()
            if not self.may_resend(reused) or not isinstance(payload, bytes | None):
                raise
            # Once more, on a fresh connection.
            connection = Connection(self)
            connection.send(method, target, extra, payload)
            response = connection.receive(method)
        if response.status >= 400:
            raise error_of(response)
        return response

    def call(
        self, method: str, path: str, query: Mapping[str, Any] | None = None, **kw: Any
    ) -> Any:
        """A request whose whole answer is JSON (or empty: None)."""
        return self.request(method, path, query, **kw).json()

    def hijack(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        keep_stdin: bool = False,
        *,
        body: Any = None,
    ) -> Response:
        """`attach`, `exec start`: the `101 UPGRADED` answer, then the raw stream until the
        daemon closes. `body` is sent as JSON.

        Without `keep_stdin` the write side is closed at once, as the docker CLI does when
        stdin is not attached; with it the caller writes stdin to `connection.sock`.
        """
        connection = Connection(self)
        headers = {"Connection": "Upgrade", "Upgrade": "tcp", "Content-Type": "text/plain"}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode()
        connection.send("POST", api_path(path, query), headers, payload)
        response = connection.receive("POST")
        if response.status >= 400:
            raise error_of(response)
        if not keep_stdin:
            connection.sock.shutdown(socket.SHUT_WR)
        response.headers.pop("transfer-encoding", None)
        response.headers.pop("content-length", None)
        response.headers["connection"] = "close"
        response._chunked, response._remaining = False, None
        return response

    def ping(self) -> bool:
        """True when the daemon answers `HEAD /_ping`."""
        try:
            connection = self._connection()
            connection.send("HEAD", "/_ping", {}, None)
            return connection.receive("HEAD").status == 200
        except (DaemonUnreachable, ProtocolError, OSError):
            return False

    def close(self) -> None:
        if self.idle is not None:
            self.idle.close()


def error_of(response: Response) -> DaemonError:
    data = response.read()
    try:
        message = json.loads(data)["message"]
    except (ValueError, KeyError, TypeError):
        message = data.decode(errors="replace").strip() or f"status {response.status}"
    return DaemonError(response.status, str(message))
