"""A hijacked stream starts once the client has read the 101's head (wire.py): a Python
client reads the head through a buffered reader and then the raw socket, and lost the
bytes that came with the head (docker-py's `attach(logs=True, stream=False)`)."""

from __future__ import annotations

import socket

import pytest
import trio

from berth.runtime.http import wire as wire_module
from berth.runtime.http.wire import Wire


async def test_the_stream_waits_until_the_head_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire_module, "HEAD_READ_BOUND_S", 60.0)  # only a hang's bound here
    ours, theirs = socket.socketpair()
    wire = Wire(trio.SocketStream(trio.socket.from_stdlib_socket(ours)), 65536, 65536, None)
    done = trio.Event()

    async def wait() -> None:
        await wire.wait_sent_read()
        done.set()

    async with trio.open_nursery() as nursery:
        await wire.send_raw(b"HTTP/1.1 101 UPGRADED\r\n\r\n")
        nursery.start_soon(wait)
        for _ in range(20):
            await trio.sleep(0.005)
            assert not done.is_set()  # nothing read yet: still waiting
        assert await trio.to_thread.run_sync(theirs.recv, 100) == b"HTTP/1.1 101 UPGRADED\r\n\r\n"
        with trio.fail_after(30):
            await done.wait()
    theirs.close()
    await wire.stream.aclose()


async def test_a_client_that_never_reads_delays_the_stream_only_by_the_bound() -> None:
    ours, theirs = socket.socketpair()
    wire = Wire(trio.SocketStream(trio.socket.from_stdlib_socket(ours)), 65536, 65536, None)
    await wire.send_raw(b"head")
    with trio.fail_after(30):
        await wire.wait_sent_read()
    assert theirs.recv(100) == b"head"
    theirs.close()
    await wire.stream.aclose()
