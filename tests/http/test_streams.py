"""Streamed and hijacked replies: chunks, lazy headers, a client leaving, 101."""

from __future__ import annotations

import socket

import h11
import pytest
import trio

from berth.domain.errors import NotFound
from berth.runtime.http.messages import (
    HijackReply,
    HttpError,
    RawChannel,
    Request,
    StreamReply,
    Write,
)

from .site import Client, TestSite, echo_site, raw_get, read_to_end, served, writer_of

GUARD_S = 10  # a hang guard, not a measure


def streaming(reply: StreamReply) -> TestSite:
    async def handler(request: Request) -> StreamReply:
        return reply

    site = echo_site()
    site.router.add("GET", "/stream", handler)
    return site


async def test_each_write_is_a_chunk_and_the_headers_go_out_first() -> None:
    release = trio.Event()

    async def produce(write: Write) -> None:
        await release.wait()
        await writer_of([b"one ", b"two ", b"three"])(write)

    async with served(streaming(StreamReply(produce, content_type="text/plain"))) as serving:
        client = Client(await serving.connect())
        await client.stream.send_all(client.encode("GET", "/stream"))
        with trio.fail_after(GUARD_S):
            head = await client.head()  # before the producer has written anything
        headers = dict(head.headers)
        assert head.status_code == 200
        assert headers[b"transfer-encoding"] == b"chunked"
        assert headers[b"content-type"] == b"text/plain"
        assert headers[b"x-site"] == b"test"
        release.set()
        body = b""
        while isinstance(event := await client.event(), h11.Data):
            body += event.data
        assert isinstance(event, h11.EndOfMessage)
        assert body == b"one two three"
        assert (await client.request("GET", "/items/next")).status == 200


async def test_a_lazy_stream_that_fails_before_writing_is_a_plain_error() -> None:
    async def produce(write: Write) -> None:
        raise HttpError(409, "failed before any output")

    async with served(streaming(StreamReply(produce, lazy=True))) as serving:
        client = Client(await serving.connect())
        answer = await client.request("GET", "/stream")
        assert answer.status == 409
        assert answer.json() == {"message": "failed before any output"}
        assert (await client.request("GET", "/items/next")).status == 200


async def test_a_lazy_stream_sends_its_headers_with_the_first_write() -> None:
    reply = StreamReply(writer_of([b"a", b"b"]), status=201, lazy=True)
    async with served(streaming(reply)) as serving:
        answer = await Client(await serving.connect()).request("GET", "/stream")
    assert (answer.status, answer.body) == (201, b"ab")


async def test_a_stream_that_fails_after_its_headers_ends_the_connection() -> None:
    async def produce(write: Write) -> None:
        await write(b"partial")
        raise RuntimeError("broke mid-stream")

    async with served(streaming(StreamReply(produce))) as serving:
        client = Client(await serving.connect())
        await client.stream.send_all(client.encode("GET", "/stream"))
        assert (await client.head()).status_code == 200
        assert await client.event() == h11.Data(data=b"partial", chunk_start=True, chunk_end=True)
        with pytest.raises(h11.RemoteProtocolError):  # the chunked body never ends
            await client.event()


@pytest.mark.parametrize(
    ("failure", "logged"),
    [
        (RuntimeError("broke mid-stream"), ("ERROR", True)),  # a bug: with its traceback
        (NotFound("the container went"), ("WARNING", False)),  # known: one line
    ],
)
async def test_a_failure_after_the_headers_is_logged_by_its_kind(
    caplog: pytest.LogCaptureFixture, failure: Exception, logged: tuple[str, bool]
) -> None:
    async def produce(write: Write) -> None:
        await write(b"partial")
        raise failure

    async with served(streaming(StreamReply(produce))) as serving:
        client = Client(await serving.connect())
        await client.stream.send_all(client.encode("GET", "/stream"))
        assert (await client.head()).status_code == 200
        await client.event()
        with pytest.raises(h11.RemoteProtocolError):
            await client.event()
    (record,) = [r for r in caplog.records if r.name == "tests.http"]
    assert (record.levelname, record.exc_info is not None) == logged


