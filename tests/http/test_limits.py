"""What a client cannot make the core do: hold big bodies or heads, hold a connection
idle, open more connections than allowed, or stall the server by not reading."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import trio

from berth.runtime.http.messages import (
    Reply,
    Request,
    StreamReply,
    Write,
    json_reply,
    message_reply,
)

from .site import (
    LIMITS,
    Client,
    Observed,
    TestSite,
    echo,
    echo_site,
    raw_get,
    read_to_end,
    served,
)


async def upload_size(request: Request) -> Reply:
    """What the core spooled: where, and how much."""
    assert request.upload is not None and request.body == b""
    return json_reply({"file": str(request.upload), "bytes": request.upload.read_bytes().hex()})


def site_with_routes(tmp_path: Path) -> TestSite:
    site = echo_site(upload_dir=tmp_path / "spool")
    site.router.add("POST", "/upload", upload_size, upload=True)
    return site


async def test_a_body_beyond_the_limit_is_413_and_the_connection_closes(tmp_path: Path) -> None:
    site = site_with_routes(tmp_path)
    async with served(site) as serving:
        client = Client(await serving.connect())
        answer = await client.request("POST", "/items", b"x" * (LIMITS.max_body + 1))
        assert answer.status == 413
        assert answer.json() == {
            "message": f"request body too large (limit {LIMITS.max_body} bytes)"
        }
        assert answer.headers["connection"] == "close"
        assert await read_to_end(client.stream) == b""
        assert (await Client(await serving.connect()).request("POST", "/items")).status == 200
    assert Observed("POST", "/items", 413) in site.observed


async def test_a_head_beyond_the_limit_is_431() -> None:
    async with served(TestSite()) as serving:
        stream = await serving.connect()
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * LIMITS.max_head)
        assert (await read_to_end(stream)).startswith(b"HTTP/1.1 431 ")


async def test_a_whole_head_beyond_the_limit_in_one_read_is_431() -> None:
    """h11 bounds only an incomplete head: one read may bring all of a head too large."""
    site = TestSite()
    site.limits = dataclasses.replace(LIMITS, receive_size=LIMITS.max_head * 4)
    async with served(site) as serving:
        stream = await serving.connect()
        head = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        head += b"X-A: b\r\n" * (LIMITS.max_head // 4)
        await stream.send_all(head + b"\r\n")
        assert (await read_to_end(stream)).startswith(b"HTTP/1.1 431 ")


async def test_an_upload_is_spooled_to_a_file_removed_after_the_reply(tmp_path: Path) -> None:
    body = os.urandom(LIMITS.max_body * 3)  # beyond what is held in memory, within uploads
    async with served(site_with_routes(tmp_path)) as serving:
        answer = await Client(await serving.connect()).request("POST", "/upload", body)
    assert answer.status == 200
    spooled = answer.json()
    assert bytes.fromhex(spooled["bytes"]) == body
    assert Path(spooled["file"]).parent == tmp_path / "spool"
    assert list((tmp_path / "spool").iterdir()) == []


async def test_an_upload_beyond_its_limit_is_413_and_leaves_no_file(tmp_path: Path) -> None:
    async with served(site_with_routes(tmp_path)) as serving:
        client = Client(await serving.connect())
        answer = await client.request("POST", "/upload", b"x" * (LIMITS.max_upload + 1))
    assert answer.status == 413
    assert f"limit {LIMITS.max_upload} bytes" in answer.json()["message"]
    assert list((tmp_path / "spool").iterdir()) == []


class SpoolFailures(TestSite):
    """Answers every failure with the file it names, as a front-end's hook may."""

    def error_reply(self, error: Exception, request: Request | None) -> Reply:
        if isinstance(error, OSError):
            return message_reply(507, f"cannot write {error.filename}")
        return super().error_reply(error, request)


async def test_an_upload_that_cannot_be_spooled_is_answered_after_its_body(
    tmp_path: Path,
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    site = SpoolFailures(upload_dir=tmp_path / "not-a-dir" / "spool")
    site.router.add("POST", "/upload", upload_size, upload=True)
    site.router.add("POST", "/items", echo)
    async with served(site) as serving:
        client = Client(await serving.connect())
        answer = await client.request("POST", "/upload", b"y" * 5000)
        assert answer.status == 507
        assert answer.json() == {"message": f"cannot write {tmp_path / 'not-a-dir' / 'spool'}"}
        assert (await client.request("POST", "/items", b"next")).json()["body"] == "next"


async def test_an_idle_connection_is_closed_without_an_answer() -> None:
    site = echo_site(dataclasses.replace(LIMITS, request_timeout=0.05))
    async with served(site) as serving:
        client = Client(await serving.connect())
        assert (await client.request("GET", "/items/a")).status == 200
        assert await read_to_end(client.stream) == b""  # kept alive, then idle too long
        stream = await serving.connect()
        await stream.send_all(b"GET /items/b HTTP/1.1\r\n")  # and never the rest
        assert await read_to_end(stream) == b""


async def test_connections_beyond_the_limit_are_closed_at_once() -> None:
    site = echo_site(dataclasses.replace(LIMITS, max_connections=1))
    async with served(site) as serving:
        first = Client(await serving.connect())
        assert (await first.request("GET", "/items/a")).status == 200
        second = await serving.connect()
        await second.send_all(raw_get("/items/b"))
        assert await read_to_end(second) == b""
        assert (await first.request("GET", "/items/c")).status == 200


async def test_a_client_that_stops_reading_is_dropped_at_the_send_deadline() -> None:
    cancelled = trio.Event()

    async def endless(request: Request) -> StreamReply:
        async def produce(write: Write) -> None:
            try:
                while True:
                    await write(b"z" * 65536)
            finally:
                cancelled.set()

        return StreamReply(produce)

    site = echo_site(dataclasses.replace(LIMITS, send_timeout=0.05))
    site.router.add("GET", "/endless", endless)
    async with served(site) as serving:
        stream = await serving.connect()
        await stream.send_all(raw_get("/endless"))
        with trio.fail_after(10):  # a hang guard, not a measure
            await cancelled.wait()
            while serving.server.connections:
                await trio.sleep(0.01)
