"""Reading h11 events from a trio stream, shared by the API server and the dashboard."""

from __future__ import annotations

from typing import Any

import h11
import trio


async def next_event(stream: trio.SocketStream, conn: h11.Connection, receive_size: int) -> Any:
    """The connection's next h11 event, reading from the stream as needed.

    A client that sent `Expect: 100-continue` is told to go on; a peer that has gone away
    reads as end of data, which h11 turns into `ConnectionClosed` or a protocol error.
    """
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        if conn.they_are_waiting_for_100_continue:
            await stream.send_all(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        try:
            data = await stream.receive_some(receive_size)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            data = b""
        conn.receive_data(data)
