"""A websocket on a hijacked connection (`/containers/{id}/attach/ws`), framed by wsproto.

The handshake is answered with the `101` itself (the core parsed the request); after it
`WebSocketChannel` is a `RawChannel` whose bytes travel as websocket messages: binary
from API 1.28 on, text before (dockerd's choice). The client's close frame is the end
of its input.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.utilities import generate_accept_token

from berth.domain.errors import InvalidParameter

from ..http.messages import RawChannel
from .server import HijackReply, Request

#: The first API version whose websocket attach sends binary messages.
BINARY_FROM = (1, 28)


class WebSocketChannel:
    """The `RawChannel` inside a websocket."""

    def __init__(self, raw: RawChannel, binary: bool) -> None:
        self._raw = raw
        self._ws = Connection(ConnectionType.SERVER)
        self._binary = binary
        self._closed = False

    async def send(self, data: bytes) -> None:
        message = BytesMessage(data) if self._binary else TextMessage(data.decode(errors="replace"))
        await self._raw.send(self._ws.send(message))

    async def receive(self) -> bytes:
        while not self._closed:
            for event in self._ws.events():
                if isinstance(event, Message):
                    data = event.data
                    if data:
                        return data if isinstance(data, bytes) else data.encode()
                elif isinstance(event, Ping):
                    await self._raw.send(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self._closed = True
                    await self._raw.send(self._ws.send(event.response()))
                    return b""
            chunk = await self._raw.receive()
            if not chunk:
                self._closed = True
                break
            self._ws.receive_data(chunk)
        return b""

    async def send_eof(self) -> None:
        await self._raw.send_eof()


def websocket_key(request: Request) -> str:
    """The client's handshake key; dockerd's 400 when it does not speak websocket."""
    key = request.headers.get("sec-websocket-key", "")
    if "websocket" not in request.headers.get("upgrade", "").lower() or not key:
        raise InvalidParameter("websocket: the client is not using the websocket protocol")
    return key


def websocket_reply(
    request: Request, produce: Callable[[RawChannel], Awaitable[None]]
) -> HijackReply:
    """The `101` that accepts the client's websocket, then `produce` inside it."""
    key = websocket_key(request)
    version = tuple(int(part) for part in request.api_version.split("."))
    binary = version >= BINARY_FROM

    async def inside(raw: RawChannel) -> None:
        await produce(WebSocketChannel(raw, binary))

    return HijackReply(
        inside,
        reason="Switching Protocols",
        content_type=None,
        upgrade="websocket",
        headers=[("Sec-WebSocket-Accept", generate_accept_token(key.encode()).decode())],
    )
