"""Arbitrary request targets and header values: each is answered, never with a 5xx, and
what the core hands the handler is what the client meant."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import h11
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .site import TestSite, echo, read_to_end, served

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
# Any byte a request line or a header line may be made of, save the line ending itself.
LINE_BYTES = st.binary(max_size=60).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))


def echo_site() -> TestSite:
    site = TestSite()
    site.router.add("GET", "/(?P<rest>(?s:.*))", echo)
    return site


async def answer_to(head: bytes) -> tuple[int, bytes]:
    """The status and body of the one answer to `head`, a request without a body."""
    async with served(echo_site()) as serving:
        stream = await serving.connect()
        await stream.send_all(head + b"Connection: close\r\n\r\n")
        with trio.fail_after(10):  # a hang guard, not a measure
            received = await read_to_end(stream)
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(received)
    response = client.next_event()
    assert isinstance(response, h11.Response), received[:200]
    body = b""
    while isinstance(event := client.next_event(), h11.Data):
        body += event.data
    return response.status_code, body


@FAST
@given(
    path=st.lists(st.text(max_size=12), max_size=4),
    query=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
async def test_a_quoted_path_and_query_reach_the_handler_as_sent(
    path: list[str], query: dict[str, str]
) -> None:
    plain = "/" + "/".join(path)
    target = quote(plain, safe="/") + ("?" + urlencode(query) if query else "")
    status, body = await answer_to(f"GET {target} HTTP/1.1\r\nHost: x\r\n".encode())
    assert status == 200, body
    seen = json.loads(body)
    assert seen["path"] == plain
    assert seen["query"] == query


@FAST
@given(target=LINE_BYTES)
async def test_any_target_is_answered_without_a_server_error(target: bytes) -> None:
    status, _ = await answer_to(b"GET /" + target + b" HTTP/1.1\r\nHost: x\r\n")
    assert status in (200, 400)


@FAST
@given(value=LINE_BYTES)
async def test_a_header_value_reaches_the_handler_or_is_400(value: bytes) -> None:
    status, body = await answer_to(b"GET / HTTP/1.1\r\nHost: x\r\nX-Value: " + value + b"\r\n")
    if status == 400:
        return
    assert status == 200
    assert json.loads(body)["headers"]["x-value"] == value.strip(b" \t").decode("latin-1")
