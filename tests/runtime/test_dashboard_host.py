"""The dashboard answers only requests that name its own address (DNS-rebinding defence).

A page on another origin can point a name it controls at 127.0.0.1 and have the browser
read the dashboard; the Host header is then that name. Only the address berthd bound,
or `localhost`, with the bound port, is accepted; anything else gets a 400 before any
route runs. Requests are written on raw sockets, so the header is exactly what is sent.
"""

from __future__ import annotations

import socket

import pytest
import trio

from berth.runtime.dashboard import ListenAddress, serve_dashboard
from berth.runtime.http.messages import Reply, Request

ROUTE_BODY = b"the route ran\n"


async def answer(request: Request) -> Reply:
    return Reply(200, ROUTE_BODY, "text/plain")


async def received(address: ListenAddress, head: bytes) -> bytes:
    """Send `head` as a whole request; all that comes back."""
    stream = await trio.open_tcp_stream(address.host, address.port)
    async with stream:
        await stream.send_all(head)
        answer = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                answer += chunk
    return answer


async def exchange(address: ListenAddress, head: bytes) -> tuple[int, bytes]:
    """Send `head` as a whole request; the status and body of the reply."""
    status_line, _, rest = (await received(address, head)).partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def get(host: bytes | None, version: bytes = b"1.1") -> bytes:
    host_line = b"" if host is None else b"Host: " + host + b"\r\n"
    return b"GET /x HTTP/" + version + b"\r\n" + host_line + b"Connection: close\r\n\r\n"


async def start(nursery: trio.Nursery, host: str) -> ListenAddress:
    address: ListenAddress = await nursery.start(serve_dashboard, answer, ListenAddress(host, 0))
    return address


async def test_only_the_bound_address_or_localhost_with_its_port_is_a_host(
    nursery: trio.Nursery,
) -> None:
    address = await start(nursery, "127.0.0.1")
    port = str(address.port).encode()
    for host in (b"127.0.0.1:" + port, b"localhost:" + port, b"LocalHost:" + port):
        assert await exchange(address, get(host)) == (200, ROUTE_BODY), host
    refused = [
        b"127.0.0.1:80@evil.example",
        b"127.0.0.1:" + port + b"@evil.example",
        b"user@127.0.0.1:" + port,
        b"evil.example:" + port,
        b"evil.example",
        b"127.0.0.1",  # the default port, 80, is not the one bound
        b"localhost",
        b"127.0.0.1:" + str(address.port + 1).encode(),
        b"127.0.0.2:" + port,
        b"[::1]:" + port,  # not the address bound
        b"localhost.:" + port,
        b"127.0.0.1:" + port + b"/",
        b"",
    ]
    for host in refused:
        status, body = await exchange(address, get(host))
        assert status == 400, host
        assert ROUTE_BODY not in body
    # Two Hosts, the bound one last (h11 refuses it).
    twice = get(b"evil.example:" + port).replace(
        b"\r\n\r\n", b"\r\nHost: 127.0.0.1:" + port + b"\r\n\r\n"
    )
    assert (await exchange(address, twice))[0] == 400
    # No Host at all: HTTP/1.1 requires one (h11 refuses), HTTP/1.0 is refused here.
    assert (await exchange(address, get(None)))[0] == 400
    assert (await exchange(address, get(None, b"1.0")))[0] == 400


async def test_an_ipv6_loopback_is_named_in_brackets(nursery: trio.Nursery) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        address = await start(nursery, "::1")
    except OSError as error:
        pytest.skip(f"::1 cannot be bound here: {error}")
    port = str(address.port).encode()
    assert (await exchange(address, get(b"[::1]:" + port)))[0] == 200
    assert (await exchange(address, get(b"localhost:" + port)))[0] == 200
    for host in (b"::1:" + port, b"127.0.0.1:" + port, b"[::1]"):
        assert (await exchange(address, get(host)))[0] == 400, host


async def test_other_methods_are_405_and_every_path_reaches_the_handler(
    nursery: trio.Nursery,
) -> None:
    address = await start(nursery, "127.0.0.1")
    host = b"127.0.0.1:" + str(address.port).encode()
    refused = await received(address, get(host).replace(b"GET ", b"POST "))
    assert refused.startswith(b"HTTP/1.1 405 ")
    assert b"\r\nAllow: GET, HEAD\r\n" in refused
    odd_path = get(host).replace(b"GET /x ", b"GET /a%0Ab//c ")
    assert await exchange(address, odd_path) == (200, ROUTE_BODY)
