"""Request and reply on one connection: keep-alive, pipelining, HEAD, routing, errors."""

from __future__ import annotations

import h11
import pytest

from berth.runtime.http.errors import HttpError
from berth.runtime.http.messages import Reply, Request
from berth.runtime.http.routing import Router

from .site import Client, Observed, echo_site, raw_get, read_to_end, served

CHUNKED = [("Host", "x"), ("Transfer-Encoding", "chunked")]


async def test_keep_alive_answers_each_request_on_one_connection() -> None:
    async with served(echo_site()) as serving:
        client = Client(await serving.connect())
        for number in range(3):
            answer = await client.request("GET", f"/items/a%20{number}?x=1&y=&x=2")
            assert answer.status == 200
            assert answer.headers["x-site"] == "test"
            assert answer.headers["content-length"] == str(len(answer.body))
            seen = answer.json()
            assert seen["path"] == f"/items/a {number}"
            assert seen["params"] == {"id": f"a {number}"}
            assert seen["query"] == {"x": "2", "y": ""}
        answer = await client.request("POST", "/items", b"the body")
        assert answer.json()["body"] == "the body"


async def test_pipelined_requests_are_answered_in_order() -> None:
    names = ("one", "two", "three")
    async with served(echo_site()) as serving:
        client = Client(await serving.connect())
        await client.stream.send_all(b"".join(raw_get(f"/items/{name}") for name in names))
        for name in names:
            client.encode("GET", f"/items/{name}")  # steps the client's h11; already sent
            answer = await client.receive()
            assert answer.json()["params"] == {"id": name}


async def test_head_is_answered_by_the_get_route_without_a_body() -> None:
    site = echo_site()
    async with served(site) as serving:
        client = Client(await serving.connect())
        answer = await client.request("HEAD", "/items/x")
        assert (answer.status, answer.body) == (200, b"")
        assert answer.headers["content-length"] == "0"
        assert answer.headers["content-type"] == "application/json"
        assert (await client.request("GET", "/items/x")).json()["method"] == "GET"
    assert site.observed[0] == Observed("HEAD", "/items/{id}", 200)


async def test_an_unknown_path_or_method_is_404_and_the_connection_lives_on() -> None:
    site = echo_site()
    async with served(site) as serving:
        client = Client(await serving.connect())
        for method, target in (("GET", "/nothing"), ("DELETE", "/items/x"), ("HEAD", "/items")):
            answer = await client.request(method, target)
            assert answer.status == 404
            if method != "HEAD":
                assert answer.json() == {"message": "page not found"}
        assert (await client.request("GET", "/items/x")).status == 200
    assert Observed("GET", None, 404) in site.observed


async def test_a_refused_request_is_answered_after_its_body_is_read_and_dropped() -> None:
    async with served(echo_site()) as serving:
        client = Client(await serving.connect())
        answer = await client.request("POST", "/items", b"x" * 500, [("X-Refuse", "1")])
        assert answer.status == 403
        assert answer.json() == {"message": "refused by the route hook"}
        answer = await client.request("POST", "/items", b"kept")
        assert answer.json()["body"] == "kept"


@pytest.mark.parametrize(
    ("raised", "status", "message"),
    [
        (ValueError("a bug"), 500, "internal error"),
        (HttpError(418, "a teapot", [("X-Why", "tea")]), 418, "a teapot"),
    ],
)
async def test_a_handler_raising_is_answered_by_the_error_hook(
    raised: Exception, status: int, message: str
) -> None:
    async def failing(request: Request) -> Reply:
        raise raised

    site = echo_site()
    site.router.add("GET", "/fail", failing)
    async with served(site) as serving:
        client = Client(await serving.connect())
        answer = await client.request("GET", "/fail")
        assert (answer.status, answer.json()) == (status, {"message": message})
        if isinstance(raised, HttpError):
            assert answer.headers["x-why"] == "tea"
        assert (await client.request("GET", "/items/after")).status == 200
    assert Observed("GET", "/fail", status) in site.observed


async def test_a_request_that_is_not_http_is_400_and_the_connection_closes() -> None:
    async with served(echo_site()) as serving:
        stream = await serving.connect()
        await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await read_to_end(stream)
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert b"Connection: close" in answer
        client = Client(await serving.connect())
        assert (await client.request("GET", "/items/x")).status == 200


async def test_a_chunked_body_after_expect_100_continue_is_read_whole() -> None:
    async with served(echo_site()) as serving:
        stream = await serving.connect()
        await stream.send_all(
            b"POST /items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert (await stream.receive_some(4096)).startswith(b"HTTP/1.1 100 ")
        await stream.send_all(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        client = Client(stream)  # stepped past what was sent by hand
        client.conn.send(h11.Request(method="POST", target="/items", headers=CHUNKED))
        client.conn.send(h11.EndOfMessage())
        answer = await client.receive()
        assert answer.json()["body"] == "abcde"


def test_the_route_table_matches_whole_paths_and_names_its_templates() -> None:
    router: Router[str] = Router()
    router.add("GET", "/items/(?P<id>[^/]+)/json", "inspect")
    router.add("HEAD", "/ping", "ping")
    route, params = router.match("HEAD", "/items/a b/json")  # HEAD is served by GET
    assert (route.handler, params, route.template) == ("inspect", {"id": "a b"}, "/items/{id}/json")
    for method, path in (("GET", "/ping"), ("GET", "/items/a/json\n"), ("GET", "/items/a/jsonx")):
        with pytest.raises(HttpError) as refused:
            router.match(method, path)
        assert refused.value.status == 404