async def test_a_client_going_away_cancels_the_producer() -> None:
    cancelled = trio.Event()

    async def produce(write: Write) -> None:
        await write(b"first")
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    async with served(streaming(StreamReply(produce))) as serving:
        client = Client(await serving.connect())
        await client.stream.send_all(client.encode("GET", "/stream"))
        await client.head()
        assert isinstance(await client.event(), h11.Data)
        await client.stream.aclose()
        with trio.fail_after(GUARD_S):
            await cancelled.wait()
            while serving.server.connections:
                await trio.sleep(0.01)


async def test_a_request_pipelined_behind_a_stream_is_answered_after_it() -> None:
    release = trio.Event()

    async def produce(write: Write) -> None:
        await write(b"streamed")
        await release.wait()

    async with served(streaming(StreamReply(produce))) as serving:
        client = Client(await serving.connect())
        await client.stream.send_all(client.encode("GET", "/stream"))
        await client.head()
        assert isinstance(await client.event(), h11.Data)
        await client.stream.send_all(raw_get("/items/behind"))  # while the stream runs
        release.set()
        assert isinstance(await client.event(), h11.EndOfMessage)
        client.encode("GET", "/items/behind")  # steps the client's h11; already sent
        answer = await client.receive()
        assert answer.json()["params"] == {"id": "behind"}


async def test_head_of_a_stream_gets_its_headers_and_runs_no_producer() -> None:
    ran = False

    async def produce(write: Write) -> None:
        nonlocal ran
        ran = True

    async with served(streaming(StreamReply(produce))) as serving:
        client = Client(await serving.connect())
        answer = await client.request("HEAD", "/stream")
        assert (answer.status, answer.body) == (200, b"")
        assert answer.headers["content-type"] == "application/json"
        assert (await client.request("GET", "/items/next")).status == 200
    assert not ran


async def test_a_hijack_answers_101_and_writes_raw_after_the_client_half_closes() -> None:
    half_closed = trio.Event()

    async def attach(request: Request) -> HijackReply:
        async def produce(channel: RawChannel) -> None:
            await half_closed.wait()
            await channel.send(b"raw bytes, no chunks")

        return HijackReply(produce, reason="UPGRADED", content_type="application/x-raw")

    site = TestSite()
    site.router.add("POST", "/attach", attach)
    async with served(site) as serving:
        stream = await serving.connect()
        await stream.send_all(
            b"POST /attach HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        stream.socket.shutdown(socket.SHUT_WR)  # as the docker CLI does: not a disconnect
        half_closed.set()
        with trio.fail_after(GUARD_S):
            received = await read_to_end(stream)
    head, _, raw = received.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 101 UPGRADED",
        b"Content-Type: application/x-raw",
        b"Connection: Upgrade",
        b"Upgrade: tcp",
    ]
    assert raw == b"raw bytes, no chunks"
    assert [(o.method, o.template, o.status) for o in site.observed] == [("POST", "/attach", 101)]


async def test_a_hijack_reads_what_the_client_sends_after_the_head_until_its_half_close() -> None:
    """stdin of attach and exec: bytes that came in the same packet as the request head
    are not lost, and the client's half-close reads as the end (b"")."""
    received: list[bytes] = []

    async def attach(request: Request) -> HijackReply:
        async def produce(channel: RawChannel) -> None:
            while data := await channel.receive():
                received.append(data)
            await channel.send(b"got " + b"".join(received))

        return HijackReply(produce, reason="UPGRADED")

    site = TestSite()
    site.router.add("POST", "/attach", attach)
    async with served(site) as serving:
        stream = await serving.connect()
        await stream.send_all(
            b"POST /attach HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly "
        )
        await trio.sleep(0.05)
        await stream.send_all(b"late")
        stream.socket.shutdown(socket.SHUT_WR)
        with trio.fail_after(GUARD_S):
            answer = await read_to_end(stream)
    assert answer.partition(b"\r\n\r\n")[2] == b"got early late"
