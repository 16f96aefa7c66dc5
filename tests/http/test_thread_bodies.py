"""Bodies a worker thread reads or writes straight on the socket (runtime/http/body.py):
a streamed upload is decoded as h11 would, bounded and refused as a spooled one, read
whole before an early answer, and ends the connection; a reply written from a thread is
a chunked body (close-delimited for HTTP/1.0) whose file data is cut or zero-padded to
the size it announced."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.runtime.http.body import Read
from berth.runtime.http.messages import (
    HttpError,
    Reply,
    Request,
    StreamOut,
    StreamReply,
    ThreadSink,
    json_reply,
)

from .site import LIMITS, Client, TestSite, read_to_end, served


def _collect(read: Read) -> bytes:
    parts = []
    while piece := read():
        parts.append(bytes(piece))
    return b"".join(parts)


async def digest(request: Request) -> Reply:
    assert request.stream is not None
    body = await request.stream.consume(_collect)
    return json_reply({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})


async def refuse_unread(request: Request) -> Reply:
    raise HttpError(409, "refused before reading the body")


def streamed_site() -> TestSite:
    site = TestSite()
    site.router.add("PUT", "/digest", digest, streamed=True)
    site.router.add("PUT", "/refuse", refuse_unread, streamed=True)
    return site


def chunked_request(target: str, pieces: list[bytes], extra: bytes = b"") -> bytes:
    head = f"PUT {target} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return head + body + b"0\r\nX-Trailer: t\r\n\r\n" + extra


async def send_slowly(stream: trio.SocketStream, data: bytes, step: int) -> None:
    for at in range(0, len(data), step):
        await stream.send_all(data[at : at + step])
        await trio.sleep(0)


@settings(max_examples=20, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=0, max_size=700), max_size=8),
    step=st.integers(min_value=1, max_value=900),
)
async def test_a_chunked_upload_is_read_whole_however_it_is_cut(
    pieces: list[bytes], step: int
) -> None:
    body = b"".join(pieces)
    async with served(streamed_site()) as serving:
        stream = await serving.connect()
        await send_slowly(stream, chunked_request("/digest", pieces), step)
        answer = await Client(stream).receive()
    assert answer.status == 200
    assert answer.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert answer.headers["connection"] == "close"  # h11 never saw the body


async def test_a_content_length_upload_is_read_to_its_length() -> None:
    body = os.urandom(5000)
    async with served(streamed_site()) as serving:
        answer = await Client(await serving.connect()).request("PUT", "/digest", body)
    assert answer.status == 200
    assert answer.json()["sha256"] == hashlib.sha256(body).hexdigest()


async def test_an_upload_beyond_its_limit_is_413() -> None:
    async with served(streamed_site()) as serving:
        stream = await serving.connect()
        await stream.send_all(chunked_request("/digest", [b"x" * (LIMITS.max_upload + 1)]))
        answer = await Client(stream).receive()
    assert answer.status == 413
    assert f"limit {LIMITS.max_upload} bytes" in answer.json()["message"]


@pytest.mark.parametrize("size_line", [b"zz", b"-1", b"0x10", b"1" * 5000])
async def test_a_malformed_chunk_is_400_and_the_connection_closes(size_line: bytes) -> None:
    head = b"PUT /digest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with served(streamed_site()) as serving:
        stream = await serving.connect()
        await stream.send_all(head + size_line + b"\r\nabc\r\n0\r\n\r\n")
        received = await read_to_end(stream)
    assert received.startswith(b"HTTP/1.1 400 ")
    assert b"malformed chunked request body" in received


async def test_a_request_refused_before_its_body_is_answered_once_the_body_is_read() -> None:
    async with served(streamed_site()) as serving:
        stream = await serving.connect()
        client = Client(stream)
        body = os.urandom(LIMITS.max_upload // 2)
        await stream.send_all(chunked_request("/refuse", [body[:3000], body[3000:]]))
        answer = await client.receive()
    assert answer.status == 409
    assert answer.headers["connection"] == "close"


async def test_a_client_gone_mid_upload_gets_no_answer_and_the_server_goes_on() -> None:
    site = streamed_site()
    async with served(site) as serving:
        stream = await serving.connect()
        data = chunked_request("/digest", [b"x" * 4000])
        await stream.send_all(data[: len(data) // 2])
        await stream.aclose()
        with trio.fail_after(10):
            while serving.server.connections:  # the one that went is over
                await trio.sleep(0.01)
            answer = await Client(await serving.connect()).request("PUT", "/digest", b"ok")
    assert answer.status == 200
    assert [o.status for o in site.observed] == [200]  # no 500 for the one that went


def file_reply(path: Path, announced: int) -> StreamReply:
    async def produce(out: StreamOut) -> None:
        def work(sink: ThreadSink) -> None:
            sink.write(b"<head>")
            with open(path, "rb") as data:
                sink.send_file(data.fileno(), announced)
            sink.write(b"<tail>")
            sink.flush()

        await out.from_thread(work)

    return StreamReply(produce, content_type="application/octet-stream")


@pytest.mark.parametrize("announced", [0, 1000, 5000])
async def test_a_reply_written_from_a_thread_is_the_file_cut_or_padded(
    tmp_path: Path, announced: int
) -> None:
    content = os.urandom(3000)
    (tmp_path / "f").write_bytes(content)
    site = TestSite()

    async def handler(request: Request) -> StreamReply:
        return file_reply(tmp_path / "f", announced)

    site.router.add("GET", "/file", handler)
    expected = b"<head>" + content[:announced].ljust(announced, b"\0") + b"<tail>"
    async with served(site) as serving:
        client = Client(await serving.connect())
        first = await client.request("GET", "/file")
        second = await client.request("GET", "/file")  # the connection lives on
    assert first.body == expected and second.body == expected
    assert first.headers["transfer-encoding"] == "chunked"


async def test_a_reply_from_a_thread_to_http_1_0_ends_with_the_connection(
    tmp_path: Path,
) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    site = TestSite()

    async def handler(request: Request) -> StreamReply:
        return file_reply(tmp_path / "f", 3)

    site.router.add("GET", "/file", handler)
    async with served(site) as serving:
        stream = await serving.connect()
        await stream.send_all(b"GET /file HTTP/1.0\r\n\r\n")
        received = await read_to_end(stream)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" not in head.lower()
    assert body == b"<head>abc<tail>"


async def test_many_small_chunks_that_arrive_together_are_one_body() -> None:
    pieces = [os.urandom(n % 90 + 1) for n in range(150)]  # within the limit
    body = b"".join(pieces)
    async with served(streamed_site()) as serving:
        stream = await serving.connect()
        await stream.send_all(chunked_request("/digest", pieces))
        answer = await Client(stream).receive()
    assert answer.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
