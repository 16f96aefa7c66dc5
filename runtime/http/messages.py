"""What a handler receives and what it answers, for every front-end served by the core.

A handler answers one of three kinds:

- `Reply`: a whole body (or none: 204, 304);
- `StreamReply`: a chunked body the handler writes piece by piece (each write is one
  chunk); the headers go out at once or, when `lazy`, with the first write, so that an
  error before any output is still a proper error response;
- `HijackReply`: `101`, then the raw connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import Headers, HttpError

if TYPE_CHECKING:
    from .body import UploadStream

Write = Callable[[bytes], Awaitable[None]]


class ThreadSink(Protocol):
    """A streamed reply's body as a worker thread writes it, straight to the socket."""

    def write(self, data: bytes) -> None: ...

    def send_file(self, fd: int, count: int) -> None:
        """Exactly `count` bytes: the file's, from its offset, and zeros past its end."""
        ...

    def flush(self) -> None: ...


class StreamOut(Protocol):
    """What a streamed reply's producer writes to: a call writes one chunk;
    `from_thread` runs `work` in a worker thread writing onto the socket itself."""

    def __call__(self, data: bytes) -> Awaitable[None]: ...

    def from_thread(self, work: Callable[[ThreadSink], None]) -> Awaitable[None]: ...


class RawChannel(Protocol):
    """A hijacked connection, both ways: what the client sends after the `101` (stdin of
    attach and exec) and what the handler sends back."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes:
        """The client's next bytes; b"" once it has half-closed or gone."""
        ...

    async def send_eof(self) -> None: ...


FALSE_FLAGS = ("0", "false", "no")


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes = b""
    upload: Path | None = None  # the spooled body, for routes that take uploads
    stream: UploadStream | None = None  # the body still to read, for streamed routes
    params: dict[str, str] = field(default_factory=dict)  # the route's named groups
    query_pairs: list[tuple[str, str]] = field(default_factory=list)  # repeats kept

    def json(self, *, default: Any = None) -> Any:
        """The body as JSON (`default` when empty); 400 when it is not JSON."""
        if not self.body.strip():
            return default
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as error:
            raise HttpError(400, f"invalid JSON in request body: {error}") from None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None or value == "":
            return default
        return value.lower() not in FALSE_FLAGS

    def text(self, name: str, default: str = "") -> str:
        return self.query.get(name, default)

    def texts(self, name: str) -> list[str]:
        """Every value of a parameter given more than once (`changes=...&changes=...`)."""
        return [value for key, value in self.query_pairs if key == name]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: Headers = field(default_factory=list)


@dataclass
class StreamReply:
    produce: Callable[[StreamOut], Awaitable[None]]
    status: int = 200
    content_type: str | None = "application/json"
    lazy: bool = False  # headers with the first write, so early errors are real errors
    headers: Headers = field(default_factory=list)


@dataclass
class HijackReply:
    """`101`, then `produce` talks on the raw connection; the client's half-close is
    not an end (it closes stdin, the output goes on)."""

    produce: Callable[[RawChannel], Awaitable[None]]
    reason: str = "Switching Protocols"
    content_type: str | None = None
    upgrade: str = "tcp"
    headers: Headers = field(default_factory=list)  # e.g. a websocket's accept token


AnyReply = Reply | StreamReply | HijackReply


def json_line(value: Any) -> bytes:
    """JSON as Go's encoder writes it: compact, one line."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, json_line(value))


def no_content(status: int = 204) -> Reply:
    return Reply(status, b"", None)


def message_reply(status: int, message: str, headers: Headers | None = None) -> Reply:
    """An error as `{"message": ...}`, the shape both front-ends answer errors in."""
    return Reply(status, json_line({"message": message}), headers=headers or [])


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(seconds: float | None = None) -> str:
    """RFC 9110's IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as email.utils.formatdate
    with usegmt says it; written here because the email package is a quarter of a megabyte
    of the daemon's memory for this one line (ADR/0048)."""
    t = time.gmtime(seconds)
    return (
        f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
