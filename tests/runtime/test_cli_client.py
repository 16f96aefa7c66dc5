"""berth's daemon client: the HTTP/1.1 edges, reference splitting, tables, replay mapping.

The HTTP tests answer from a scripted unix-socket server so that each edge (chunk
extensions and trailers, a body until close, a kept-alive connection the server dropped)
is exercised deterministically; the whole client against berthd is tests/api/test_berth_cli_*.py.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.runtime.cli.client.frames import copy_frames
from berth.runtime.cli.client.http import DaemonClient, DaemonError, DaemonUnreachable, api_path
from berth.runtime.cli.client.render import human_duration, human_size, table
from berth.runtime.cli.client.replay import Command, InvalidCommandLog, Replay, read_commands
from berth.runtime.cli.images import split_reference


class ScriptedServer:
    """Answers each request on a connection with the next canned answer; records requests."""

    def __init__(self, path: Path, answers: list[list[bytes]]) -> None:
        self.path = path
        self.answers = answers  # per connection: the raw answers, one per request
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for script in self.answers:
            conn, _ = self.sock.accept()
            with conn:
                for answer in script:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        data += chunk
                    self.requests.append(data)
                    conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    servers: list[ScriptedServer] = []

    def start(*connections: list[bytes]) -> DaemonClient:
        server = ScriptedServer(tmp_path / "scripted.sock", list(connections))
        servers.append(server)
        client = DaemonClient(f"unix://{server.path}")
        client.scripted_server = server  # type: ignore[attr-defined]
        return client

    yield start
    for server in servers:
        server.close()


def test_chunked_body_with_extensions_and_trailers(serve: object) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6;ext=1\r\n[1, 2,\r\n3\r\n 3]\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    client = serve([answer, b"HTTP/1.1 204 No Content\r\n\r\n"])  # type: ignore[operator]
    assert client.call("GET", "/containers/json") == [1, 2, 3]
    # The connection went back to the pool and serves the next request.
    assert client.request("POST", "/containers/x/start").status == 204


def test_a_kept_alive_connection_the_server_closed_is_retried_once(serve: object) -> None:
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    client = serve([first], [b"HTTP/1.1 204 No Content\r\n\r\n"])  # type: ignore[operator]
    assert client.call("GET", "/info") == {}
    assert client.request("POST", "/containers/x/stop", {"t": 1}).status == 204


def test_body_until_close_and_error_messages(serve: object) -> None:
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 100_000
    error = b'HTTP/1.1 409 Conflict\r\nContent-Length: 20\r\n\r\n{"message": "taken"}'
    client = serve([until_close], [error])  # type: ignore[operator]
    assert client.request("GET", "/big").read() == b"x" * 100_000
    with pytest.raises(DaemonError) as raised:
        client.request("POST", "/containers/create", body={"Image": "busybox"})
    assert (raised.value.status, raised.value.message) == (409, "taken")


def test_requests_carry_docker_headers_and_json(serve: object) -> None:
    client = serve([b"HTTP/1.1 204 No Content\r\n\r\n"] * 2)  # type: ignore[operator]
    client.request("POST", "/containers/create", {"name": "web"}, body={"Image": "busybox"})
    client.request("POST", "/containers/web/start")
    server: ScriptedServer = client.scripted_server  # type: ignore[attr-defined]
    create, start = server.requests
    head, _, body = create.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1.41/containers/create?name=web HTTP/1.1"
    assert "Content-Type: application/json" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert json.loads(body) == {"Image": "busybox"}
    assert b"Content-Length: 0\r\n" in start  # a POST without a body, as docker's
    assert api_path("/containers/json", {"all": True, "limit": None}) == (
        "/v1.41/containers/json?all=1"
    )
    assert api_path("/events", {"filters": {"type": ["container"]}}) == (
        "/v1.41/events?filters=%7B%22type%22%3A+%5B%22container%22%5D%7D"
    )


def test_unreachable_socket(tmp_path: Path) -> None:
    client = DaemonClient(f"unix://{tmp_path}/none.sock")
    with pytest.raises(DaemonUnreachable) as raised:
        client.request("GET", "/_ping")
    assert str(raised.value) == (
        f"Cannot connect to the berth daemon at unix://{tmp_path}/none.sock. "
        "Is the berth daemon running?"
    )
    assert client.ping() is False
    with pytest.raises(ValueError, match="unix:///PATH"):
        DaemonClient("tcp://127.0.0.1:2375")


class Chunks:
    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        part = self.data[: min(size, self.step)]
        self.data = self.data[len(part) :]
        return part if len(part) == size or not self.data else part + self.read(size - len(part))


@given(
    st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=8),
    st.integers(1, 50),
)
def test_frames_come_back_on_their_streams(frames: list[tuple[int, bytes]], step: int) -> None:
    import io
    import struct

    raw = b"".join(struct.pack(">BxxxI", s, len(p)) + p for s, p in frames)
    out, err = io.BytesIO(), io.BytesIO()
    copy_frames(Chunks(raw, step), out, err)  # type: ignore[arg-type]
    assert out.getvalue() == b"".join(p for s, p in frames if s == 1)
    assert err.getvalue() == b"".join(p for s, p in frames if s == 2)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("busybox", ("busybox", "latest")),
        ("busybox:1.36", ("busybox", "1.36")),
        ("127.0.0.1:5055/library/busybox", ("127.0.0.1:5055/library/busybox", "latest")),
        ("127.0.0.1:5055/library/busybox:v1", ("127.0.0.1:5055/library/busybox", "v1")),
        ("busybox@sha256:" + "a" * 64, ("busybox", "sha256:" + "a" * 64)),
    ],
)
def test_split_reference_as_the_docker_cli_sends_it(
    reference: str, expected: tuple[str, str]
) -> None:
    assert split_reference(reference) == expected


def test_tables_sizes_and_durations_as_docker_prints_them() -> None:
    assert table(("A", "LONGER HEADER", "Z"), [("x", "y", "last")]).splitlines() == [
        "A         LONGER HEADER   Z",
        "x         y               last",
    ]
    assert [human_size(n) for n in (512, 2_004_992, 1_200)] == ["512B", "2MB", "1.2kB"]
    assert [human_duration(s) for s in (0.2, 1.5, 30, 90, 600, 5400, 7200 * 3)] == [
        "Less than a second",
        "1 second",
        "30 seconds",
        "About a minute",
        "10 minutes",
        "2 hours",  # go-units rounds hours: int(d.Hours() + 0.5)
        "6 hours",
    ]


def test_replay_maps_original_ids_to_the_new_ones(tmp_path: Path) -> None:
    old, other = "a" * 64, "b" * 64
    log = tmp_path / "log.jsonl"
    records = [
        {"position": 4, "method": "POST", "path": "/containers/create?name=w", "container": old},
        {"position": 5, "method": "post", "path": f"/containers/{old}/start", "container": old},
        {
            "position": 6,
            "method": "DELETE",
            "path": f"/v1.41/containers/{other}",
            "container": other,
        },
    ]
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    commands = list(read_commands(log))
    assert [c.method for c in commands] == ["POST", "POST", "DELETE"]
    plan = Replay(None)
    assert [plan.dry_run(c) for c in commands] == [
        "#4 POST /containers/create?name=w",
        "#5 POST /containers/<new:#4>/start",
        f"#6 DELETE /containers/{other}",
    ]
    replay = Replay(None)
    replay.ids[old] = "c" * 64
    start = Command(5, "POST", f"/containers/{old}/start?x={old}", None, old)
    assert replay.mapped(start) == f"/containers/{'c' * 64}/start?x={'c' * 64}"


@pytest.mark.parametrize(
    "line",
    [
        '{"path": "/x"}',
        '{"method": "POST", "path": "x"}',
        "not json",
        '{"method": "GET", "path": "/x", "container": 5}',
    ],
)
def test_replay_refuses_what_is_not_a_command(tmp_path: Path, line: str) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text(line + "\n")
    with pytest.raises(InvalidCommandLog, match="line 1"):
        list(read_commands(log))


def test_a_long_frame_is_copied_in_pieces() -> None:
    import io
    import struct

    from berth.runtime.cli.client.frames import PIECE

    payload = b"x" * (5 * PIECE + 3)
    source = io.BytesIO(struct.pack(">BxxxI", 1, len(payload)) + payload)
    asked: list[int] = []
    real_read = source.read

    def read(size: int = -1) -> bytes:
        asked.append(size)
        return real_read(size)

    out, err = io.BytesIO(), io.BytesIO()
    copy_frames(type("Source", (), {"read": staticmethod(read)})(), out, err)  # type: ignore[arg-type]
    assert out.getvalue() == payload and err.getvalue() == b""
    assert 0 < max(asked) <= PIECE
